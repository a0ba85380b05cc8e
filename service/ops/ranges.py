"""Reading a bounded range of a topic without a consumer group: the one reader every tool shares.

A range is chosen by offsets (per partition or on all of them) or by UTC
timestamps (`offsets_for_times`), and always stops at the end offsets
captured when the read started, so a tool run over a busy topic finishes.
Nothing is committed: the reader assigns partitions and seeks.

Some brokers under-report the end of a partition (Tansu answers the base
offset of the last batch + 1). So past a captured (not a requested) end the
reader still takes records created before the ends were captured, and stops
a partition at the first record created later or when a fetch finds nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from ..settings import DeliveryMode, Settings

# A fetch at the end of a partition waits this long before answering "nothing";
# the reader's last poll per partition costs that much, so keep it short.
_FETCH_MAX_WAIT_MS = 100
_POLL_TIMEOUT_MS = 500
_BATCH_RECORDS = 500


class RangeError(ValueError):
    """The requested range cannot be read (unknown topic or partition, contradictory bounds)."""


@dataclass(frozen=True, slots=True)
class RangeSpec:
    """Which records to read; every bound is optional (no bound: the whole topic as it is now)."""

    partitions: tuple[int, ...] | None = None  # None: every partition
    from_offset: int | None = None
    to_offset: int | None = None  # inclusive: the last offset to read
    from_time: datetime | None = None  # inclusive (record timestamp >= from_time)
    to_time: datetime | None = None  # exclusive

    def __post_init__(self) -> None:
        if self.from_offset is not None and self.to_offset is not None and self.to_offset < self.from_offset:
            raise RangeError(f"--to-offset {self.to_offset} is before --from-offset {self.from_offset}")
        if self.from_time is not None and self.to_time is not None and self.to_time <= self.from_time:
            raise RangeError("--to-time must be after --from-time")
        for moment in (self.from_time, self.to_time):
            if moment is not None and moment.tzinfo is None:
                raise RangeError("timestamps must carry a time zone (e.g. 2024-09-15T10:00:00Z)")


@dataclass(frozen=True, slots=True)
class PartitionRange:
    """Offsets [start, end) of one partition, `end` being the end captured at planning.

    `limit` is the exclusive end that was asked for (by offset or time), if
    any. Records between `end` and `limit` are read only if they were created
    before planning (brokers that under-report the end).
    """

    partition: int
    start: int
    end: int
    limit: int | None = None

    @property
    def size(self) -> int:
        """Records expected (what the progress bar counts)."""
        return max(0, self.end - self.start)

    @property
    def readable(self) -> bool:
        # Seeking past the captured end would be out of range on a correct broker.
        return self.start <= self.end and (self.limit is None or self.start < self.limit)

    def admits(self, offset: int, timestamp: int, captured_ms: int) -> bool:
        """Whether a record at this offset belongs to the range (offsets past it end the partition)."""
        if self.limit is not None and offset >= self.limit:
            return False
        return offset < self.end or 0 <= timestamp < captured_ms


def plan_partition(
    partition: int,
    *,
    beginning: int,
    end: int,
    spec: RangeSpec,
    time_start: int | None = None,
    time_end: int | None = None,
) -> PartitionRange:
    """The offsets to read in one partition, from its current bounds and the looked-up times.

    `time_start` / `time_end` are the first offsets at or after the spec's
    times (None: no record at or after that time).
    """
    start, limit = beginning, None
    if spec.from_offset is not None:
        start = max(start, spec.from_offset)
    if spec.to_offset is not None:
        limit = spec.to_offset + 1
    if spec.from_time is not None:
        # No record at or after from_time: nothing to read in this partition.
        start = max(start, time_start if time_start is not None else end)
    if spec.to_time is not None and time_end is not None:
        limit = time_end if limit is None else min(limit, time_end)
    return PartitionRange(partition, start, end if limit is None else min(end, limit), limit)


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class RangeReader:
    """A group-less consumer that plans and reads ranges; use as `async with RangeReader(settings)`."""

    def __init__(self, settings: Settings) -> None:
        kafka = settings.kafka
        transactional = settings.pipeline.delivery == DeliveryMode.EXACTLY_ONCE
        self._consumer = AIOKafkaConsumer(
            **kafka.client_kwargs(),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed" if transactional else "read_uncommitted",
            fetch_max_wait_ms=_FETCH_MAX_WAIT_MS,
            max_partition_fetch_bytes=kafka.max_partition_fetch_bytes,
            fetch_max_bytes=kafka.fetch_max_bytes,
        )
        self._captured_ms: int | None = None

    async def __aenter__(self) -> RangeReader:
        await self._consumer.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # aiokafka's group-less coordinator starts a task in start(); stopping before
        # that task ever ran makes stop() raise CancelledError, so let it run once.
        await asyncio.sleep(0)
        await self._consumer.stop()

    @property
    def consumer(self) -> AIOKafkaConsumer:
        return self._consumer

    async def partitions(self, topic: str) -> list[int]:
        found = self._consumer.partitions_for_topic(topic)
        if not found:
            await self._consumer._client.force_metadata_update()
            found = self._consumer.partitions_for_topic(topic)
        if not found:
            raise RangeError(f"topic {topic!r} does not exist or has no partitions")
        return sorted(found)

    async def plan(self, topic: str, spec: RangeSpec) -> list[PartitionRange]:
        """Resolve the spec against the topic now: this captures the end offsets the read stops at.

        `read` must follow the `plan` whose ranges it is given: it trusts
        records past a captured end only if they were created before this call.
        """
        self._captured_ms = int(time.time() * 1000)
        existing = await self.partitions(topic)
        wanted = list(spec.partitions) if spec.partitions is not None else existing
        unknown = sorted(set(wanted) - set(existing))
        if unknown:
            raise RangeError(f"topic {topic!r} has no partition {', '.join(map(str, unknown))}")
        tps = [TopicPartition(topic, p) for p in wanted]
        beginnings = await self._consumer.beginning_offsets(tps)
        ends = await self._consumer.end_offsets(tps)
        starts: dict[TopicPartition, int | None] = {}
        stops: dict[TopicPartition, int | None] = {}
        if spec.from_time is not None:
            starts = await offsets_at(self._consumer, tps, spec.from_time, beginnings, ends)
        if spec.to_time is not None:
            stops = await offsets_at(self._consumer, tps, spec.to_time, beginnings, ends)
        return [
            plan_partition(
                tp.partition,
                beginning=beginnings[tp],
                end=ends[tp],
                spec=spec,
                time_start=starts.get(tp),
                time_end=stops.get(tp),
            )
            for tp in tps
        ]

    async def read(
        self, topic: str, ranges: Iterable[PartitionRange], *, batch_records: int = _BATCH_RECORDS
    ) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
        """Batches of records in the planned ranges, in offset order per partition."""
        captured_ms = self._captured_ms if self._captured_ms is not None else int(time.time() * 1000)
        pending = {TopicPartition(topic, r.partition): r for r in ranges if r.readable}
        consumer = self._consumer
        consumer.assign(list(pending))
        for tp, planned in pending.items():
            consumer.seek(tp, planned.start)
        # Partitions at their captured end that may still hold records the broker did not count.
        probing: set[TopicPartition] = set()
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=_POLL_TIMEOUT_MS, max_records=batch_records)
            taken: list[ConsumerRecord[bytes, bytes]] = []
            done: list[TopicPartition] = []
            for tp in list(pending):
                planned = pending[tp]
                records = batch.get(tp, [])
                if not records and tp in probing:
                    done.append(tp)
                    continue
                for record in records:
                    if record.offset < planned.start:
                        continue
                    if not planned.admits(record.offset, record.timestamp, captured_ms):
                        done.append(tp)
                        break
                    taken.append(record)
                else:
                    position = await consumer.position(tp)
                    if planned.limit is not None and position >= planned.limit:
                        done.append(tp)
                    elif position >= planned.end:
                        probing.add(tp)
            for tp in done:
                consumer.pause(tp)
                pending.pop(tp, None)
            if taken:
                yield taken


async def offsets_at(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    moment: datetime,
    beginnings: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
) -> dict[TopicPartition, int | None]:
    """The first offset whose record timestamp is at or after `moment` (None: no such record).

    Asks the broker (`offsets_for_times`) and trusts the answer when the
    record at the answered offset has the answered timestamp. Brokers that
    cannot look up times answer nothing (librdkafka's mock cluster) or offset
    0 with the current time (Tansu); then the partition is bisected by
    fetching single records, which assumes timestamps grow with offsets (true
    for LogAppendTime, and for CreateTime when producers' clocks agree).
    """
    millis = _millis(moment)
    answered = await consumer.offsets_for_times(dict.fromkeys(tps, millis))
    found: dict[TopicPartition, int | None] = {}
    for tp in tps:
        answer = answered.get(tp)
        if answer is not None and answer.timestamp >= millis:
            record = await _first_record_from(consumer, tp, answer.offset)
            if record is not None and record.timestamp == answer.timestamp:
                found[tp] = answer.offset
                continue
        found[tp] = await _bisect(consumer, tp, millis, beginnings[tp], ends[tp])
    return found


async def _bisect(
    consumer: AIOKafkaConsumer, tp: TopicPartition, millis: int, low: int, high: int
) -> int | None:
    end = high
    while low < high:
        middle = (low + high) // 2
        record = await _first_record_from(consumer, tp, middle)
        if record is None or record.offset >= high or record.timestamp >= millis:
            high = middle  # the answer is at or before the record found (no records in between)
        else:
            low = record.offset + 1
    return low if low < end else None


async def _first_record_from(
    consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int
) -> ConsumerRecord[bytes, bytes] | None:
    consumer.assign([tp])
    consumer.seek(tp, offset)
    batch = await consumer.getmany(tp, timeout_ms=_POLL_TIMEOUT_MS, max_records=1)
    records = batch.get(tp, [])
    return records[0] if records else None


def parse_utc(text: str) -> datetime:
    """An ISO 8601 timestamp; a 'Z' or an offset is required so nobody replays the wrong hours."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as error:
        raise RangeError(f"not an ISO 8601 timestamp: {text!r}") from error
    if moment.tzinfo is None:
        raise RangeError(f"timestamp {text!r} has no time zone; add 'Z' for UTC")
    return moment
