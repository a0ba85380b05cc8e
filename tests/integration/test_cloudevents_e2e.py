"""On a real broker: a consumer turns every message on the output topics into a CloudEvent."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event

from service.route import CE_SOURCE_ENRICH, CE_SOURCE_INGEST, CE_TYPES
from tests.conftest import SAMPLES, Broker
from tests.integration.kafka_helpers import create, produce, read_all, run_once, settings_for

pytestmark = pytest.mark.integration

SEED = SAMPLES / "xinhua_xi_aliyev_samarkand.txt"
REPRINT = SAMPLES / "xinhua_xi_aliyev_samarkand_reprint.ninjs.json"
BAD = b"<?xml version='1.0'?><newsItem><contentMeta><headline>cut off"


def _cloud_event(record: Any) -> Any:
    """What a downstream consumer does with the SDK's Kafka binding: headers, key and value in."""
    names = [name for name, _ in record.headers]
    assert len(names) == len(set(names)), f"repeated headers: {names}"
    return from_binary_event(KafkaMessage(dict(record.headers), record.key, record.value))


async def test_every_output_message_is_a_binary_mode_cloud_event(
    kafka: Broker, unique: str, tmp_path: Path
) -> None:
    """Canonical, duplicate, enriched and dead-letter records read back as CloudEvents with their ids."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path)
    await create(settings)
    await produce(settings, [SEED.read_bytes(), REPRINT.read_bytes(), BAD], partition=0)
    await run_once(settings, 3)

    topics = settings.topics
    expected = {
        topics.canonical: (1, CE_TYPES["canonical"], CE_SOURCE_INGEST),
        topics.duplicates: (1, CE_TYPES["duplicate"], CE_SOURCE_INGEST),
        topics.enriched: (1, CE_TYPES["enriched"], CE_SOURCE_ENRICH),
    }
    for topic, (count, ce_type, ce_source) in expected.items():
        records = await read_all(settings, topic, expected=count)
        assert len(records) == count
        for record in records:
            event = _cloud_event(record)
            value = orjson.loads(record.value)
            assert (event.get_type(), event.get_source()) == (ce_type, ce_source)
            assert event.get_id() == value["event_id"]
            assert event.get_subject() == value["story_id"] == record.key.decode()
            assert event.get_time() == datetime.fromisoformat(value["versioncreated"])
            assert event.get_data() == value

    [letter] = await read_all(settings, topics.dlq, expected=1)
    event = _cloud_event(letter)
    value = orjson.loads(letter.value)
    assert event.get_type() == CE_TYPES["dead_letter"]
    assert event.get_id() == event.get_subject() == f"{topics.raw}/0/2"
    assert event.get_time() == datetime.fromisoformat(value["source_timestamp"])
    assert event.get_data()["reason"] == "malformed_xml"
