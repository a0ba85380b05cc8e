"""Consumer lag as operators read it: `wire_ingest_consumer_lag_records` per partition.

The gauge is what the lag alerts and the dashboard watch, so it must show a backlog also
on a partition this instance took over and has not yet committed on: a restart into a
dedupe-store outage, or a first round that never gets through. The store outage here is a
SQLite file locked by another connection (as a replay tool would hold it).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from service.app import run_service
from service.observability import Health, Metrics
from tests.conftest import Broker
from tests.faults.corpus import _ninjs
from tests.integration.kafka_helpers import create, produce, settings_for

pytestmark = pytest.mark.integration

RECORDS = 5


async def _until(condition: Callable[[], bool], what: str, within: float = 60.0) -> None:
    for _ in range(int(within / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{what}: not within {within:.0f} s")


async def test_a_partition_held_since_it_was_assigned_shows_its_backlog(
    kafka: Broker, unique: str, tmp_path: Path
) -> None:
    """Records wait behind a locked dedupe store from the first one on: the lag gauge counts
    them (before, it stayed absent until the instance's first commit); once the lock goes, 0."""
    settings = settings_for(
        kafka.bootstrap_servers,
        unique,
        tmp_path,
        dedupe={"sqlite_busy_timeout_seconds": 0.3},
        observability={"lag_refresh_seconds": 0.2},
        pipeline={"workers": 0},
    )
    await create(settings)
    metrics, health, stop = Metrics(CollectorRegistry()), Health(), asyncio.Event()
    service = asyncio.create_task(
        run_service(
            settings,
            stop=stop,
            metrics=metrics,
            health=health,
            serve_http=False,
            install_signal_handlers=False,
        )
    )

    def lag() -> float | None:
        labels = {"topic": settings.topics.raw, "partition": "0"}
        return metrics.registry.get_sample_value("wire_ingest_consumer_lag_records", labels)

    locker = sqlite3.connect(settings.dedupe.sqlite_path, isolation_level=None)
    try:
        await _until(lambda: health.assigned_partitions == settings.topics.partitions, "assignment")
        locker.execute("BEGIN IMMEDIATE")  # the store is out from before the first record
        items = [
            _ninjs(f"urn:lag:{unique}:{n}", f"Story {n} of {unique}", f"Body {n} of the story.", n)
            for n in range(RECORDS)
        ]
        await produce(settings, items, partition=0)
        await _until(lambda: health.held_partitions > 0, "the partition held for the store")
        await _until(lambda: lag() == RECORDS, f"lag {RECORDS} while held (it reads {lag()})")
        locker.execute("ROLLBACK")
        await _until(lambda: lag() == 0, f"lag 0 once the store is back (it reads {lag()})")
    finally:
        locker.close()
        stop.set()
    summary = await asyncio.wait_for(service, timeout=60)
    assert summary.records == RECORDS
