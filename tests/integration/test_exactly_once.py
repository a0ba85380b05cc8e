"""Exactly-once mode on librdkafka's mock cluster: one Kafka transaction per batch.

What the mock cluster can and cannot show (each checked by hand with a few lines of aiokafka):
it runs transactions, but it returns aborted records to read_committed consumers (a record
sent then aborted with abort_transaction() is read back under read_committed), and when a
new producer initialises the same transactional_id it does not abort the dead producer's
open transaction. So "no duplicate at all for read_committed readers" cannot be observed
here; it needs Apache Kafka (KAFKA_BOOTSTRAP_SERVERS). What this test pins down on the
mock: an aborted transaction is redone (the producer is renewed, not retried forever with
OutOfOrderSequenceNumber), and every item still ends exactly once, copies being identical
redeliveries of the aborted attempt.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.harness import MockCluster
from tests.faults.checker import check
from tests.faults.corpus import make_inputs
from tests.faults.harness import (
    OutputTail,
    ServiceProcess,
    mock_config,
    mock_topics,
    produce_items,
    record_figures,
    settings_of,
)

pytestmark = pytest.mark.integration

# The mock cluster's multi-record transactional batches also fail aiokafka's CRC check, so
# the readers here skip it (they still read every record).

TXN_OFFSET_COMMIT = 28
# An abortable error: every record of the batch is written, then the offsets cannot join the
# transaction, so the whole transaction (records included) must be aborted and redone.
GROUP_AUTHORIZATION_FAILED = 30


@pytest.fixture
def cluster() -> Iterator[MockCluster]:
    """A mock cluster of this test's own, so injected errors cannot leak into other tests."""
    with MockCluster(brokers=3) as mock:
        yield mock


def eos_config(cluster: MockCluster, unique: str, tmp_path: Path) -> dict[str, Any]:
    return mock_config(
        cluster,
        unique,
        tmp_path,
        kafka={"enable_idempotence": True},
        pipeline={"delivery": "exactly_once", "transactional_id": f"txn-{unique}", "max_batch_records": 50},
    )


async def test_aborted_transaction_leaves_no_duplicate(
    cluster: MockCluster, unique: str, tmp_path: Path
) -> None:
    """A batch whose offsets cannot join the transaction is aborted and redone; nothing is lost or altered."""
    chunk = 100
    items = make_inputs(unique, chunk * 2, seed=5)
    data = eos_config(cluster, unique, tmp_path)
    settings = settings_of(data)
    mock_topics(cluster, settings)
    service = ServiceProcess(data, tmp_path / "service.log")
    async with OutputTail(
        settings, settings.topics.outputs(), isolation_level="read_committed", check_crcs=False
    ) as tail:
        await produce_items(settings, items[:chunk])
        service.start()
        try:
            await tail.wait_until(lambda t: len(t.sources) >= chunk, within=120)
            # Armed after the second chunk is in, so only the service's transactional sends meet them.
            await produce_items(settings, items[chunk:])
            cluster.push_request_errors(TXN_OFFSET_COMMIT, GROUP_AUTHORIZATION_FAILED)
            await tail.wait_until(lambda t: len(t.sources) >= len(items), within=180)
            assert service.terminate() == 0
        finally:
            service.kill()

    committed = await check(settings, items, isolation_level="read_committed", check_crcs=False)
    uncommitted = await check(settings, items, isolation_level="read_uncommitted", check_crcs=False)
    retries = sum(1 for e in service.log_events() if e.get("event") == "delivery_failed_retrying")
    record_figures(
        "exactly_once_aborted_transaction",
        {
            **committed.summary(),
            "aborted_copies_visible_read_uncommitted": uncommitted.duplicates,
            "delivery_retries": retries,
        },
    )
    assert retries > 0, "the injected error never failed a transaction"
    assert committed.problems(allow_redeliveries=True) == []
    # The aborted attempt had written its records before the offsets failed.
    assert uncommitted.duplicates > 0


async def test_two_instances_in_exactly_once_mode_do_not_fence_each_other(
    cluster: MockCluster, unique: str, tmp_path: Path
) -> None:
    """Two replicas with no transactional_id configured run with one each (from their instance
    names) and deliver every item between them.

    The mock cluster does not fence a producer whose transactional id another one took over
    (checked: with equal instance names this run passes too), so what is pinned here is the
    id each running instance used, from its start-up log line; the fencing itself needs
    Apache Kafka (KAFKA_BOOTSTRAP_SERVERS)."""
    items = make_inputs(unique, 120, seed=7)
    common = mock_config(
        cluster,
        unique,
        tmp_path,
        kafka={"enable_idempotence": True, "session_timeout_ms": 10_000},
        pipeline={"delivery": "exactly_once", "max_batch_records": 20},
        dedupe={"backend": "redis", "redis_key_prefix": f"eos-{unique}:"},
    )
    settings = settings_of(common)
    mock_topics(cluster, settings)
    services = [
        ServiceProcess(
            {**common, "pipeline": {**common["pipeline"], "instance_name": name}},
            tmp_path / f"service-{name}.log",
        )
        for name in ("ingest-a", "ingest-b")
    ]
    async with OutputTail(
        settings, settings.topics.outputs(), isolation_level="read_committed", check_crcs=False
    ) as tail:
        for service in services:
            service.start()
        try:
            for service in services:
                # 16 s alone; on a loaded machine the mock cluster's two-member join (it can fail
                # SyncGroup, and the member then rejoins after a backoff) took over 60 s twice.
                await service.wait_for_log("partitions_assigned", within=150)
            await produce_items(settings, items)
            await tail.wait_until(lambda t: len(t.sources) >= len(items), within=180)
            assert [service.terminate() for service in services] == [0, 0]
        finally:
            for service in services:
                service.kill()

    committed = await check(settings, items, isolation_level="read_committed", check_crcs=False)
    used = [
        event["transactional_id"]
        for service in services
        for event in service.log_events()
        if event.get("event") == "service_started"
    ]
    record_figures("exactly_once_two_instances", {**committed.summary(), "transactional_ids": used})
    expected = {
        settings_of({**common, "pipeline": {**common["pipeline"], "instance_name": name}}).transactional_id()
        for name in ("ingest-a", "ingest-b")
    }
    assert len(used) == 2 and set(used) == expected, used
    assert committed.problems(allow_redeliveries=True) == []
