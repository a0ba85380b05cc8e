"""Helpers for integration tests: settings on fresh topics, producing and reading topics."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry

from service.app import run_service
from service.observability import Health, Metrics
from service.settings import Settings
from service.shell import RunLimits, RunSummary
from service.topics import create_topics


def settings_data(
    bootstrap_servers: str, unique: str, tmp_path: Path, **sections: dict[str, Any]
) -> dict[str, Any]:
    """Settings data with every topic and the group named after `unique`, dedupe state under tmp_path.

    `sections` are merged over the defaults, key by key.
    """
    data: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": bootstrap_servers,
            "group_id": f"g-{unique}",
            "session_timeout_ms": 6000,
        },
        "topics": {
            "raw": f"raw-{unique}",
            "canonical": f"canonical-{unique}",
            "enriched": f"enriched-{unique}",
            "duplicates": f"duplicates-{unique}",
            "dlq": f"dlq-{unique}",
            "partitions": 3,
        },
        "dedupe": {"backend": "sqlite", "sqlite_path": str(tmp_path / f"dedupe-{unique}.sqlite3")},
        "pipeline": {"poll_timeout_ms": 100},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return data


def settings_for(bootstrap_servers: str, unique: str, tmp_path: Path, **sections: dict[str, Any]) -> Settings:
    """The validated settings of `settings_data`."""
    return Settings.model_validate(settings_data(bootstrap_servers, unique, tmp_path, **sections))


async def create(settings: Settings) -> None:
    await create_topics(settings)


async def produce(settings: Settings, values: list[bytes], *, partition: int | None = None) -> None:
    # Large enough for the budget tests' multi-megabyte records; the broker takes them (Tansu does).
    producer = AIOKafkaProducer(**settings.kafka.client_kwargs(), max_request_size=32 * 2**20)
    await producer.start()
    try:
        for index, value in enumerate(values):
            await producer.send_and_wait(
                settings.topics.raw, value, key=f"k{index}".encode(), partition=partition
            )
    finally:
        await producer.stop()


async def committed_offset(settings: Settings, partition: int) -> int | None:
    """The service's consumer group's committed offset on a raw partition (None if none)."""
    consumer = AIOKafkaConsumer(**settings.kafka.client_kwargs(), group_id=settings.kafka.group_id)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(settings.topics.raw, partition))
    finally:
        await consumer.stop()


async def read_all(settings: Settings, topic: str, expected: int, max_polls: int = 100) -> list[Any]:
    """Read a topic from the start until `expected` records arrived or max_polls polls found nothing.

    Returns the raw ConsumerRecords so tests can check keys and headers too.
    """
    consumer = AIOKafkaConsumer(**settings.kafka.client_kwargs(), enable_auto_commit=False)
    await consumer.start()
    records: list[Any] = []
    try:
        partitions = consumer.partitions_for_topic(topic)
        while not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        assignment = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assignment)
        await consumer.seek_to_beginning(*assignment)
        empty_polls = 0
        while len(records) < expected and empty_polls < max_polls:
            batch = await consumer.getmany(timeout_ms=100)
            if not batch:
                empty_polls += 1
            for partition_records in batch.values():
                records.extend(partition_records)
        # One more short poll so that a test expecting N also sees an unexpected N+1.
        for partition_records in (await consumer.getmany(timeout_ms=300)).values():
            records.extend(partition_records)
    finally:
        await consumer.stop()
    return records


async def run_once(settings: Settings, records: int, health: Health | None = None) -> RunSummary:
    """Run the service in process until it has handled `records` input records."""
    return await asyncio.wait_for(
        run_service(
            settings,
            limits=RunLimits(max_records=records),
            metrics=Metrics(CollectorRegistry()),
            health=health,
            serve_http=False,
            install_signal_handlers=False,
        ),
        timeout=120,
    )


async def start_instances(
    settings: Settings, stop: asyncio.Event, count: int = 2
) -> tuple[list[asyncio.Task[RunSummary]], list[Health]]:
    """Start `count` service instances in one group; returns once every one holds partitions.

    Records produced before all members joined could all go to the first member.
    """
    healths = [Health() for _ in range(count)]
    tasks = [
        asyncio.create_task(
            run_service(
                settings,
                stop=stop,
                metrics=Metrics(CollectorRegistry()),
                health=health,
                serve_http=False,
                install_signal_handlers=False,
            )
        )
        for health in healths
    ]
    for _ in range(300):
        assigned = [h.assigned_partitions for h in healths]
        if all(assigned) and sum(assigned) == settings.topics.partitions:
            break
        await asyncio.sleep(0.1)
    return tasks, healths
