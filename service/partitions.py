"""Per-partition bookkeeping for the shell: records in flight in input order, holds, lag.

Records of a partition are prepared concurrently (in worker processes) but
finish, get produced and get committed strictly in input order: only the run
of prepared records at the head of a partition's queue is ever taken. A
partition whose store calls fail is *held*: its queue is dropped, the consumer
is rewound to the first unfinished record and paused until the backoff passes,
while the other partitions go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from .models import RecordMeta
from .observability import Metrics
from .prepare import Prepared
from .retry import Backoff


@dataclass(slots=True)
class InFlight:
    """A record taken from Kafka, its CPU half running (or done) in a worker."""

    record: ConsumerRecord[bytes, bytes]
    meta: RecordMeta
    prepared: asyncio.Future[Prepared]


@dataclass(slots=True)
class _Hold:
    until: float
    backoff: Backoff


@dataclass
class PartitionBook:
    metrics: Metrics
    retry_initial_seconds: float
    retry_max_seconds: float
    queues: dict[TopicPartition, deque[InFlight]] = field(default_factory=dict)
    holds: dict[TopicPartition, _Hold] = field(default_factory=dict)
    assigned: list[TopicPartition] = field(default_factory=list)
    positions: dict[TopicPartition, int] = field(default_factory=dict)  # next offset to commit
    last_timestamps: dict[TopicPartition, float] = field(default_factory=dict)
    lag_refreshed_at: float = 0.0

    # ------------------------------------------------------------ in flight

    def add(self, tp: TopicPartition, in_flight: InFlight) -> None:
        self.queues.setdefault(tp, deque()).append(in_flight)

    def in_flight(self) -> int:
        return sum(len(queue) for queue in self.queues.values())

    def take_ready(self) -> dict[TopicPartition, list[InFlight]]:
        """Per partition, the prepared records at the head of its queue, in input order."""
        ready: dict[TopicPartition, list[InFlight]] = {}
        for tp, queue in self.queues.items():
            while queue and queue[0].prepared.done():
                ready.setdefault(tp, []).append(queue.popleft())
        return ready

    async def wait_for_round(self, seconds: float, linger: float) -> None:
        """Until a round is worth delivering: some head record prepared (waiting at most `seconds`),
        then up to `linger` seconds more while other records are still being prepared.

        Each delivery costs round trips to the broker (acknowledgements, then the commit)
        whatever its size; lingering a few milliseconds lets records that finish together
        share one, instead of committing one record at a time.
        """
        heads = [queue[0].prepared for queue in self.queues.values() if queue]
        if heads and not any(head.done() for head in heads):
            await asyncio.wait(heads, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        if linger > 0 and any(head.done() for head in heads) and self._any_pending():
            # A plain sleep: waiting on every pending future would add and remove a callback
            # on each of up to max_batch_records futures per round.
            await asyncio.sleep(linger)

    def _any_pending(self) -> bool:
        return any(not i.prepared.done() for queue in self.queues.values() for i in queue)

    def drop(self, tp: TopicPartition) -> int:
        """Forget a partition's records in flight (they stay uncommitted); how many there were."""
        queue = self.queues.pop(tp, deque())
        for in_flight in queue:
            in_flight.prepared.cancel()
        return len(queue)

    # ------------------------------------------------------------ holds

    def hold(self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> float:
        """Pause a partition at `offset` until its backoff passes; returns the wait in seconds."""
        held = self.holds.get(tp)
        if held is None:
            held = self.holds[tp] = _Hold(0.0, Backoff(self.retry_initial_seconds, self.retry_max_seconds))
        delay = held.backoff.next_delay()
        held.until = time.monotonic() + delay
        if tp in consumer.assignment():
            consumer.seek(tp, offset)
            consumer.pause(tp)
        self.metrics.held_partitions.set(len(self.holds))
        return delay

    def release_due(self, consumer: AIOKafkaConsumer) -> None:
        """Resume held partitions whose wait is over (they are held again if the error persists)."""
        now = time.monotonic()
        for tp, held in self.holds.items():
            if held.until <= now and tp in consumer.assignment() and tp in consumer.paused():
                consumer.resume(tp)

    def healed(self, tp: TopicPartition) -> None:
        """A held partition finished a record: its store works again."""
        if self.holds.pop(tp, None) is not None:
            self.metrics.held_partitions.set(len(self.holds))

    # ------------------------------------------------------------ assignment and lag

    def assign(self, assigned: list[TopicPartition]) -> None:
        self.assigned = assigned

    def forget(self, revoked: list[TopicPartition]) -> int:
        """Drop revoked partitions' records in flight, holds and lag gauges; records dropped."""
        dropped = 0
        for tp in revoked:
            dropped += self.drop(tp)
            self.holds.pop(tp, None)
            self.positions.pop(tp, None)
            self.last_timestamps.pop(tp, None)
            for gauge in (self.metrics.consumer_lag, self.metrics.consumer_lag_seconds):
                with contextlib.suppress(KeyError):
                    gauge.remove(tp.topic, str(tp.partition))
        self.metrics.held_partitions.set(len(self.holds))
        return dropped

    def polled(self, tp: TopicPartition, first: ConsumerRecord[bytes, bytes]) -> None:
        """The first record of a poll: until this instance commits on the partition, lag counts
        from the first record it took (where the group's committed position was), so a partition
        held since it was assigned, or whose first round never gets through, shows its backlog."""
        if tp not in self.positions:
            self.positions[tp] = first.offset
            if first.timestamp >= 0:
                self.last_timestamps[tp] = first.timestamp / 1000

    def committed(self, tp: TopicPartition, last: ConsumerRecord[bytes, bytes]) -> None:
        self.positions[tp] = last.offset + 1
        if last.timestamp >= 0:
            self.last_timestamps[tp] = last.timestamp / 1000

    def refresh_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Lag per assigned partition, also while no record arrives (so a stalled consumer shows).

        Records: high watermark minus our committed position. Seconds: 0 when caught up, else
        the age of the last record committed, which keeps growing while the partition is stuck.
        Before this instance's first commit on a partition both count from the first record it
        took there (see `polled`).
        """
        self.lag_refreshed_at = time.monotonic()
        now = time.time()
        for tp in self.assigned:
            highwater = consumer.highwater(tp)
            position = self.positions.get(tp)
            if highwater is None or position is None:
                continue
            labels = (tp.topic, str(tp.partition))
            behind = max(0, highwater - position)
            self.metrics.consumer_lag.labels(*labels).set(behind)
            last_timestamp = self.last_timestamps.get(tp)
            seconds = max(0.0, now - last_timestamp) if behind and last_timestamp is not None else 0.0
            self.metrics.consumer_lag_seconds.labels(*labels).set(seconds)
