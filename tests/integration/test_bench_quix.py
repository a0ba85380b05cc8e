"""The bench's peer row (tools/bench/quix.py): the Quix Streams passthrough on a real broker.

It runs the way `make bench` runs it, in a spawned child process (tools/bench/child.py),
so what is checked here is what the table's figures come from.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from service.settings import Settings
from tests.conftest import REPO_ROOT, Broker
from tests.integration.kafka_helpers import create, read_all, settings_data

pytestmark = pytest.mark.integration

RECORDS = 120


async def _produce(settings: Settings, records: list[tuple[bytes, bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(**settings.kafka.client_kwargs())
    await producer.start()
    try:
        for key, value, header in records:
            await producer.send(settings.topics.raw, value, key=key, headers=[("origin", header)])
        await producer.flush()
    finally:
        await producer.stop()


async def _committed(settings: Settings) -> int:
    """The group's committed offsets summed over the raw topic's partitions (each starts at 0)."""
    consumer = AIOKafkaConsumer(**settings.kafka.client_kwargs(), group_id=settings.kafka.group_id)
    await consumer.start()
    try:
        offsets = [
            await consumer.committed(TopicPartition(settings.topics.raw, partition))
            for partition in range(settings.topics.partitions)
        ]
    finally:
        await consumer.stop()
    return sum(offset or 0 for offset in offsets)


async def test_quix_passthrough_copies_every_record_and_commits_it(
    kafka: Broker, unique: str, tmp_path: Path
) -> None:
    """N records in: the same N keys, values and headers out, one sample per record, offsets committed."""
    sys.path.insert(0, str(REPO_ROOT))
    from tools.bench.child import ChildRun

    config = settings_data(kafka.bootstrap_servers, unique, tmp_path)
    settings = Settings.model_validate(config)
    await create(settings)
    records = [
        (f"k{i}".encode(), f"story {i} ".encode() * (10 + i), f"h{i}".encode()) for i in range(RECORDS)
    ]
    await _produce(settings, records)

    result = await asyncio.to_thread(ChildRun("quix", config, RECORDS).start().result, 180.0)

    outputs = await read_all(settings, settings.topics.canonical, expected=RECORDS, max_polls=30)
    copied = sorted((r.key, r.value, dict(r.headers).get("origin")) for r in outputs)
    assert copied == sorted(records)
    assert len(result["samples"]) == RECORDS
    assert all(latency >= 0 for _, latency in result["samples"])
    assert await _committed(settings) == RECORDS
    assert result["shell_cpu_s"] > 0
