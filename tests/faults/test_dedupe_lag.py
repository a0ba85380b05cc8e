"""Crash while partitions lag each other by more than the dedupe window: no record is decided differently.

Issue 11, item 7. With a one-day window, partition 1 carries news three days newer than
partition 0's. The service decides and publishes a batch holding, on both partitions,
an update (v2 of an item whose v1 is committed) and a resend (the exact bytes of a
committed original), and on partition 1 then the newer news that moves the window past
all of it. The commit of that batch cannot happen (the group coordinator of the mock
cluster is down; the partitions' leader is another broker, so fetch and produce work)
and the service is SIGKILLed, so the whole batch is redelivered to the next run. Before
the fix the newer news evicted the recorded decisions the redelivered records needed,
and the next run published the update as `new` and the resend as `new` with its
original's event ID. Whichever partition the service happens to work on first
within the batch, each partition's own old records precede its newer ones, so the old
code fails either way.

What is checked is the issue's promise: every raw record's copies carry one decision
(event ID, relation, story, links). Which decision a record gets the *first* time may
depend on the order the batch is worked in (a window clocked by the newest news); see
the retention rule in service/dedupe/store.py.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.client import AIOKafkaClient, CoordinationType

from service.harness import MockCluster
from service.settings import Settings
from tests.integration.kafka_helpers import committed_offset, produce

from .checker import read_topic
from .corpus import _ninjs
from .harness import (
    OutputTail,
    ServiceProcess,
    mock_config,
    mock_topics,
    record_figures,
    settings_of,
)

pytestmark = pytest.mark.integration

DAY = 1440  # minutes, as corpus._ninjs counts its timestamps
NEWER = 8  # records of newer news on partition 1
PROBE_PARTITION = 2  # raw has 3 partitions; the items use 0 and 1


def _item(uri: str, minute: int, *, version: str = "1", words: int = 40) -> bytes:
    """A ninjs item with a body of its own (shares no word with any other item) at `minute` of May 2024."""
    body = " ".join(f"{uri.rsplit(':', 1)[-1]}v{version}w{i}" for i in range(words))
    data = orjson.loads(_ninjs(uri, f"Story {uri} v{version}", body, minute))
    data["version"] = version
    return orjson.dumps(data)


def _batches(unique: str) -> tuple[dict[int, list[bytes]], dict[int, list[bytes]]]:
    """Per partition: the first batch (committed before the crash) and the second (never committed)."""
    first: dict[int, list[bytes]] = {}
    second: dict[int, list[bytes]] = {}
    for partition in (0, 1):
        item, original = f"urn:lag:{unique}:p{partition}item", f"urn:lag:{unique}:p{partition}orig"
        first[partition] = [_item(item, 0), _item(original, 0)]
        second[partition] = [_item(item, 60, version="2"), first[partition][1]]  # v2, then a resend
    second[1] += [_item(f"urn:lag:{unique}:new{n}", 3 * DAY + n) for n in range(NEWER)]
    return first, second


async def _coordinator(settings: Settings) -> int:
    """The broker coordinating the service's consumer group."""
    client = AIOKafkaClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await client.bootstrap()
    try:
        return int(await client.coordinator_lookup(CoordinationType.GROUP, settings.kafka.group_id))
    finally:
        await client.close()


async def _produce_at_once(settings: Settings, batch: dict[int, list[bytes]]) -> None:
    """Every record in one produce request (they all wait out the linger), so a consumer's next
    fetch brings all of them together."""
    producer = AIOKafkaProducer(**settings.kafka.client_kwargs(), acks="all", linger_ms=500)
    await producer.start()
    try:
        futures = [
            await producer.send(settings.topics.raw, value, partition=partition)
            for partition, values in batch.items()
            for value in values
        ]
        for future in futures:
            await future
    finally:
        await producer.stop()


def _decision(value: dict[str, Any]) -> tuple[Any, ...]:
    dedupe = value["dedupe"]
    return (
        value["event_id"],
        dedupe["relation"],
        value["story_id"],
        value["supersedes"],
        value["duplicate_of"],
    )


