"""The peer: a Quix Streams passthrough (librdkafka underneath), measured like the raw aiokafka one.

What a user would otherwise pick to move news items from one topic to another in
Python: a Quix `Application` whose dataframe consumes the raw topic and produces
each value unchanged (key, headers and timestamp kept) to an output topic, at
least once. Quix's checkpoint is the commit protocol: flush the producer (every
output acknowledged) -> commit the offsets. It runs with the same client
settings as the aiokafka passthrough (but the producer's linger, see
`client_config`) and commits after as many records as that one commits per
batch, so each side pays for the same number of commits.

Samples are the same as the other runs': per input record, when its offset was
committed (after its output was acknowledged) and its end-to-end latency. Quix
has no public commit hook, so the consumer's `commit` is wrapped on the
instance (the checkpoint calls it synchronously after flushing the producer).

Settings, and what Tansu 0.6 (the bench broker) does with a librdkafka application:
- idempotence as the aiokafka runs have it (`kafka.enable_idempotence`, off by default),
  not Quix's default (on): the same producer work on both sides. Tansu would take it
  from librdkafka (its InitProducerId succeeds there and 100 records came through),
  although it fails aiokafka's with UnknownError;
- the session timeout of the other runs (the bench's 3 s): Tansu holds a new member's
  first JoinGroup for about half of it, so librdkafka's default (45 s) took ~23 s to get
  partitions, against ~5 s with 10 s;
- topics created ahead by the bench with the service's admin code (3 partitions, as for
  the other runs) and `auto_create_topics=False`: Quix's own creation works on Tansu too,
  but would make the output topic differ from the other runs';
- no state, no changelog topics: a passthrough is stateless, and the state folder goes
  into a temporary directory rather than the working directory.
"""

from __future__ import annotations

import tempfile
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from quixstreams import Application, message_context

from service.settings import Settings

Samples = list[tuple[float, float]]


def client_config(settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    """librdkafka consumer and producer settings equal to the aiokafka passthrough's, but linger."""
    kafka = settings.kafka
    consumer = {
        "client.id": kafka.client_id,
        "session.timeout.ms": kafka.session_timeout_ms,
        "heartbeat.interval.ms": kafka.heartbeat_interval_ms,
        "max.poll.interval.ms": kafka.max_poll_interval_ms,
        "fetch.max.bytes": kafka.fetch_max_bytes,
        "max.partition.fetch.bytes": kafka.max_partition_fetch_bytes,
        "fetch.wait.max.ms": kafka.fetch_max_wait_ms,
    }
    producer = {
        "client.id": kafka.client_id,
        "enable.idempotence": kafka.enable_idempotence,  # as the aiokafka runs, not Quix's default
        "acks": kafka.acks,
        # No linger.ms: librdkafka's default (5 ms), which a Quix user runs. The bench's 0 suits
        # aiokafka (it batches what queues while a request is in flight: 0 or 5 ms made no
        # difference there) but makes librdkafka send tiny batches: 6,000 records, 3 runs each,
        # 16-22k records/s and 26-36k per CPU-s at 0 against 32-44k and 44-47k at 5 ms.
        "compression.type": kafka.compression_type or "none",
        "message.max.bytes": kafka.max_request_size,
    }
    return consumer, producer


def quix_passthrough(
    settings: Settings, out_topic: str, total: int, on_assigned: Callable[[], None]
) -> Samples:
    """Consume raw, produce every record unchanged to `out_topic`, checkpoint; until `total` records."""
    consumer_config, producer_config = client_config(settings)
    pending: dict[int, deque[tuple[int, int]]] = {}  # partition -> (offset, timestamp ms), processed
    samples: Samples = []
    with tempfile.TemporaryDirectory(prefix="wire-ingest-quix-") as state_dir:
        app = Application(
            broker_address=settings.kafka.bootstrap_servers,
            consumer_group=settings.kafka.group_id,
            auto_offset_reset=settings.kafka.auto_offset_reset,
            processing_guarantee="at-least-once",
            # A checkpoint after as many records as the aiokafka passthrough's largest batch;
            # the interval only matters when records trickle in (not at saturation).
            commit_every=settings.pipeline.max_batch_records,
            commit_interval=1.0,
            auto_create_topics=False,
            use_changelog_topics=False,
            state_dir=state_dir,
            consumer_extra_config=consumer_config,
            producer_extra_config=producer_config,
            loglevel="WARNING",  # as the other runs: the bench prints tables, not start-up logs
        )
        raw = app.topic(
            settings.topics.raw,
            key_deserializer="bytes",
            value_deserializer="bytes",
        )
        out = app.topic(out_topic, key_serializer="bytes", value_serializer="bytes")

        def processed(value: bytes, key: bytes | None, timestamp: int, headers: Any) -> None:
            context = message_context()
            pending.setdefault(context.partition, deque()).append((context.offset, timestamp))

        app.dataframe(raw).update(processed, metadata=True).to_topic(out)

        consumer = app._consumer  # private: Quix has no public hook on assignment or commit
        assign, commit = consumer.assign, consumer.commit

        def assigned(partitions: list[Any]) -> None:
            assign(partitions)
            if partitions:
                on_assigned()

        def committed(*args: Any, **kwargs: Any) -> Any:
            result = commit(*args, **kwargs)
            now, clock = time.time(), time.perf_counter()
            for tp in kwargs.get("offsets") or ():
                queue = pending.get(tp.partition, deque())
                while queue and queue[0][0] < tp.offset:
                    _, stamp = queue.popleft()
                    samples.append((clock, max(0.0, now - stamp / 1000)))
            return result

        consumer.assign = assigned  # type: ignore[method-assign]
        consumer.commit = committed  # type: ignore[method-assign]
        app.run(count=total, collect=False)
    return samples
