"""Every output message is a CloudEvent in the Kafka binding's binary mode, read with the SDK."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event
from hypothesis import given
from hypothesis import strategies as st

from service.models import SCHEMA_VERSION, CanonicalArticle, RecordMeta
from service.prepare import Preparer
from service.process import process_files
from service.route import CE_SOURCE_ENRICH, CE_SOURCE_INGEST, CE_TYPES, CloudEvent, _article_headers, _headers
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


def _sample_article() -> CanonicalArticle:
    settings = Settings()
    meta = RecordMeta(topic="wire.raw", partition=0, offset=0)
    return Preparer(settings, None).prepare_raw(SEED.read_bytes(), meta).items[0].article


_ARTICLE = _sample_article()


@given(
    kind=st.sampled_from(["canonical", "duplicate", "enriched"]),
    ce_source=st.sampled_from([CE_SOURCE_INGEST, CE_SOURCE_ENRICH, "/elsewhere"]),
    event_id=st.one_of(st.just(_ARTICLE.event_id), st.text()),
    source=st.one_of(st.just(_ARTICLE.source), st.text()),
    story_id=st.one_of(st.just(_ARTICLE.story_id), st.text()),
    created=st.datetimes(timezones=st.just(UTC)),
)
def test_article_headers_are_those_of_the_articles_cloud_event(
    kind: str, ce_source: str, *, event_id: str, source: str, story_id: str, created: datetime
) -> None:
    """The headers built in one go for article messages are what `_headers` gives for the article's
    CloudEvent: same names, values, order; empty IDs left out, unencodable text replaced."""
    article = _ARTICLE.model_copy(
        update={"event_id": event_id, "source": source, "story_id": story_id, "versioncreated": created}
    )
    cloud_event = CloudEvent(id=event_id, source=ce_source, time=created, subject=story_id)
    try:
        expected = _headers(kind, cloud_event, event_id, source)
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            _article_headers(kind, article, ce_source)
        return
    assert _article_headers(kind, article, ce_source) == expected
