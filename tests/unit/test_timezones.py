"""Zone-less timestamps: read in the source's configured zone (DST-correct) or as UTC, always flagged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from service.dates import parse_date
from service.dedupe import open_deduplicator
from service.models import ParsedItem, RecordMeta, WireFormat
from service.normalize import normalize
from service.observability import Metrics
from service.pipeline import Pipeline
from service.settings import Settings

HELSINKI = ZoneInfo("Europe/Helsinki")
AUCKLAND = ZoneInfo("Pacific/Auckland")
RECORD = RecordMeta(topic="wire.raw", partition=0, offset=0, timestamp=datetime(2024, 6, 10, 12, tzinfo=UTC))

# A NewsML-G2 item written for this test in the shape STT sends: provider literal, local
# times without an offset (Helsinki is UTC+3 in June).
STT_LIKE_G2 = b"""<?xml version="1.0" encoding="UTF-8"?>
<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="urn:newsml:example.fi:20240610:1" version="2"
  standard="NewsML-G2" standardversion="2.25" xml:lang="fi">
  <itemMeta>
    <itemClass qcode="ninat:text"/>
    <provider literal="STT"/>
    <versionCreated>2024-06-10T10:15:00</versionCreated>
    <firstCreated>2024-06-10T09:30:00</firstCreated>
    <pubStatus qcode="stat:usable"/>
  </itemMeta>
  <contentMeta><headline>Harbour ferry timetable changes for the summer</headline></contentMeta>
  <contentSet>
    <inlineXML contenttype="application/xhtml+xml">
      <html xmlns="http://www.w3.org/1999/xhtml"><body>
        <p>The harbour ferries run every twenty minutes from Monday until the end of August.</p>
        <p>Night departures stay as they were.</p>
      </body></html>
    </inlineXML>
  </contentSet>
