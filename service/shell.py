"""The asyncio Kafka shell around the pipeline: consume, prepare, decide, deliver, commit.

The event loop only does I/O: Kafka, the dedupe store, worker sockets. The CPU
half of each record runs in a worker process (`service.workers`), so a slow or
hostile record never stops heartbeats or polls. The loop, one turn at a time:

1. poll Kafka (also while work is pending: a poll is what keeps this member in
   its group), taking at most `pipeline.max_batch_records` records in flight;
2. hand every new record to the workers; they prepare records concurrently;
3. take, per partition, the prepared records at the head of its queue (input
   order), take their dedupe decisions against the store, and deliver them
   (`service.delivery`: produce, await every acknowledgement, commit).

A crash between producing and committing redelivers those records; event IDs
are deterministic and the deduplicator returns the recorded decision for a
record it has seen, so the redelivery reproduces the same messages. A store
that cannot be reached holds only the partition that needed it (rewound and
paused, retried with backoff); see `service.partitions`.

Rebalances wait for the round being delivered (never for a record being
prepared): records in flight of revoked partitions are dropped uncommitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from .delivery import Delivery, Finished, make_producer, quietly
from .errors import StoreUnavailableError
from .models import RecordMeta
from .observability import Health, Metrics
from .partitions import InFlight, PartitionBook
from .pipeline import Pipeline
from .retry import Backoff
from .settings import Settings, Stage

log = structlog.get_logger("wire_ingest.shell")

__all__ = ["RunLimits", "RunSummary", "Service", "make_producer", "record_meta"]


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
        # A round being delivered commits before we let go (or gives up if it is retrying).
        self.service.revoking = True
        try:
            async with self.service.round_lock:
                self.service.metrics.rebalances.labels("revoked").inc()
                self.service.forget(list(revoked))
                log.info("partitions_revoked", partitions=[f"{tp.topic}-{tp.partition}" for tp in revoked])
        finally:
            self.service.revoking = False

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
        self.round_lock = asyncio.Lock()
        self.revoking = False
        self.stage = settings.pipeline.stage
        self.input_topic = settings.topics.canonical if self.stage == Stage.ENRICH else settings.topics.raw
        self.group_id = (
            f"{settings.kafka.group_id}.enrich" if self.stage == Stage.ENRICH else settings.kafka.group_id
        )
        self.delivery = Delivery(settings, metrics, health, self.group_id, pipeline.tracing)
        # A held partition first waits the store's own retry pause, then backs off from there.
        self.book = PartitionBook(
            metrics, settings.dedupe.unavailable_retry_seconds, settings.pipeline.retry_max_seconds
        )
        self._end_offsets: dict[TopicPartition, int] = {}
        self._taken = 0  # records taken from Kafka and not dropped (for RunLimits.max_records)
        self._stopping = False
        self._last_poll = time.monotonic()
        self._poll_backoff = Backoff(
            settings.pipeline.retry_initial_seconds, settings.pipeline.retry_max_seconds
        )
        self._keepalive_seconds = settings.kafka.max_poll_interval_ms / 1000 / 3

    def _make_consumer(self) -> AIOKafkaConsumer:
        kafka = self.settings.kafka
        return AIOKafkaConsumer(
            **kafka.client_kwargs(),
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset=kafka.auto_offset_reset,
            isolation_level="read_committed" if self.delivery.transactional else "read_uncommitted",
            session_timeout_ms=kafka.session_timeout_ms,
            heartbeat_interval_ms=kafka.heartbeat_interval_ms,
            max_poll_interval_ms=kafka.max_poll_interval_ms,
            fetch_max_bytes=kafka.fetch_max_bytes,
            max_partition_fetch_bytes=kafka.max_partition_fetch_bytes,
            fetch_max_wait_ms=kafka.fetch_max_wait_ms,
        )

    def on_assigned(self, assigned: list[TopicPartition]) -> None:
        self.book.assign(assigned)
        self.health.assigned_partitions = len(assigned)
        self.metrics.assigned_partitions.set(len(assigned))
        self._end_offsets = {}

    def forget(self, revoked: list[TopicPartition]) -> None:
        """Revoked partitions: their records in flight are dropped uncommitted (the next owner gets them)."""
        self._taken -= self.book.forget(revoked)

    # ------------------------------------------------------------ loop

    async def run(self, stop: asyncio.Event, limits: RunLimits | None = None) -> RunSummary:
        limits = limits or RunLimits()
        summary = RunSummary()
        consumer = self._make_consumer()
        workers_started = self._watch_workers_start()
        await self.delivery.start()
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
                transactional_id=self.settings.transactional_id() if self.delivery.transactional else None,
                workers=self.settings.pipeline.workers,
            )
            # What exists now (modules, settings, clients, the dedupe store's index) lives as long
            # as the run: out of the collector's reach, a full collection no longer walks it.
            # Those took ~37 ms each, several a minute at saturation (13 ms frozen). Unfrozen at
            # the end: a process may run the service more than once (tests, ops tools).
            gc.freeze()
            await self._loop(consumer, stop, limits, summary)
        finally:
            gc.unfreeze()
            if workers_started is not None:
                workers_started.cancel()
            self.health.connected = False
            for tp in list(self.book.queues):
                self.book.drop(tp)
            # Every round commits before the loop goes on, so nothing is left to commit here;
            # aiokafka does not call on_partitions_revoked on stop(), which is why we never rely on it.
            await quietly(consumer.stop)
            await self.delivery.stop()
            log.info("service_stopped", records=summary.records, batches=summary.batches)
        return summary

    def _watch_workers_start(self) -> asyncio.Future[None] | None:
        """Not ready until the worker pool is up (it starts while the consumer joins its group)."""
        workers = self.pipeline.workers
        if workers is None:
            return None
        self.health.workers_ready = False

        async def watch() -> None:
            with contextlib.suppress(Exception):  # a pool that cannot start fails its records
                await workers.wait_started()
                self.health.workers_ready = True

        return asyncio.ensure_future(watch())

    async def _loop(
        self, consumer: AIOKafkaConsumer, stop: asyncio.Event, limits: RunLimits, summary: RunSummary
    ) -> None:
        last_record_at: float | None = None
        poll_seconds = self.settings.pipeline.poll_timeout_ms / 1000
        linger_seconds = self.settings.pipeline.round_linger_ms / 1000
        drain_deadline: float | None = None
        while True:
            if stop.is_set() and drain_deadline is None:
                # An ordered drain: no new records; what the workers hold is finished and committed.
                drain_deadline = time.monotonic() + self.settings.pipeline.record_timeout_seconds + 5
                self._stopping = True
            if drain_deadline is not None and (
                not self.book.in_flight() or time.monotonic() > drain_deadline
            ):
                break
            if drain_deadline is None:
                self.book.release_due(consumer)
                fetched = await self._poll(consumer, limits)
                if fetched:
                    last_record_at = time.monotonic()
            self.health.heartbeat()
            self.metrics.last_progress.set(time.time())
            if self.book.in_flight():
                await self.book.wait_for_round(poll_seconds, linger_seconds)
            ready = self.book.take_ready()
            if ready:
                async with self.round_lock:
                    await self._finish_round(consumer, ready, summary)
            elif (
                time.monotonic() - self.book.lag_refreshed_at
                >= self.settings.observability.lag_refresh_seconds
            ):
                self.book.refresh_lag(consumer)
            self.metrics.in_flight.set(self.book.in_flight())
            self.health.held_partitions = len(self.book.holds)
            if limits.max_records is not None and summary.records >= limits.max_records:
                break
            if (
                limits.idle_seconds is not None
                and last_record_at is not None
                and not self.book.in_flight()
                and time.monotonic() - last_record_at >= limits.idle_seconds
            ):
                break
            if limits.stop_at_end and not self.book.in_flight() and await self._at_end(consumer):
                break

    async def _poll(self, consumer: AIOKafkaConsumer, limits: RunLimits) -> int:
        """Take new records (at most the room left) and hand each to the workers; how many."""
        room = self.settings.pipeline.max_batch_records - self.book.in_flight()
        if limits.max_records is not None:
            room = min(room, limits.max_records - self._taken)
        # With work pending, poll without waiting: the poll keeps us in the group, the wait is
        # for the workers. With no room, poll paused: nothing is fetched or dropped.
        timeout_ms = 0 if self.book.in_flight() else self.settings.pipeline.poll_timeout_ms
        if room <= 0:
            if time.monotonic() - self._last_poll > self._keepalive_seconds:
                # Full for long (slow records): a poll with everything paused fetches nothing and
                # drops nothing we hold, but tells the group coordinator this member is alive.
                paused = set(consumer.paused())
                consumer.pause(*consumer.assignment())
                await consumer.getmany(timeout_ms=0)
                consumer.resume(*(tp for tp in consumer.assignment() if tp not in paused))
                self._last_poll = time.monotonic()
            return 0
        try:
            batch = await consumer.getmany(timeout_ms=timeout_ms, max_records=room)
        except KafkaError as error:
            # The group coordinator or a broker answered with an error (e.g. a failed SyncGroup):
            # the consumer rejoins on its next poll. Wait, and never let it end the service.
            self.metrics.retries.labels("poll").inc()
            delay = self._poll_backoff.next_delay()
            log.warning("poll_failed_retrying", error=repr(error), retry_in=round(delay, 3))
            await asyncio.sleep(delay)
            return 0
        self._poll_backoff.reset()
        self._last_poll = time.monotonic()
        count = 0
        for tp, records in batch.items():
            self.book.polled(tp, records[0])
            consumed_bytes = 0
            for record in records:
                meta = record_meta(record)
                value = record.value or b""
                prepared = self.pipeline.submit(value, meta)
                self.book.add(tp, InFlight(record, meta, prepared))
                consumed_bytes += len(value)
            self.metrics.child(self.metrics.records_consumed, tp.topic).inc(len(records))
            self.metrics.child(self.metrics.bytes_consumed, tp.topic).inc(consumed_bytes)
            count += len(records)
        if count:
            self.metrics.batch_size.observe(count)
        self._taken += count
        return count

    async def _finish_round(
        self, consumer: AIOKafkaConsumer, ready: dict[TopicPartition, list[InFlight]], summary: RunSummary
    ) -> None:
        """Dedupe decisions in input order, then one delivery for everything decided."""
        round_: list[Finished] = []
        # The same order as below: decisions taken ahead are the ones the loop would take.
        await self.pipeline.decide_ahead(
            [in_flight.prepared.result() for in_flights in ready.values() for in_flight in in_flights]
        )
        for tp, in_flights in ready.items():
            for in_flight in in_flights:
                try:
                    result = await self.pipeline.finish(
                        in_flight.prepared.result(), in_flight.record.value or b"", in_flight.meta
                    )
                except StoreUnavailableError as error:
                    # Never publish unchecked: hold this partition at this record, retry later.
                    self.metrics.dedupe_store_errors.inc()
                    self.metrics.retries.labels("store").inc()
                    self._taken -= self.book.drop(tp) + len(in_flights) - in_flights.index(in_flight)
                    delay = self.book.hold(consumer, tp, in_flight.record.offset)
                    log.warning(
                        "dedupe_store_unavailable",
                        error=str(error),
                        partition=tp.partition,
                        offset=in_flight.record.offset,
                        retry_in=round(delay, 3),
                    )
                    summary.retries += 1
                    break
                self.book.healed(tp)
                round_.append(Finished(in_flight, result))
        if not round_:
            return

        def give_up() -> bool:
            return self._stopping or self.revoking

        if await self.delivery.deliver(consumer, round_, give_up=give_up):
            self._account(round_, summary, consumer)
            await self._report_committed(round_)
        else:
            summary.retries += 1
            self._rewind(consumer, round_)

    async def _report_committed(self, round_: list[Finished]) -> None:
        """Tell the dedupe store what is committed, so it may evict decisions no record still needs."""
        positions = {
            (f.in_flight.record.topic, f.in_flight.record.partition): f.in_flight.record.offset + 1
            for f in round_
        }
        try:
            await self.pipeline.deduplicator.committed(positions)
        except StoreUnavailableError as error:
            # Nothing is lost: until a report gets through, the store only keeps more than it needs.
            log.warning("dedupe_commit_report_failed", error=str(error))

    def _rewind(self, consumer: AIOKafkaConsumer, round_: list[Finished]) -> None:
        """Seek each partition of an abandoned round back to its first record; drop what follows."""
        first: dict[TopicPartition, int] = {}
        for finished in round_:
            record = finished.in_flight.record
            first.setdefault(TopicPartition(record.topic, record.partition), record.offset)
        for tp, offset in first.items():
            self._taken -= self.book.drop(tp)
            if tp in consumer.assignment():
                consumer.seek(tp, offset)
        self._taken -= len(round_)

    def _account(self, round_: list[Finished], summary: RunSummary, consumer: AIOKafkaConsumer) -> None:
        summary.records += len(round_)
        summary.batches += 1
        outcomes: Counter[tuple[str, str]] = Counter()
        for finished in round_:
            record = finished.in_flight.record
            self.book.committed(TopicPartition(record.topic, record.partition), record)
            for message in finished.result.outbound:
                summary.produced[message.topic] = summary.produced.get(message.topic, 0) + 1
            for outcome in finished.result.outcomes:
                outcomes[outcome.kind, outcome.reason] += 1
                summary.outcomes[outcome.kind] = summary.outcomes.get(outcome.kind, 0) + 1
        # Counted once per round: a metric update takes a lock, a dict update does not.
        for (kind, reason), count in outcomes.items():
            self.metrics.child(self.metrics.outcomes, kind, reason).inc(count)
        self.metrics.dedupe_state_stories.set(self.pipeline.deduplicator.state_size())
        self.book.refresh_lag(consumer)

    async def _at_end(self, consumer: AIOKafkaConsumer) -> bool:
        if not self.book.assigned:
            return False
        if not self._end_offsets:
            self._end_offsets = await consumer.end_offsets(self.book.assigned)
        for tp, end in self._end_offsets.items():
            if await consumer.position(tp) < end:
                return False
        return True
