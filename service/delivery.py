"""Delivery: produce a round's messages, await every acknowledgement, then commit.

One round is the records the shell finished since the last one (a prefix of
each partition's queue). The protocol, in order:

1. produce every message of the round (at most pipeline.max_message_bytes each);
2. await every acknowledgement; a message the broker refuses as too large for
   good is replaced by a small dead letter of its record, and step 1 runs
   again for what is not acknowledged yet;
3. commit the offset after the last record of each partition, or in
   exactly-once mode send those offsets inside the same transaction as 1.

Errors that can heal (broker out of reach, timeouts, leader moves) are retried
with exponential backoff and jitter; the round is never re-produced in a tight
loop. A round is given up (and its partitions rewound by the shell) when the
group moved on without us (CommitFailedError), when a rebalance waits for it,
or when the service is stopping: its records are redelivered with the same
event IDs.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import OffsetAndMetadata

from .errors import ReasonCode, RecordError
from .observability import Health, Metrics
from .partitions import InFlight
from .pipeline import RecordResult
from .retry import Backoff, is_permanent_produce_error
from .route import Failure, dead_letter
from .settings import DeliveryMode, Settings
from .tracing import NO_TRACING, Tracing

log = structlog.get_logger("wire_ingest.delivery")

# A dead letter that replaces a message the broker refused as too large is kept this small:
# below any max.message.bytes a Kafka topic is realistically configured with.
_REFUSED_LETTER_BYTES = 16_384


@dataclass(slots=True)
class Finished:
    """A record whose dedupe decision is taken, with everything it turns into."""

    in_flight: InFlight
    result: RecordResult


class _RefusedError(Exception):
    """Some messages were refused for good; their records now carry dead letters instead."""


_MURMUR_M = 0x5BD1E995
_MASK32 = 0xFFFFFFFF
# A Struct per key length in words, kept for keys up to 256 bytes (IDs): a longer key (a
# dead letter keeps its raw record's key) gets one of its own, so no input grows the cache.
_WORDS: dict[int, struct.Struct] = {}
_KEPT_WORDS = 64


def murmur2(key: bytes) -> int:
    """`aiokafka.partitioner.murmur2` (the Java client's partitioning hash), bit for bit, with the
    key's 4-byte words read in one C call: 2.4 us for a 36-byte key instead of 5.2."""
    length = len(key)
    count = length >> 2
    words = _WORDS.get(count)
    if words is None:
        words = struct.Struct(f"<{count}I")
        if count <= _KEPT_WORDS:
            _WORDS[count] = words
    h = 0x9747B28C ^ length
    for word in words.unpack_from(key):
        k = (word * _MURMUR_M) & _MASK32
        k = ((k ^ (k >> 24)) * _MURMUR_M) & _MASK32
        h = ((h * _MURMUR_M) & _MASK32) ^ k
    tail = length & 3
    if tail:
        end = length & ~3
        if tail == 3:
            h ^= key[end + 2] << 16
        if tail >= 2:
            h ^= key[end + 1] << 8
        h = ((h ^ key[end]) * _MURMUR_M) & _MASK32
    h ^= h >> 13
    h = (h * _MURMUR_M) & _MASK32
    return h ^ (h >> 15)


class LastKeyPartitioner:
    """aiokafka's default partitioning (murmur2 of the key, as the Java client does), with the last
    key's hash remembered: an item's events share its key, and murmur2 is pure Python (2-5 µs)."""

    def __init__(self) -> None:
        self._default = DefaultPartitioner()  # for messages without a key: a random partition
        self._key: bytes | None = None
        self._hash = 0

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            chosen: int = self._default(key, all_partitions, available)
            return chosen
        if key != self._key:
            self._key, self._hash = key, murmur2(key) & 0x7FFFFFFF
        return all_partitions[self._hash % len(all_partitions)]


def make_producer(settings: Settings, *, transactional: bool = False) -> AIOKafkaProducer:
    kafka = settings.kafka
    return AIOKafkaProducer(
        **kafka.client_kwargs(),
        acks="all" if transactional else (kafka.acks if kafka.acks == "all" else int(kafka.acks)),
        enable_idempotence=kafka.enable_idempotence or transactional,
        transactional_id=settings.transactional_id() if transactional else None,
        linger_ms=kafka.linger_ms,
        compression_type=kafka.compression_type,
        max_request_size=kafka.max_request_size,
        max_batch_size=kafka.max_batch_bytes,
        partitioner=LastKeyPartitioner(),
    )


class Delivery:
    """Owns the producer and the commit protocol of one service instance."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        health: Health,
        group_id: str,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        self.settings = settings
        self.tracing = tracing
        self.metrics = metrics
        self.health = health
        self.group_id = group_id
        self.transactional = settings.pipeline.delivery == DeliveryMode.EXACTLY_ONCE
        self._renews = self.transactional or settings.kafka.enable_idempotence
        self.producer = make_producer(settings, transactional=self.transactional)

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await quietly(self.producer.stop)

    async def deliver(
        self,
        consumer: AIOKafkaConsumer,
        round_: list[Finished],
        *,
        give_up: Callable[[], bool],
    ) -> bool:
        """Produce, await, commit; True when committed, False when given up (rewind the round)."""
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for finished in round_:
            record = finished.in_flight.record
            offsets[TopicPartition(record.topic, record.partition)] = OffsetAndMetadata(record.offset + 1, "")
        backoff = Backoff(
            self.settings.pipeline.retry_initial_seconds, self.settings.pipeline.retry_max_seconds
        )
        try:
            return await self._deliver_with_retries(consumer, round_, offsets, backoff, give_up)
        finally:
            self.health.delivery_retrying = False

    async def _deliver_with_retries(
        self,
        consumer: AIOKafkaConsumer,
        round_: list[Finished],
        offsets: dict[TopicPartition, OffsetAndMetadata],
        backoff: Backoff,
        give_up: Callable[[], bool],
    ) -> bool:
        acked: set[tuple[int, int]] = set()  # (finished index, message index) acknowledged already
        renew = False
        while True:
            try:
                if renew:
                    await self._renew_producer()
                    renew = False
                await self._deliver_once(consumer, round_, offsets, acked)
                break
            except _RefusedError:
                continue  # the refused messages are dead letters now: produce those
            except CommitFailedError as error:
                # The group moved on without us (membership expired, e.g. during an outage longer
                # than the session timeout): these offsets can never be committed, and retrying
                # would hold the rebalance that lets us rejoin. The records are redelivered.
                self.metrics.commits.labels("failed").inc()
                log.warning("commit_failed_round_abandoned", error=repr(error))
                return False
            except KafkaError as error:
                self.metrics.retries.labels("produce").inc()
                if give_up():
                    log.warning("delivery_failed_round_abandoned", error=repr(error))
                    return False
                delay = backoff.next_delay()
                self.health.delivery_retrying = True
                log.warning("delivery_failed_retrying", error=repr(error), retry_in=round(delay, 3))
                await asyncio.sleep(delay)
                renew = self._renews
        now = time.time()
        for finished in round_:
            if finished.in_flight.record.timestamp >= 0:
                latency = now - finished.in_flight.record.timestamp / 1000
                self.metrics.end_to_end_latency.observe(max(0.0, latency))
        return True

    async def _deliver_once(
        self,
        consumer: AIOKafkaConsumer,
        round_: list[Finished],
        offsets: dict[TopicPartition, OffsetAndMetadata],
        acked: set[tuple[int, int]],
    ) -> None:
        try:
            if self.transactional:
                acked.clear()  # an aborted transaction takes every message with it
                # The context manager aborts the transaction when anything inside raises.
                async with self.producer.transaction():
                    await self._produce_all(round_, acked)
                    await self.producer.send_offsets_to_transaction(offsets, self.group_id)
            else:
                await self._produce_all(round_, acked)
                await consumer.commit(offsets)
        except _RefusedError:
            raise
        except BaseException:
            self.metrics.commits.labels("failed").inc()
            raise
        self.metrics.child(self.metrics.commits, "ok").inc()

    async def _produce_all(self, round_: list[Finished], acked: set[tuple[int, int]]) -> None:
        """Send what is not acknowledged yet and await it; the first error that can heal is raised."""
        with contextlib.ExitStack() as spans:
            if self.tracing.enabled:  # one producer span per record, child of its record span
                for finished in round_:
                    spans.enter_context(
                        self.tracing.span("produce", parent=finished.result.trace, kind="producer")
                    )
            await self._send_and_await(round_, acked)

    async def _send_and_await(self, round_: list[Finished], acked: set[tuple[int, int]]) -> None:
        sent: list[tuple[tuple[int, int], str, asyncio.Future[object]]] = []
        healable: BaseException | None = None
        refused: set[int] = set()
        produced: Counter[str] = Counter()
        for index, finished in enumerate(round_):
            for position, message in enumerate(finished.result.outbound):
                if (index, position) in acked:
                    continue
                try:
                    future = await self.producer.send(
                        message.topic, message.value, key=message.key, headers=list(message.headers)
                    )
                except KafkaError as error:  # the client refuses before sending (e.g. too large)
                    if not is_permanent_produce_error(error):
                        raise
                    refused.add(index)
                    continue
                sent.append(((index, position), message.topic, future))
        for ident, topic, future in sent:
            try:
                await future
            except KafkaError as error:
                if is_permanent_produce_error(error):
                    refused.add(ident[0])
                elif healable is None:
                    healable = error
                continue
            acked.add(ident)
            produced[topic] += 1
        for topic, count in produced.items():
            self.metrics.child(self.metrics.messages_produced, topic).inc(count)
        if refused:
            for index in refused:
                self._refuse(round_[index], acked, index)
            raise _RefusedError
        if healable is not None:
            raise healable

    def _refuse(self, finished: Finished, acked: set[tuple[int, int]], index: int) -> None:
        """The broker refused a message as too large: the record becomes one small dead letter."""
        record = finished.in_flight.record
        log.error(
            "message_refused_as_too_large",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            hint="a topic's max.message.bytes is below pipeline.max_message_bytes",
        )
        message = "the broker refused an output of this record as too large (max.message.bytes)"
        letter, outcome = dead_letter(
            [Failure(RecordError(ReasonCode.OUTPUT_TOO_LARGE, message), "route")],
            record.value or b"",
            finished.in_flight.meta,
            self.settings.topics,
            max_message_bytes=_REFUSED_LETTER_BYTES,
        )
        # Messages of this record that did get through stay out there; they are not resent.
        kept = [m for position, m in enumerate(finished.result.outbound) if (index, position) in acked]
        finished.result.outbound = [*kept, letter]
        finished.result.outcomes = [outcome]

    async def _renew_producer(self) -> None:
        """A fresh producer after a failed delivery, for idempotent and transactional producers.

        After a failed batch their sequence numbers are out of step with the broker's, so
        every later send fails with OutOfOrderSequenceNumber. A new producer gets a new
        producer ID/epoch (with the same transactional_id it also fences the old one and
        aborts its open transaction). If it cannot start (broker still unreachable), it is
        stopped again, so no half-started client is left behind, and the error propagates
        to the retry loop.
        """
        await quietly(self.producer.stop)
        producer = make_producer(self.settings, transactional=self.transactional)
        try:
            await producer.start()
        except BaseException:
            await quietly(producer.stop)
            raise
        self.producer = producer


async def quietly(close: Callable[[], Awaitable[object]]) -> None:
    try:
        await close()
    except Exception as error:  # closing after a failure must not hide the failure
        log.warning("close_failed", error=repr(error))