</newsItem>
"""


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("2018-01-01T12:00:00", HELSINKI, "2018-01-01T10:00:00+00:00"),  # winter: EET, UTC+2
        ("2018-08-01T12:00:00", HELSINKI, "2018-08-01T09:00:00+00:00"),  # summer: EEST, UTC+3
        ("2016-01-12 12:35:40", AUCKLAND, "2016-01-11T23:35:40+00:00"),  # NZ summer: NZDT, UTC+13
        ("2016-07-12 12:35:40", AUCKLAND, "2016-07-12T00:35:40+00:00"),  # NZ winter: NZST, UTC+12
        ("March 4, 2024 06:00", HELSINKI, "2024-03-04T04:00:00+00:00"),  # prose form
        ("Tue, 06 Aug 2024 12:00:00 -0000", HELSINKI, "2024-08-06T09:00:00+00:00"),  # RFC 822 "no zone"
        ("2024-06-10", HELSINKI, "2024-06-09T21:00:00+00:00"),  # date only: local midnight
        # 03:30 happens twice on 2018-10-28 in Helsinki: the first one (EEST) is taken.
        ("2018-10-28T03:30:00", HELSINKI, "2018-10-28T00:30:00+00:00"),
    ],
)
def test_a_zone_less_time_is_read_in_the_given_zone(text: str, zone: ZoneInfo, expected: str) -> None:
    parsed = parse_date(text, zone=zone)
    assert parsed is not None
    assert parsed.value.isoformat() == expected
    assert (parsed.assumed_zone, parsed.assumed_utc) == (True, False)


def test_a_written_offset_wins_over_the_zone_and_no_zone_means_utc() -> None:
    offset = parse_date("2018-08-01T12:00:00+02:00", zone=HELSINKI)
    assert offset is not None
    assert offset.value.isoformat() == "2018-08-01T10:00:00+00:00"
    assert (offset.assumed_zone, offset.assumed_utc) == (False, False)
    naive = parse_date("2018-08-01T12:00:00")
    assert naive is not None
    assert naive.value.isoformat() == "2018-08-01T12:00:00+00:00"
    assert (naive.assumed_zone, naive.assumed_utc) == (False, True)


def _item(**dates: str) -> ParsedItem:
    return ParsedItem(format=WireFormat.NEWSML_G2, item_id="x-1", source="STT", headline="Ferries", **dates)


def test_normalize_reads_both_timestamps_in_the_zone_and_flags_it() -> None:
    item = _item(firstcreated="2024-01-15T08:00:00", versioncreated="2024-01-15T09:00:00+02:00")
    article = normalize(item, RECORD, raw_sha256="0", zone=HELSINKI)
    assert article.firstcreated.isoformat() == "2024-01-15T06:00:00+00:00"
    assert article.versioncreated.isoformat() == "2024-01-15T07:00:00+00:00"
    assert article.date_flags == ("firstcreated_zone_from_settings:Europe/Helsinki",)


def test_normalize_without_a_zone_keeps_utc_and_says_so() -> None:
    item = _item(firstcreated="2024-01-15T08:00:00", versioncreated="2024-01-15T08:30:00")
    article = normalize(item, RECORD, raw_sha256="0")
    assert article.firstcreated.isoformat() == "2024-01-15T08:00:00+00:00"
    assert article.date_flags == ("versioncreated_assumed_utc", "firstcreated_assumed_utc")


def test_versioncreated_from_page_dates_is_flagged_too() -> None:
    item = ParsedItem(format=WireFormat.HTML_PAGE, headline="Ferries", page_dates=("2024-06-10 09:00",))
    article = normalize(item, RECORD, raw_sha256="0", zone=HELSINKI)
    assert article.versioncreated.isoformat() == "2024-06-10T06:00:00+00:00"
    assert "versioncreated_zone_from_settings:Europe/Helsinki" in article.date_flags


def test_firstcreated_after_versioncreated_is_kept_and_flagged() -> None:
    item = _item(firstcreated="2017-12-19T10:33:04+02:00", versioncreated="2017-10-18T11:16:43+02:00")
    article = normalize(item, RECORD, raw_sha256="0")
    assert article.firstcreated.isoformat() == "2017-12-19T08:33:04+00:00"
    assert article.versioncreated.isoformat() == "2017-10-18T09:16:43+00:00"
    assert article.date_flags == ("firstcreated_after_versioncreated",)


@pytest.mark.parametrize("zone", ["Europe/Helsingfors", "EET+2", "../etc/passwd", ""])
def test_an_unknown_zone_is_a_settings_error(zone: str) -> None:
    with pytest.raises(ValidationError, match="time zone"):
        Settings.model_validate({"pipeline": {"timezone_by_source": {"STT": zone}}})


def test_zones_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIRE_INGEST_PIPELINE__TIMEZONE_BY_SOURCE", '{"STT": "Europe/Helsinki"}')
    assert Settings().pipeline.timezone_by_source == {"STT": "Europe/Helsinki"}


async def _canonical(settings: Settings, record: RecordMeta) -> dict[str, object]:
    pipeline = Pipeline(
        settings, await open_deduplicator(settings.dedupe), None, Metrics(CollectorRegistry())
    )
    result = await pipeline.process_raw(STT_LIKE_G2, record)
    [event] = [orjson.loads(m.value) for m in result.outbound if m.topic == settings.topics.canonical]
    assert isinstance(event, dict)
    return event


async def test_pipeline_reads_an_stt_like_item_in_helsinki_time() -> None:
    """Matched on the item's own source (the G2 provider): 09:30 Helsinki in June is 06:30 UTC."""
    settings = Settings.model_validate(
        {
            "dedupe": {"backend": "memory"},
            "pipeline": {"stage": "ingest", "timezone_by_source": {"STT": "Europe/Helsinki"}},
        }
    )
    event = await _canonical(settings, RECORD)
    assert (event["firstcreated"], event["versioncreated"]) == (
        "2024-06-10T06:30:00Z",
        "2024-06-10T07:15:00Z",
    )
    assert event["date_flags"] == [
        "versioncreated_zone_from_settings:Europe/Helsinki",
        "firstcreated_zone_from_settings:Europe/Helsinki",
    ]


async def test_the_record_source_header_takes_precedence() -> None:
    settings = Settings.model_validate(
        {
            "dedupe": {"backend": "memory"},
            "pipeline": {
                "stage": "ingest",
                "timezone_by_source": {"STT": "Europe/Helsinki", "nz-feed": "Pacific/Auckland"},
            },
        }
    )
    record = RECORD.model_copy(update={"headers": (("source", b"nz-feed"),)})
    event = await _canonical(settings, record)
    assert event["firstcreated"] == "2024-06-09T21:30:00Z"  # 09:30 NZST (UTC+12)


def test_wire_ingest_process_takes_the_zone_from_the_environment(tmp_path: Path) -> None:
    item = tmp_path / "stt.xml"
    item.write_bytes(STT_LIKE_G2)
    env = dict(os.environ, WIRE_INGEST_PIPELINE__TIMEZONE_BY_SOURCE='{"STT": "Europe/Helsinki"}')
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "process", str(item)], capture_output=True, check=False, env=env
    )
    assert done.returncode == 0, done.stderr.decode()
    [canonical] = [
        line for line in map(json.loads, done.stdout.splitlines()) if line["topic"] == "articles.canonical"
    ]
    assert canonical["value"]["firstcreated"] == "2024-06-10T06:30:00Z"
