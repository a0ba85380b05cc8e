"""`wire-ingest dlq list | show | redrive`: dead letters, counted, shown and sent back.

A redrive produces a letter's original bytes to the topic the record came
from (the raw topic; canonical letters from the enrich stage go back to the
canonical topic) with the original key and headers and a
`wire-ingest-redriven` header naming the letter. Redriving twice does not
duplicate output: the second copy carries the same event IDs, and the dedupe
stage judges it a redelivery of the first (it goes to the duplicates topic,
not to the canonical and enriched topics). A raw record that produced several
letters (items of one feed) is redriven once.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord
from pydantic import ValidationError
from tqdm import tqdm

from ..models import DeadLetter
from ..route import HEADER_REDRIVEN, HEADER_REPLAY, HEADER_SOURCE
from ..settings import Settings
from ..shell import make_producer
from .ranges import RangeError, RangeReader, RangeSpec


@dataclass(frozen=True)
class LetterFilter:
    """Which letters a command acts on (within the range read); empty means every letter."""

    reasons: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()
    stages: frozenset[str] = frozenset()

    def accepts(self, letter: DeadLetter) -> bool:
        return (
            (not self.reasons or letter.reason in self.reasons)
            and (not self.sources or source_of(letter) in self.sources)
            and (not self.stages or letter.stage in self.stages)
        )


@dataclass(frozen=True)
class Letter:
    """A dead letter and where it sits on the DLQ."""

    partition: int
    offset: int
    timestamp_ms: int
    letter: DeadLetter

    @property
    def original(self) -> bytes:
        return base64.b64decode(self.letter.raw_base64)


def source_of(letter: DeadLetter) -> str:
    return letter.source_headers.get(HEADER_SOURCE) or "unknown"


def decode(record: ConsumerRecord[bytes, bytes]) -> Letter | None:
    try:
        letter = DeadLetter.model_validate_json(record.value or b"")
    except ValidationError:
        return None  # not a dead letter of this schema: counted as unreadable, never redriven
    return Letter(record.partition, record.offset, record.timestamp, letter)


async def read_letters(
    settings: Settings, spec: RangeSpec, *, progress: bool = False
) -> tuple[list[Letter], int]:
    """The letters in a range of the DLQ, and how many records there could not be read as letters."""
    letters: list[Letter] = []
    unreadable = 0
    topic = settings.topics.dlq
    async with RangeReader(settings) as reader:
        ranges = await reader.plan(topic, spec)
        with tqdm(
            total=sum(r.size for r in ranges), desc=f"reading {topic}", unit="rec", disable=not progress
        ) as bar:
            async for batch in reader.read(topic, ranges):
                for record in batch:
                    letter = decode(record)
                    if letter is None:
                        unreadable += 1
                    else:
                        letters.append(letter)
                bar.update(len(batch))
    return letters, unreadable


# ---------------------------------------------------------------- list


@dataclass
class LetterCounts:
    total: int = 0
    unreadable: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)
    by_reason_and_source: Counter[tuple[str, str]] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        lines = [
            f"{self.total} dead letters"
            + (f" ({self.unreadable} unreadable records)" if self.unreadable else "")
        ]
        if not self.total:
            return lines
        lines.append("by reason:")
        lines += [f"  {reason:<24} {count:>8}" for reason, count in self.by_reason.most_common()]
        lines.append("by source:")
        lines += [f"  {source:<24} {count:>8}" for source, count in self.by_source.most_common()]
        lines.append("by reason and source:")
        lines += [
            f"  {reason:<24} {source:<24} {count:>8}"
            for (reason, source), count in self.by_reason_and_source.most_common()
        ]
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "unreadable": self.unreadable,
            "by_reason": dict(self.by_reason),
            "by_source": dict(self.by_source),
            "by_reason_and_source": [
                {"reason": reason, "source": source, "count": count}
                for (reason, source), count in self.by_reason_and_source.most_common()
            ],
        }


def count_letters(letters: list[Letter], selection: LetterFilter, unreadable: int = 0) -> LetterCounts:
    counts = LetterCounts(unreadable=unreadable)
    for item in letters:
        if not selection.accepts(item.letter):
            continue
        reason, source = item.letter.reason, source_of(item.letter)
        counts.total += 1
        counts.by_reason[reason] += 1
        counts.by_source[source] += 1
        counts.by_reason_and_source[(reason, source)] += 1
    return counts


# ---------------------------------------------------------------- show


async def find_letter(settings: Settings, offset: int, partition: int | None) -> Letter:
    """The letter at one DLQ offset; without a partition the offset must exist in exactly one."""
    partitions = (partition,) if partition is not None else None
    spec = RangeSpec(partitions=partitions, from_offset=offset, to_offset=offset)
    letters, unreadable = await read_letters(settings, spec)
    if unreadable and not letters:
        raise RangeError(f"the record at offset {offset} is not a dead letter")
    if not letters:
        raise RangeError(f"no dead letter at offset {offset} of {settings.topics.dlq}")
    if len(letters) > 1:
        found = ", ".join(str(item.partition) for item in letters)
        raise RangeError(f"offset {offset} exists in partitions {found}: pass --partition")
    return letters[0]


def describe(item: Letter) -> list[str]:
    letter = item.letter
    key = base64.b64decode(letter.source_key_base64) if letter.source_key_base64 else None
    return [
        f"dead letter {item.partition}/{item.offset}",
        f"  reason:     {letter.reason} (stage {letter.stage}"
        + (f", item {letter.item_index})" if letter.item_index is not None else ")"),
        f"  error:      {letter.error}",
        f"  source:     {source_of(letter)}",
        f"  from:       {letter.source_topic} partition {letter.source_partition} "
        f"offset {letter.source_offset}"
        + (f" at {letter.source_timestamp.isoformat()}" if letter.source_timestamp else ""),
        f"  key:        {key!r}",
        "  headers:    " + (", ".join(f"{k}={v}" for k, v in letter.source_headers.items()) or "-"),
        f"  raw:        {letter.raw_size} bytes, sha256 {letter.raw_sha256}",
    ]


# ---------------------------------------------------------------- redrive


@dataclass
class RedriveSummary:
    dry_run: bool
    selected: int = 0
    redriven: int = 0
    merged: int = 0  # letters of a raw record already redriven in this run (items of one feed)
    by_reason: Counter[str] = field(default_factory=Counter)
    by_topic: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        verb = "would redrive" if self.dry_run else "redriven"
        lines = [
            f"redrive{' (dry run)' if self.dry_run else ''}: {self.selected} letters selected, "
            f"{verb} {self.redriven} records"
            + (f" ({self.merged} letters shared a record)" if self.merged else "")
        ]
        lines += [f"  to {topic}: {count}" for topic, count in sorted(self.by_topic.items())]
        lines += [f"  {reason:<24} {count:>8}" for reason, count in self.by_reason.most_common()]
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "selected": self.selected,
            "redriven": self.redriven,
            "merged": self.merged,
            "by_reason": dict(self.by_reason),
            "by_topic": dict(self.by_topic),
        }


@dataclass(frozen=True)
class Redrive:
    """One record to produce back."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def redrive_record(item: Letter, settings: Settings) -> Redrive:
    """The original record again: bytes, key and headers, plus the redriven header naming the letter."""
    letter = item.letter
    topic = (
        settings.topics.canonical if letter.source_topic == settings.topics.canonical else settings.topics.raw
    )
    # A redriven record is not a replay, and it is redriven from this letter, not an older one.
    headers = [
        (name, value.encode("utf-8"))
        for name, value in letter.source_headers.items()
        if name not in (HEADER_REDRIVEN, HEADER_REPLAY)
    ]
    headers.append((HEADER_REDRIVEN, f"{settings.topics.dlq}/{item.partition}/{item.offset}".encode()))
    key = base64.b64decode(letter.source_key_base64) if letter.source_key_base64 else None
    return Redrive(topic=topic, key=key, value=item.original, headers=tuple(headers))


