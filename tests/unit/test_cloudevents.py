"""Every output message is a CloudEvent in the Kafka binding's binary mode, read with the SDK."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import orjson
import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event

from service.models import SCHEMA_VERSION
from service.process import process_files
from service.route import CE_SOURCE_ENRICH, CE_SOURCE_INGEST, CE_TYPES
from service.settings import Settings
from tests.conftest import SAMPLES

SEED = SAMPLES / "xinhua_xi_aliyev_samarkand.txt"
REPRINT = SAMPLES / "xinhua_xi_aliyev_samarkand_reprint.ninjs.json"
MALFORMED = SAMPLES / "11_malformed_truncated.newsml_g2.xml"
FEED = SAMPLES / "05_sco_feed.rss.xml"


async def _messages(*paths: str) -> list[dict[str, Any]]:
    """What `wire-ingest process` would publish: topic, key, headers (as bytes), value bytes."""
    out = io.BytesIO()
    await process_files(list(paths), Settings(), out)
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    return [
        {
            "topic": line["topic"],
            "key": line["key"].encode() if line["key"] is not None else None,
            "headers": {name: value.encode() for name, value in line["headers"].items()},
            "value": orjson.dumps(line["value"]),
        }
        for line in lines
    ]


def _cloud_event(message: dict[str, Any]) -> Any:
    return from_binary_event(KafkaMessage(message["headers"], message["key"], message["value"]))


def _rfc3339(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_articles_are_cloud_events_with_the_event_and_story_ids() -> None:
    """Canonical, enriched and duplicate events: id = event_id, subject = story_id, time = versioncreated."""
    messages = await _messages(str(SEED), str(REPRINT), str(FEED))
    articles = [m for m in messages if m["topic"] != "wire.dlq"]
    assert {m["topic"] for m in articles} == {
        "articles.canonical",
        "articles.enriched",
        "articles.duplicates",
    }
    expected = {
        "articles.canonical": (CE_TYPES["canonical"], CE_SOURCE_INGEST),
        "articles.duplicates": (CE_TYPES["duplicate"], CE_SOURCE_INGEST),
        "articles.enriched": (CE_TYPES["enriched"], CE_SOURCE_ENRICH),
    }
    for message in articles:
        event = _cloud_event(message)
        value = orjson.loads(message["value"])
        assert event.get_specversion() == "1.0"
        assert event.get_id() == value["event_id"]
        assert (event.get_type(), event.get_source()) == expected[message["topic"]]
        assert event.get_subject() == value["story_id"]
        assert event.get_time() == _rfc3339(value["versioncreated"])
        assert event.get_datacontenttype() == "application/json"
        assert event.get_data() == value
        assert event.get_extension("partitionkey") == value["story_id"]


async def test_source_and_id_identify_one_event() -> None:
    """No two messages share (ce_source, ce_id): canonical and enriched share an event_id, not a source."""
    messages = await _messages(str(SEED), str(REPRINT), str(FEED), str(MALFORMED))
    pairs = [(m["headers"]["ce_source"], m["headers"]["ce_id"]) for m in messages]
    assert len(pairs) == len(set(pairs)) == len(messages)


async def test_dead_letter_is_a_cloud_event_about_the_raw_record() -> None:
    """A dead letter's id and subject are the raw record's coordinates; its data is the letter."""
    (message,) = await _messages(str(MALFORMED))
    assert message["topic"] == "wire.dlq"
    event = _cloud_event(message)
    letter = orjson.loads(message["value"])
    coordinates = f"{letter['source_topic']}/{letter['source_partition']}/{letter['source_offset']}"
    assert event.get_type() == CE_TYPES["dead_letter"]
    assert event.get_source() == CE_SOURCE_INGEST
    assert event.get_subject() == coordinates
    assert event.get_id() == coordinates
    assert event.get_time() == _rfc3339(letter["source_timestamp"])
    assert event.get_data() == letter


async def test_existing_headers_stay() -> None:
    """The headers consumers already filter on are still there beside the ce_* ones."""
    canonical = (await _messages(str(SEED)))[0]
    headers = canonical["headers"]
    assert headers["event-type"] == b"canonical"
    assert headers["event-id"] == headers["ce_id"]
    assert headers["schema-version"] == SCHEMA_VERSION.encode()
    assert headers["content-type"] == b"application/json"


@pytest.mark.parametrize("kind", ["canonical", "duplicate", "enriched", "dead_letter"])
def test_types_are_versioned_with_the_schema_major(kind: str) -> None:
    """A major schema bump changes every ce_type, so a trigger never gets a shape it does not know."""
    assert CE_TYPES[kind].startswith("wire-ingest.")
    assert CE_TYPES[kind].endswith(".v1")
