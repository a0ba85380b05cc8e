"""Topic administration: create the service's topics."""

from __future__ import annotations

import contextlib

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from .settings import Settings

log = structlog.get_logger("wire_ingest.topics")


async def create_topics(
    settings: Settings, *, partitions: int | None = None, replication_factor: int | None = None
) -> list[str]:
    """Create every topic the service reads or writes; existing topics are left as they are."""
    topics = settings.topics
    admin = AIOKafkaAdminClient(**settings.kafka.client_kwargs())
    await admin.start()
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        wanted = [name for name in topics.all() if name not in existing]
        new = [
            NewTopic(
                name,
                num_partitions=partitions or topics.partitions,
                replication_factor=replication_factor or topics.replication_factor,
            )
            for name in wanted
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):  # another instance won the race
                await admin.create_topics(new)
            created = wanted
        log.info("topics_ready", created=created, existing=sorted(existing & set(topics.all())))
    finally:
        await admin.close()
    return created
