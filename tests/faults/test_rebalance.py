"""Rebalance under load: two instances, a third joins, one leaves (SIGTERM), one is killed (SIGKILL).

The instances share one consumer group and one Redis dedupe store (as in production, so a
story and its resend on different partitions are judged against the same state). Every
membership change moves partitions between processes; the checker then holds every input
item to one fate, and counts the identical redeliveries the kill is allowed to cause.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from service.topics import create_topics
from tests.conftest import Broker

from .checker import check
from .corpus import make_inputs
from .harness import Feeder, OutputTail, ServiceProcess, fault_config, record_figures, settings_of

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/0"
ITEMS = 4000  # at most: the stream is stopped once the third membership change is over
RATE = 30.0  # items per second
PARTITIONS = 6


async def _back(tail: OutputTail, feeder: Feeder, since: float) -> float:
    """Seconds from `since` until every raw partition produced output again (or all work was done)."""
    partitions = range(PARTITIONS)
    await tail.wait_until(
        lambda t: (
            t.every_partition_produced_after(since, partitions) is not None
            or (feeder.done.is_set() and len(t.sources) >= feeder.sent)
        ),
        within=120,
    )
    back = tail.every_partition_produced_after(since, partitions)
    return round((back or time.time()) - since, 2)


async def test_join_leave_and_kill_under_load_lose_and_double_nothing(
    kafka: Broker, unique: str, tmp_path: Path
) -> None:
    """Join, graceful leave and SIGKILL mid-stream: every item ends once; only identical redeliveries."""
    prefix = f"wire-ingest-rebalance-{unique}:"
    data = fault_config(
        kafka.bootstrap_servers,
        unique,
        tmp_path,
        topics={"partitions": PARTITIONS},
        dedupe={"backend": "redis", "redis_url": REDIS_URL, "redis_key_prefix": prefix},
    )
    settings = settings_of(data)
    await create_topics(settings)
    items = make_inputs(unique, ITEMS, seed=23)
    feeder = Feeder(settings, items, rate=RATE)
    first, second, third = (ServiceProcess(data, tmp_path / f"service-{name}.log") for name in "abc")
    recovery: dict[str, float] = {}
    processed_at: dict[str, int] = {}
    async with OutputTail(settings, settings.topics.outputs()) as tail:
        first.start()
        second.start()
        try:
            # The stream starts once both hold partitions: it must outlast the membership
            # changes below, not the time two processes take to start.
            for service in (first, second):
                await service.wait_for_log("partitions_assigned", within=120)
            feeding = asyncio.create_task(feeder.run())
            await tail.wait_until(lambda t: len(t.sources) >= 100, within=120)

            processed_at["join"] = len(tail.sources)
            joined = time.time()
            third.start()
            # The old owners keep producing until they give partitions up, so the join's
            # recovery counts from the new assignment, not from the start of the process.
            assigned = await third.wait_for_log("partitions_assigned", within=60)
            assigned_at = datetime.fromisoformat(assigned["timestamp"]).timestamp()
            rebalance_seconds = round(assigned_at - joined, 2)
            recovery["join"] = await _back(tail, feeder, assigned_at)

            processed_at["leave"] = len(tail.sources)
            left = time.time()
            assert first.terminate() == 0
            recovery["leave"] = await _back(tail, feeder, left)

            processed_at["kill"] = len(tail.sources)
            assert not feeder.done.is_set(), "the stream ended before the kill: raise ITEMS or lower RATE"
            killed = time.time()
            second.kill()
            recovery["kill"] = await _back(tail, feeder, killed)

            feeder.stop()
            await feeding
            await tail.wait_until(lambda t: len(t.sources) >= feeder.sent, within=180)
            assert third.terminate() == 0
        finally:
            for service in (first, second, third):
                service.kill()
            feeding.cancel()

    report = await check(settings, feeder.items_sent)
    assignments = {
        name: sum(1 for e in service.log_events() if e.get("event") == "partitions_assigned")
        for name, service in zip("abc", (first, second, third), strict=True)
    }
    record_figures(
        "rebalance",
        {
            **report.summary(),
            "processed_before": processed_at,
            "join_seconds_start_to_assignment": rebalance_seconds,
            "recovery_seconds_every_partition_back": recovery,
            "assignments_per_instance": assignments,
            "duplicates_redelivered": report.duplicates,
            "peak_rss_mb": round(max(s.peak_rss for s in (first, second, third)) / 2**20, 1),
        },
    )
    client = aioredis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()

    assert report.problems(allow_redeliveries=True) == []
    assert report.inputs == feeder.sent
    # The third instance took part: it was assigned partitions at the join and again after each change.
    assert assignments["c"] >= 3
