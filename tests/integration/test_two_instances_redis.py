"""Two service instances, one consumer group, shared Redis dedupe state, a real broker.

Each instance owns different partitions, so a story and its reprint (or the same item
sent twice) arriving on different partitions are judged by different processes: only
the shared store can see that the second copy is not new.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis

from tests.conftest import SAMPLES, Broker
from tests.integration.kafka_helpers import create, produce, read_all, settings_for, start_instances

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/0"
SEED = SAMPLES / "xinhua_xi_aliyev_samarkand.txt"
REPRINT = SAMPLES / "xinhua_xi_aliyev_samarkand_reprint.ninjs.json"
XI_PUTIN = SAMPLES / "01_xi_putin_samarkand.newsml_g2.xml"


async def test_reprint_and_resend_across_instances_are_caught_by_the_shared_store(
    kafka: Broker, unique: str, tmp_path: Path
) -> None:
    """Story on one instance, reprint and resend on the other: one new story, two duplicates."""
    prefix = f"wire-ingest-test-{unique}:"
    settings = settings_for(
        kafka.bootstrap_servers,
        unique,
        tmp_path,
        dedupe={"backend": "redis", "redis_url": REDIS_URL, "redis_key_prefix": prefix},
    )
    await create(settings)
    stop = asyncio.Event()
    tasks, healths = await start_instances(settings, stop)
    try:
        # One instance owns one partition, the other two: partitions 0, 1 and 2 are never
        # all judged by the same process.
        assert sorted(h.assigned_partitions for h in healths) == [1, 2]
        await produce(settings, [SEED.read_bytes(), XI_PUTIN.read_bytes()], partition=0)
        first = await read_all(settings, settings.topics.canonical, expected=2)
        assert len(first) == 2
        for partition in (1, 2):
            await produce(settings, [REPRINT.read_bytes(), SEED.read_bytes()], partition=partition)
        duplicates = await read_all(settings, settings.topics.duplicates, expected=4)
    finally:
        stop.set()
        summaries = await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
        client = aioredis.from_url(REDIS_URL)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()

    assert all(summary.records > 0 for summary in summaries), "both instances must have worked"
    canonical = [
        orjson.loads(record.value) for record in await read_all(settings, settings.topics.canonical, 2)
    ]
    assert sorted(event["headline"] for event in canonical) == sorted(
        [
            "Xi meets with Azerbaijani President Aliyev",
            "Xi meets Putin on sidelines of SCO summit in Samarkand",
        ]
    )
    seed_event = next(e for e in canonical if e["headline"].startswith("Xi meets with"))
    events = [orjson.loads(record.value) for record in duplicates]
    # Whichever reprint copy is judged first is the near-duplicate of the seed story; the
    # other copy is a redelivery of that reprint; both resends of the seed are redeliveries.
    assert sorted(event["dedupe"]["relation"] for event in events) == [
        "near_duplicate",
        "redelivery",
        "redelivery",
        "redelivery",
    ]
    assert {event["story_id"] for event in events} == {seed_event["story_id"]}
    [reprint] = [event for event in events if event["dedupe"]["relation"] == "near_duplicate"]
    assert reprint["duplicate_of"] == seed_event["event_id"]
    for event in events:
        expected = reprint["event_id"] if event["event_id"] == reprint["event_id"] else seed_event["event_id"]
        if event is not reprint:
            assert event["dedupe"]["matched_event_id"] == expected
