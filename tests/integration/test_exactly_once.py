"""Exactly-once mode on librdkafka's mock cluster: one Kafka transaction per batch, readers read committed.

A fault mid-stream (a produce that fails inside a transaction) must leave no duplicate at
all for a read_committed consumer, not even a redelivered copy with the same event ID.

SIGKILL with a transaction open cannot be tested on the mock cluster: when a new producer
initialises the same transactional_id, the mock does not abort the dead producer's open
transaction, so read_committed consumers see its records (checked by hand: a zombie's
uncommitted record is returned under read_committed). Against Apache Kafka, whose
coordinator aborts it, `tools/fault_eos_kill.py` runs that scenario.
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

# The mock cluster's multi-record transactional batches fail aiokafka's CRC check, so the
# readers here skip it (they still read every record; a real broker passes the check).

PRODUCE = 0
MESSAGE_TOO_LARGE = 10  # not retriable: the send fails and the transaction must abort
CORRUPT_MESSAGE = 2


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


async def test_failed_produce_aborts_the_transaction_and_nothing_is_doubled(
    cluster: MockCluster, unique: str, tmp_path: Path
) -> None:
    """A produce that fails mid-batch aborts its transaction; the retried batch is the only committed copy."""
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
            cluster.push_request_errors(PRODUCE, MESSAGE_TOO_LARGE, CORRUPT_MESSAGE, MESSAGE_TOO_LARGE)
            await tail.wait_until(lambda t: len(t.sources) >= len(items), within=180)
            assert service.terminate() == 0
        finally:
            service.kill()

    committed = await check(settings, items, isolation_level="read_committed", check_crcs=False)
    uncommitted = await check(settings, items, isolation_level="read_uncommitted", check_crcs=False)
    retries = sum(1 for e in service.log_events() if e.get("event") == "delivery_failed_retrying")
    record_figures(
        "exactly_once_aborted_produce",
        {
            **committed.summary(),
            "aborted_copies_visible_read_uncommitted": uncommitted.duplicates,
            "delivery_retries": retries,
        },
    )
    assert retries > 0, "the injected produce errors never failed a transaction"
    assert committed.problems(allow_redeliveries=False) == []
