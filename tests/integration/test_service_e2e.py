"""End to end on a real broker: raw wire items in, canonical/enriched/dead-letter messages out."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from service.models import EnrichedArticle
from service.observability import Health
from tests.conftest import SAMPLES, Broker
from tests.integration.kafka_helpers import create, produce, read_all, run_once, settings_for, start_instances

pytestmark = pytest.mark.integration

SEED = SAMPLES / "xinhua_xi_aliyev_samarkand.txt"
XI_JINPING = "Q15031"
ILHAM_ALIYEV = "Q57371"


async def test_seed_story_comes_out_enriched(kafka: Broker, unique: str, tmp_path: Path) -> None:
    """The seed story produced to the raw topic appears on the enriched topic with countries and leaders."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path)
    await create(settings)
    await produce(settings, [SEED.read_bytes()])
    summary = await run_once(settings, 1)
    assert summary.records == 1

    [record] = await read_all(settings, settings.topics.enriched, expected=1)
    event = EnrichedArticle.model_validate_json(record.value)
    assert event.headline == "Xi meets with Azerbaijani President Aliyev"
    assert {"CN", "AZ", "UZ"} <= {country.alpha2 for country in event.countries}
    assert {XI_JINPING, ILHAM_ALIYEV} <= {leader.wikidata_id for leader in event.leaders}
    assert record.key == event.story_id.encode()
    headers = dict(record.headers)
    assert headers["schema-version"] == event.schema_version.encode()
    assert headers["content-type"] == b"application/json"
    canonical = await read_all(settings, settings.topics.canonical, expected=1)
    assert len(canonical) == 1
    assert orjson.loads(canonical[0].value)["event_id"] == event.event_id


async def test_bad_record_goes_to_dead_letter_and_next_gets_through(
    kafka: Broker, unique: str, tmp_path: Path
) -> None:
    """An unparseable record lands on the DLQ with its reason and bytes; the next good one is published."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path)
    await create(settings)
    bad = b"<?xml version='1.0'?><newsItem><contentMeta><headline>cut off"
    # One partition, bad first: the good record behind it must not be stalled.
    await produce(settings, [bad, SEED.read_bytes()], partition=0)
    await run_once(settings, 2)

    [letter] = await read_all(settings, settings.topics.dlq, expected=1)
    value = orjson.loads(letter.value)
    assert value["reason"] == "malformed_xml"
    assert value["source_topic"] == settings.topics.raw
    assert (value["source_partition"], value["source_offset"]) == (0, 0)
    import base64

    assert base64.b64decode(value["raw_base64"]) == bad
    assert dict(letter.headers)["dlq-reason"] == b"malformed_xml"
    enriched = await read_all(settings, settings.topics.enriched, expected=1)
    assert [orjson.loads(r.value)["headline"] for r in enriched] == [
        "Xi meets with Azerbaijani President Aliyev"
    ]


async def test_restart_resumes_from_committed_offsets(kafka: Broker, unique: str, tmp_path: Path) -> None:
    """Stopping and starting the service again republishes nothing and picks up only new records."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path)
    await create(settings)
    samples = sorted(p for p in SAMPLES.iterdir() if p.is_file())
    first, second = samples[:3], samples[3:5]
    await produce(settings, [p.read_bytes() for p in first])
    first_run = await run_once(settings, len(first))
    assert first_run.records == len(first)
    outputs_after_first = 0
    for topic in settings.topics.outputs():
        outputs_after_first += len(await read_all(settings, topic, expected=1, max_polls=5))

    await produce(settings, [p.read_bytes() for p in second])
    second_run = await run_once(settings, len(second))
    # Exactly the new records were consumed: nothing before the committed offsets came back.
    assert second_run.records == len(second)
    raw_offsets = set()
    for topic in settings.topics.outputs():
        for record in await read_all(settings, topic, expected=1, max_polls=5):
            value = orjson.loads(record.value)
            lineage = value.get("lineage") or {
                "partition": value["source_partition"],
                "offset": value["source_offset"],
                "item_index": value.get("item_index") or 0,
            }
            raw_offsets.add((topic, lineage["partition"], lineage["offset"], lineage.get("item_index", 0)))
    total = len(raw_offsets)
    assert total > outputs_after_first
    # No output message appears twice (same topic, same raw record, same item).
    all_records = []
    for topic in settings.topics.outputs():
        all_records.extend(await read_all(settings, topic, expected=1, max_polls=5))
    assert len(all_records) == total


async def test_two_instances_split_partitions(kafka: Broker, unique: str, tmp_path: Path) -> None:
    """Two instances in one consumer group share the partitions and each record is processed once."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path, dedupe={"backend": "memory"})
    await create(settings)
    stop = asyncio.Event()
    runs, healths = await start_instances(settings, stop)
    assert sorted(h.assigned_partitions for h in healths) == [1, 2]

    items = [_distinct_item(i) for i in range(30)]
    await produce(settings, items)
    canonical = await read_all(settings, settings.topics.canonical, expected=len(items))
    stop.set()
    summaries = await asyncio.wait_for(asyncio.gather(*runs), timeout=60)

    assert sum(s.records for s in summaries) == len(items)
    assert all(s.records > 0 for s in summaries)
    event_ids = [orjson.loads(r.value)["event_id"] for r in canonical]
    assert len(event_ids) == len(items) == len(set(event_ids))


def _distinct_item(index: int) -> bytes:
    """A small ninjs item whose text differs enough from the others not to be a near-duplicate."""
    words = " ".join(f"w{index}x{n}" for n in range(60))
    return orjson.dumps(
        {
            "uri": f"urn:test:item:{index}",
            "version": "1",
            "versioncreated": "2024-05-01T10:00:00Z",
            "headline": f"Test item {index} about topic {index * 7919 % 1000}",
            "body_text": f"Paragraph for item {index}. {words}",
            "language": "en",
            "infosources": [{"name": "Test Agency"}],
        }
    )


async def test_not_ready_until_its_workers_are_up(kafka: Broker, unique: str, tmp_path: Path) -> None:
    """/readyz (Health.is_ready) stays down while the workers start, even with partitions assigned,
    and comes up once they are: a readiness probe never routes work to a service that would queue it."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path, pipeline={"workers": 1})
    await create(settings)
    health = Health()
    seen: list[tuple[bool, bool]] = []  # (partitions assigned, workers ready), each time it changed

    async def watch() -> None:
        while True:
            state = (health.assigned_partitions > 0, health.workers_ready)
            if not seen or seen[-1] != state:
                seen.append(state)
            await asyncio.sleep(0.005)

    watcher = asyncio.ensure_future(watch())
    try:
        await produce(settings, [SEED.read_bytes()])
        summary = await run_once(settings, 1, health)
    finally:
        watcher.cancel()
    assert summary.records == 1
    assert any(not ready for _, ready in seen), "workers_ready was never down while the pool started"
    assert seen[-1][1] is True