def plan_redrive(
    letters: list[Letter], selection: LetterFilter, settings: Settings
) -> tuple[list[Redrive], RedriveSummary]:
    """One record per original raw record among the selected letters (pure)."""
    summary = RedriveSummary(dry_run=False)
    seen: set[tuple[str, int, int]] = set()
    planned: list[Redrive] = []
    for item in letters:
        if not selection.accepts(item.letter):
            continue
        summary.selected += 1
        summary.by_reason[item.letter.reason] += 1
        origin = (item.letter.source_topic, item.letter.source_partition, item.letter.source_offset)
        if origin in seen:
            summary.merged += 1
            continue
        seen.add(origin)
        record = redrive_record(item, settings)
        planned.append(record)
        summary.by_topic[record.topic] += 1
    summary.redriven = len(planned)
    return planned, summary


async def redrive(
    settings: Settings,
    spec: RangeSpec,
    selection: LetterFilter,
    *,
    dry_run: bool = False,
    progress: bool = False,
    echo: Callable[[str], None] | None = None,
) -> RedriveSummary:
    letters, _ = await read_letters(settings, spec, progress=progress)
    planned, summary = plan_redrive(letters, selection, settings)
    summary.dry_run = dry_run
    if dry_run or not planned:
        return summary
    producer = make_producer(settings)
    await producer.start()
    try:
        futures = []
        for record in tqdm(planned, desc="redriving", unit="rec", disable=not progress):
            futures.append(
                await producer.send(record.topic, record.value, key=record.key, headers=list(record.headers))
            )
        for future in futures:
            await future
    finally:
        await producer.stop()
    if echo is not None:
        echo(f"produced {len(planned)} records; the service picks them up from the input topics")
    return summary