async def test_partitions_lagging_past_the_window_get_their_decisions_back(
    own_cluster: MockCluster, unique: str, tmp_path: Path
) -> None:
    """Kill -9 between publishing and committing a batch that spans a lag wider than the window."""
    data = mock_config(
        own_cluster,
        unique,
        tmp_path,
        dedupe={"window_days": 1.0, "max_stories": 4},  # every new story runs an eviction
        # The whole second batch must be published before its commit fails: prepared in
        # process, all of it is ready at once and goes out in one round (a round is not
        # committed, nothing after it is produced).
        pipeline={"workers": 0, "round_linger_ms": 1000},
    )
    settings = settings_of(data)
    coordinator = await _coordinator(settings)
    # One leader (one fetch brings both partitions at once), not the coordinator.
    mock_topics(own_cluster, settings, leader=coordinator % 3 + 1)
    first, second = _batches(unique)
    async with OutputTail(settings, [settings.topics.canonical, settings.topics.duplicates]) as tail:
        for partition, values in first.items():
            await produce(settings, values, partition=partition)
        service = ServiceProcess(data, tmp_path / "service-0.log").start()
        try:
            await tail.wait_until(lambda t: len(t.sources) >= 4, within=120)
            assert service.terminate() == 0  # commits the first batch on the way out

            service = ServiceProcess(data, tmp_path / "service-1.log").start()
            await service.wait_for_log("partitions_assigned", within=60)
            # Assigned is not started: the consumer still has to fetch its committed offsets
            # from the coordinator, and with the coordinator down it never starts. A bad record
            # on the unused partition 2 (dead-lettered before any dedupe state) goes through
            # only once they are known; its commit shows the coordinator is done with them.
            async with OutputTail(settings, [settings.topics.dlq]) as probe:
                await produce(settings, [b'{"probe": malformed JSON'], partition=PROBE_PARTITION)
                await probe.wait_until(lambda t: len(t.sources) >= 1, within=120)
            for _ in range(600):  # the commit follows the dead letter's delivery
                if await committed_offset(settings, PROBE_PARTITION) == 1:
                    break
                await asyncio.sleep(0.1)
            else:
                raise TimeoutError("the probe's commit did not arrive in 60 s")
            own_cluster.set_broker_down(coordinator)  # from now on nothing commits
            await _produce_at_once(settings, second)
            expected = 4 + sum(len(values) for values in second.values())
            await tail.wait_until(lambda t: len(t.sources) >= expected, within=120)
            service.kill()  # published, never committed: the crash
            own_cluster.set_broker_up(coordinator)
            crashed = time.time()

            service = ServiceProcess(data, tmp_path / "service-2.log").start()
            redelivered = expected - 4
            await tail.wait_until(
                lambda t: sum(1 for stamp in t.stamps if stamp > crashed) >= redelivered, within=180
            )
            await service.wait_for_log("service_started", within=60)
            assert service.terminate() == 0
        finally:
            own_cluster.set_broker_up(coordinator)
            service.kill()

    outputs = [
        orjson.loads(record.value or b"{}")
        for topic in (settings.topics.canonical, settings.topics.duplicates)
        for record in await read_topic(settings, topic)
    ]
    decisions: dict[tuple[int, int], set[tuple[Any, ...]]] = defaultdict(set)
    copies: dict[tuple[int, int], int] = defaultdict(int)
    for value in outputs:
        where = (value["lineage"]["partition"], value["lineage"]["offset"])
        decisions[where].add(_decision(value))
        copies[where] += 1
    pending = [
        (partition, offset) for partition, values in second.items() for offset in range(2, 2 + len(values))
    ]
    differing = {where: sorted(map(str, found)) for where, found in decisions.items() if len(found) > 1}
    record_figures(
        "dedupe_lag",
        {
            "records": len(decisions),
            "redelivered": sum(1 for where in pending if copies[where] > 1),
            "decided_differently": len(differing),
            "relations_seen": {f"{p}:{o}": sorted(d[1] for d in decisions[(p, o)]) for p, o in pending[:4]},
        },
    )
    assert all(copies[where] >= 2 for where in pending), f"the crash did not hit the batch: {dict(copies)}"
    assert differing == {}
    assert len(decisions) == expected
