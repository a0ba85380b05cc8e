"""The asyncio Kafka shell around the pipeline: consume, process, produce, commit.

Delivery, batch by batch (a batch is what one `getmany` returns, at most
`pipeline.max_batch_records` records, which also bounds records in flight):

1. process every record of the batch through the pipeline (pure, no I/O but
   the dedupe store);
2. produce every resulting message and await every acknowledgement;
3. commit the offsets after the last record of the batch, per partition.

A crash between 2 and 3 redelivers the batch; event IDs are deterministic and
the deduplicator returns the recorded decision for a record it has seen, so
the redelivery reproduces the same messages (at-least-once, recognisable
duplicates). In exactly-once mode, steps 2 and 3 run inside one Kafka
transaction (`send_offsets_to_transaction`), and consumers read committed.

A produce that fails after the client's own retries rewinds the batch's
partitions to their first unprocessed offset and tries again after a pause,
so a broker outage stalls the loop instead of losing records. The rebalance
listener waits for the batch in progress, so offsets are committed before
partitions are revoked.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from .errors import StoreUnavailableError
from .models import RecordMeta
from .observability import Health, Metrics
from .pipeline import Pipeline, RecordResult
from .settings import DeliveryMode, Settings, Stage

log = structlog.get_logger("wire_ingest.shell")

_RETRY_PAUSE_SECONDS = 1.0


@dataclass(frozen=True)
class RunLimits:
    """Bounded-run mode, shared by the service, replay tooling, the demo and tests.

    With no limit set the service runs until it is told to stop.
    """

    max_records: int | None = None  # stop after this many input records
    idle_seconds: float | None = None  # stop after no record arrived for this long (once any arrived)
    stop_at_end: bool = False  # stop when every assigned partition reached the end seen at assignment


@dataclass
class RunSummary:
    records: int = 0
    batches: int = 0
    produced: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    retries: int = 0


def record_meta(record: ConsumerRecord[bytes, bytes]) -> RecordMeta:
    timestamp = datetime.fromtimestamp(record.timestamp / 1000, tz=UTC) if record.timestamp >= 0 else None
    headers = tuple((key, bytes(value or b"")) for key, value in (record.headers or ()))
    return RecordMeta(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=timestamp,
        key=record.key,
        headers=headers,
    )


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, service: Service) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Wait for the batch in progress: its offsets are committed before we let go.
        async with self.service.batch_lock:
            self.service.metrics.rebalances.labels("revoked").inc()
            self.service.forget_partitions(list(revoked))
            log.info("partitions_revoked", partitions=[f"{tp.topic}-{tp.partition}" for tp in revoked])

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.service.metrics.rebalances.labels("assigned").inc()
        self.service.on_assigned(list(assigned))
        log.info("partitions_assigned", partitions=sorted(f"{tp.topic}-{tp.partition}" for tp in assigned))


class Service:
    """One consumer group member running one stage of the pipeline."""

    def __init__(self, settings: Settings, pipeline: Pipeline, metrics: Metrics, health: Health) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.metrics = metrics
        self.health = health
        self.batch_lock = asyncio.Lock()
        self.stage = settings.pipeline.stage
        self.input_topic = settings.topics.canonical if self.stage == Stage.ENRICH else settings.topics.raw
        self.group_id = (
            f"{settings.kafka.group_id}.enrich" if self.stage == Stage.ENRICH else settings.kafka.group_id
        )
        self.transactional = settings.pipeline.delivery == DeliveryMode.EXACTLY_ONCE
        self._assigned: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}
        self._last_timestamps: dict[TopicPartition, float] = {}
        self._lag_refreshed_at = 0.0
        self._end_offsets: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None

    # ------------------------------------------------------------ clients

    def _make_consumer(self) -> AIOKafkaConsumer:
        kafka = self.settings.kafka
        return AIOKafkaConsumer(
            **kafka.client_kwargs(),
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset=kafka.auto_offset_reset,
            isolation_level="read_committed" if self.transactional else "read_uncommitted",
            session_timeout_ms=kafka.session_timeout_ms,
            heartbeat_interval_ms=kafka.heartbeat_interval_ms,
            max_poll_interval_ms=kafka.max_poll_interval_ms,
            fetch_max_bytes=kafka.fetch_max_bytes,
            max_partition_fetch_bytes=kafka.max_partition_fetch_bytes,
            fetch_max_wait_ms=kafka.fetch_max_wait_ms,
        )

    def _make_producer(self) -> AIOKafkaProducer:
        return make_producer(self.settings, transactional=self.transactional)

    def on_assigned(self, assigned: list[TopicPartition]) -> None:
        self._assigned = assigned
        self.health.assigned_partitions = len(assigned)
        self.metrics.assigned_partitions.set(len(assigned))
        self._end_offsets = {}

    # ------------------------------------------------------------ loop

    async def run(self, stop: asyncio.Event, limits: RunLimits | None = None) -> RunSummary:
        limits = limits or RunLimits()
        summary = RunSummary()
        consumer = self._consumer = self._make_consumer()
        producer = self._producer = self._make_producer()
        await producer.start()
        try:
            await consumer.start()
            consumer.subscribe([self.input_topic], listener=_Rebalance(self))
            self.health.connected = True
            log.info(
                "service_started",
                stage=self.stage.value,
                input_topic=self.input_topic,
                group_id=self.group_id,
                delivery=self.settings.pipeline.delivery.value,
            )
            await self._loop(consumer, producer, stop, limits, summary)
        finally:
            self.health.connected = False
            await self._close(consumer, self._producer or producer)
            log.info("service_stopped", records=summary.records, batches=summary.batches)
        return summary

    async def _loop(
        self,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        stop: asyncio.Event,
        limits: RunLimits,
        summary: RunSummary,
    ) -> None:
        last_record_at: float | None = None
        batch_size = self.settings.pipeline.max_batch_records
        while not stop.is_set():
            if limits.max_records is not None:
                batch_size = min(batch_size, limits.max_records - summary.records)
            batch = await consumer.getmany(
                timeout_ms=self.settings.pipeline.poll_timeout_ms, max_records=batch_size
            )
            self.health.heartbeat()
            self.metrics.last_progress.set(time.time())
            if batch:
                async with self.batch_lock:
                    # The producer may have been renewed by the batch before (see _renew_producer).
                    producer = self._producer or producer
                    await self._process_batch(consumer, producer, batch, summary, stop)
                last_record_at = time.monotonic()
            elif time.monotonic() - self._lag_refreshed_at >= self.settings.observability.lag_refresh_seconds:
                self._refresh_lag(consumer)
            if limits.max_records is not None and summary.records >= limits.max_records:
                break
            if (
                limits.idle_seconds is not None
                and last_record_at is not None
                and time.monotonic() - last_record_at >= limits.idle_seconds
            ):
                break
            if limits.stop_at_end and await self._at_end(consumer):
                break

    async def _at_end(self, consumer: AIOKafkaConsumer) -> bool:
        if not self._assigned:
            return False
        if not self._end_offsets:
            self._end_offsets = await consumer.end_offsets(self._assigned)
        for tp, end in self._end_offsets.items():
            if await consumer.position(tp) < end:
                return False
        return True

    async def _process_batch(
        self,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
        summary: RunSummary,
        stop: asyncio.Event,
    ) -> None:
        records = [record for partition_records in batch.values() for record in partition_records]
        self.metrics.in_flight.set(len(records))
        self.metrics.batch_size.observe(len(records))
        try:
            results: list[tuple[ConsumerRecord[bytes, bytes], RecordResult]] = []
            for record in records:
                self.metrics.records_consumed.labels(record.topic).inc()
                self.metrics.bytes_consumed.labels(record.topic).inc(len(record.value or b""))
                result = await self._process_record(record, stop)
                if result is None:  # stopping while the dedupe store is down: leave it uncommitted
                    await self._rewind(consumer, batch)
                    return
                results.append((record, result))
            offsets = {
                tp: OffsetAndMetadata(partition_records[-1].offset + 1, "")
                for tp, partition_records in batch.items()
            }
            renew = False
            while True:
                try:
                    if renew:
                        producer = await self._renew_producer(producer)
                        renew = False
                    await self._deliver(consumer, producer, results, offsets)
                    break
                except CommitFailedError as error:
                    # The group moved on without us (membership expired, e.g. during a broker
                    # outage longer than the session timeout): these offsets can never be
                    # committed, and retrying while holding batch_lock blocks the rejoin
                    # (on_partitions_revoked waits for the lock), re-producing the batch
                    # forever. Give the batch up: it is redelivered from the committed offsets
                    # to whoever owns the partitions after the rejoin, with the same event IDs.
                    summary.retries += 1
                    log.warning("commit_failed_batch_abandoned", error=repr(error))
                    await self._rewind(consumer, batch)
                    return
                except KafkaError as error:
                    summary.retries += 1
                    log.warning("delivery_failed_retrying", error=repr(error))
                    if stop.is_set():
                        await self._rewind(consumer, batch)
                        return
                    await asyncio.sleep(_RETRY_PAUSE_SECONDS)
                    renew = self.transactional or self.settings.kafka.enable_idempotence
            self._account(results, summary)
            self.metrics.dedupe_state_stories.set(self.pipeline.deduplicator.state_size())
            self._update_lag(consumer, batch)
        finally:
            self.metrics.in_flight.set(0)

    async def _process_record(
        self, record: ConsumerRecord[bytes, bytes], stop: asyncio.Event
    ) -> RecordResult | None:
        meta = record_meta(record)
        value = record.value or b""
        while True:
            try:
                if self.stage == Stage.ENRICH:
                    return self.pipeline.process_canonical(value, meta)
                return await self.pipeline.process_raw(value, meta)
            except StoreUnavailableError as error:
                # Never publish unchecked: hold the partition and retry until the store is back.
                self.metrics.dedupe_store_errors.inc()
                log.warning("dedupe_store_unavailable", error=str(error), offset=record.offset)
                if stop.is_set():
                    return None
                self.health.heartbeat()
                await asyncio.sleep(self.settings.dedupe.unavailable_retry_seconds)

    async def _deliver(
        self,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        results: list[tuple[ConsumerRecord[bytes, bytes], RecordResult]],
        offsets: dict[TopicPartition, OffsetAndMetadata],
    ) -> None:
        """Produce everything, await every acknowledgement, then commit (in one transaction if EOS)."""
        try:
            if self.transactional:
                # The context manager aborts the transaction when anything inside raises.
                async with producer.transaction():
                    await self._produce_all(producer, results)
                    await producer.send_offsets_to_transaction(offsets, self.group_id)
            else:
                await self._produce_all(producer, results)
                await consumer.commit(offsets)
        except BaseException:
            self.metrics.commits.labels("failed").inc()
            raise
        self.metrics.commits.labels("ok").inc()
        now = time.time()
        for record, _ in results:
            if record.timestamp >= 0:
                self.metrics.end_to_end_latency.observe(max(0.0, now - record.timestamp / 1000))

    async def _renew_producer(self, old: AIOKafkaProducer) -> AIOKafkaProducer:
        """A fresh producer after a failed delivery, for idempotent and transactional producers.

        After a failed batch their sequence numbers are out of step with the broker's, so
        every later send fails with OutOfOrderSequenceNumber and the loop would retry
        forever. A new producer gets a new producer ID/epoch (with the same
        transactional_id it also fences the old one and aborts its open transaction).
        If the broker is still unreachable, start() raises KafkaError and the retry loop
        comes back here with this (unstarted) producer as `old`.
        """
        await _quietly(old.stop)
        producer = self._producer = self._make_producer()
        await producer.start()
        return producer

    async def _produce_all(
        self, producer: AIOKafkaProducer, results: list[tuple[ConsumerRecord[bytes, bytes], RecordResult]]
    ) -> None:
        futures = []
        for _, result in results:
            for message in result.outbound:
                future = await producer.send(
                    message.topic, message.value, key=message.key, headers=list(message.headers)
                )
                futures.append((message.topic, future))
        for topic, future in futures:
            await future
            self.metrics.messages_produced.labels(topic).inc()

    async def _rewind(
        self, consumer: AIOKafkaConsumer, batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> None:
        for tp, partition_records in batch.items():
            if tp in consumer.assignment():
                consumer.seek(tp, partition_records[0].offset)

    def _account(
        self, results: list[tuple[ConsumerRecord[bytes, bytes], RecordResult]], summary: RunSummary
    ) -> None:
        summary.records += len(results)
        summary.batches += 1
        for _, result in results:
            for message in result.outbound:
                summary.produced[message.topic] = summary.produced.get(message.topic, 0) + 1
            for outcome in result.outcomes:
                self.metrics.outcomes.labels(outcome.kind, outcome.reason).inc()
                summary.outcomes[outcome.kind] = summary.outcomes.get(outcome.kind, 0) + 1

    def _update_lag(
        self, consumer: AIOKafkaConsumer, batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> None:
        for tp, partition_records in batch.items():
            last = partition_records[-1]
            self._positions[tp] = last.offset + 1
            if last.timestamp >= 0:
                self._last_timestamps[tp] = last.timestamp / 1000
        self._refresh_lag(consumer)

    def _refresh_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Lag per assigned partition, also while no batch arrives (so a stalled consumer shows).

        Records: high watermark minus our position. Seconds: 0 when caught up, else the age
        of the last record processed, which keeps growing while the partition is stuck.
        """
        self._lag_refreshed_at = time.monotonic()
        now = time.time()
        for tp in self._assigned:
            highwater = consumer.highwater(tp)
            position = self._positions.get(tp)
            if highwater is None or position is None:
                continue
            labels = (tp.topic, str(tp.partition))
            behind = max(0, highwater - position)
            self.metrics.consumer_lag.labels(*labels).set(behind)
            last_timestamp = self._last_timestamps.get(tp)
            seconds = max(0.0, now - last_timestamp) if behind and last_timestamp is not None else 0.0
            self.metrics.consumer_lag_seconds.labels(*labels).set(seconds)

    def forget_partitions(self, revoked: list[TopicPartition]) -> None:
        """Drop per-partition state and gauges, so a former owner reports no stale lag."""
        for tp in revoked:
            self._positions.pop(tp, None)
            self._last_timestamps.pop(tp, None)
            for gauge in (self.metrics.consumer_lag, self.metrics.consumer_lag_seconds):
                with contextlib.suppress(KeyError):
                    gauge.remove(tp.topic, str(tp.partition))

    async def _close(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer) -> None:
        # Every batch commits before the loop goes on, so nothing is left to commit here;
        # aiokafka does not call on_partitions_revoked on stop(), which is why we never rely on it.
        await _quietly(consumer.stop)
        await _quietly(producer.stop)


def make_producer(settings: Settings, *, transactional: bool = False) -> AIOKafkaProducer:
    kafka = settings.kafka
    transactional_id = (
        settings.pipeline.transactional_id or f"{kafka.client_id}-{settings.pipeline.stage.value}"
    )
    return AIOKafkaProducer(
        **kafka.client_kwargs(),
        acks="all" if transactional else (kafka.acks if kafka.acks == "all" else int(kafka.acks)),
        enable_idempotence=kafka.enable_idempotence or transactional,
        transactional_id=transactional_id if transactional else None,
        linger_ms=kafka.linger_ms,
        compression_type=kafka.compression_type,
        max_request_size=kafka.max_request_size,
    )


async def _quietly(close: Callable[[], Awaitable[object]]) -> None:
    try:
        await close()
    except Exception as error:  # closing after a failure must not hide the failure
        log.warning("close_failed", error=repr(error))
