"""`wire-ingest replay` and `wire-ingest reenrich`: the pipeline again over a range of a topic.

Both read with `RangeReader` (no consumer group, nothing committed), run the
same `Pipeline` the service runs, and produce what it returns, awaiting every
acknowledgement. What was published before is withheld unless the run is
forced (see `idempotence`), so running a replay twice publishes nothing the
second time.

- replay of the raw topic: parse -> ... -> enrich with the dedupe state; every
  record is fed to the pipeline with the replay header, so what it publishes
  says `lineage.replay = true`;
- replay of the canonical topic (enrich-only): canonical events -> enriched;
- reenrich: like the enrich-only replay, but what is withheld is only events
  already enriched with the *current* registry version.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord
from prometheus_client import CollectorRegistry
from tqdm import tqdm

from ..dedupe import open_store
from ..dedupe.deduplicator import Deduplicator
from ..dedupe.memory import MemoryStore
from ..dedupe.store import DedupeStore
from ..enrich import load_enricher
from ..observability import Metrics
from ..pipeline import Pipeline, RecordResult
from ..route import HEADER_REPLAY, Outbound
from ..settings import Settings, Stage
from ..shell import make_producer, record_meta
from ..topics import create_topics
from .idempotence import (
    Known,
    NoDeduplicator,
    PriorAwareDeduplicator,
    ReadOnlyStore,
    enriched_versions,
    is_known,
    letter_key,
    mark_replay,
)
from .ranges import PartitionRange, RangeError, RangeReader, RangeSpec

_DAY = 86_400.0


class InputKind(StrEnum):
    RAW = "raw"
    CANONICAL = "canonical"


class Mode(StrEnum):
    REPLAY = "replay"
    REENRICH = "reenrich"


@dataclass(frozen=True)
class ReplayOptions:
    spec: RangeSpec = field(default_factory=RangeSpec)
    source: InputKind = InputKind.RAW
    mode: Mode = Mode.REPLAY
    sandbox_prefix: str | None = None
    force: bool = False
    dry_run: bool = False
    fresh_state: bool = False  # raw replays: an empty in-memory dedupe state (sandbox comparisons)
    progress: bool = True


@dataclass
class ReplaySummary:
    command: str
    input_topic: str
    ranges: list[PartitionRange]
    dry_run: bool
    forced: bool
    records: int = 0
    published: Counter[str] = field(default_factory=Counter)
    withheld: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    registry_version: str | None = None

    def lines(self) -> list[str]:
        verb = "would publish" if self.dry_run else "published"
        spans = ", ".join(f"p{r.partition}[{r.start}..{r.end})" for r in self.ranges if r.size) or "nothing"
        lines = [
            f"{self.command}{' (dry run)' if self.dry_run else ''}{' (forced)' if self.forced else ''}: "
            f"{self.records} records read from {self.input_topic} {spans}",
            f"  {verb}: {sum(self.published.values())}"
            + "".join(f"\n    {topic}: {count}" for topic, count in sorted(self.published.items())),
            f"  withheld as already published: {sum(self.withheld.values())}"
            + "".join(f"\n    {topic}: {count}" for topic, count in sorted(self.withheld.items())),
            "  outcomes: "
            + (", ".join(f"{kind}={count}" for kind, count in sorted(self.outcomes.items())) or "none"),
        ]
        if self.registry_version:
            lines.append(f"  registry version: {self.registry_version}")
        if self.withheld and not self.forced:
            lines.append("  (--force republishes withheld messages, marked as replays)")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "input_topic": self.input_topic,
            "ranges": [{"partition": r.partition, "start": r.start, "end": r.end} for r in self.ranges],
            "dry_run": self.dry_run,
            "forced": self.forced,
            "records": self.records,
            "published": dict(self.published),
            "withheld": dict(self.withheld),
            "outcomes": dict(self.outcomes),
            "registry_version": self.registry_version,
        }


def output_settings(settings: Settings, options: ReplayOptions) -> Settings:
    """Settings the pipeline publishes with: sandbox topics, the stage the input needs."""
    topics = (
        settings.topics.with_prefix(options.sandbox_prefix) if options.sandbox_prefix else settings.topics
    )
    if options.source == InputKind.CANONICAL:
        stage = Stage.ENRICH
    else:
        stage = Stage.ALL if settings.pipeline.stage is Stage.ENRICH else settings.pipeline.stage
    return settings.model_copy(
        update={"topics": topics, "pipeline": settings.pipeline.model_copy(update={"stage": stage})}
    )


@asynccontextmanager
async def _pipeline(
    settings: Settings, options: ReplayOptions
) -> AsyncIterator[tuple[Pipeline, PriorAwareDeduplicator | None]]:
    metrics = Metrics(CollectorRegistry())
    enricher = load_enricher(settings.enrich) if settings.pipeline.stage is not Stage.INGEST else None
    if options.source == InputKind.CANONICAL:
        yield Pipeline(settings, NoDeduplicator(), enricher, metrics), None
        return
    store: DedupeStore
    if options.fresh_state:
        store = MemoryStore(
            window_seconds=settings.dedupe.window_days * _DAY, max_stories=settings.dedupe.max_stories
        )
    else:
        store = await open_store(settings.dedupe)
    if options.dry_run:
        store = ReadOnlyStore(store)
    deduplicator = PriorAwareDeduplicator(Deduplicator(store, settings.dedupe))
    try:
        yield Pipeline(settings, deduplicator, enricher, metrics), deduplicator
    finally:
        await deduplicator.close()


async def scan_values(settings: Settings, topic: str, spec: RangeSpec) -> AsyncIterator[bytes]:
    """Values on a topic in a range; a topic that does not exist yet is empty."""
    async with RangeReader(settings) as reader:
        try:
            ranges = await reader.plan(topic, RangeSpec(from_time=spec.from_time))
        except RangeError:
            return
        async for batch in reader.read(topic, ranges):
            for record in batch:
                if record.value:
                    yield record.value


async def _known(
    settings: Settings, out: Settings, options: ReplayOptions, input_topic: str, registry: str | None
) -> Known:
    # Outputs are produced after their input was created, so the input range's
    # start time bounds where they can be on the output topics.
    bound = RangeSpec(from_time=options.spec.from_time)
    if options.source == InputKind.RAW:
        letters = set()
        async for value in scan_values(settings, out.topics.dlq, bound):
            key = letter_key(value)
            if key is not None and key[0] == input_topic:
                letters.add(key)
        return Known(letters=frozenset(letters))
    versions = enriched_versions([value async for value in scan_values(settings, out.topics.enriched, bound)])
    if options.mode == Mode.REENRICH:
        return Known(event_ids=frozenset(e for e, seen in versions.items() if registry in seen))
    return Known(event_ids=frozenset(versions))


def _with_replay_header(record: ConsumerRecord[bytes, bytes]) -> Any:
    meta = record_meta(record)
    if any(key == HEADER_REPLAY for key, _ in meta.headers):
        return meta
    return meta.model_copy(update={"headers": (*meta.headers, (HEADER_REPLAY, b"1"))})


async def run_replay(settings: Settings, options: ReplayOptions) -> ReplaySummary:
    """Run the pipeline over the range and publish what was not published before (all with force)."""
    if options.fresh_state and not options.sandbox_prefix:
        raise RangeError("--fresh-state republishes everything; use it with --sandbox-prefix")
    out = output_settings(settings, options)
    input_topic = settings.topics.raw if options.source == InputKind.RAW else settings.topics.canonical
    marking = options.mode == Mode.REPLAY
    async with RangeReader(settings) as reader, _pipeline(out, options) as (pipeline, prior):
        ranges = await reader.plan(input_topic, options.spec)
        registry = pipeline.enricher.registry_version if pipeline.enricher is not None else None
        summary = ReplaySummary(
            command=options.mode.value,
            input_topic=input_topic,
            ranges=ranges,
            dry_run=options.dry_run,
            forced=options.force,
            registry_version=registry,
        )
        known = await _known(settings, out, options, input_topic, registry)
        producer: AIOKafkaProducer | None = None
        if not options.dry_run:
            if options.sandbox_prefix:
                await create_topics(out)
            producer = make_producer(out)
            await producer.start()
        bar = tqdm(
            total=sum(r.size for r in ranges),
            desc=f"{options.mode.value} {input_topic}",
            unit="rec",
            disable=not options.progress,
            leave=False,
        )
        try:
            async for batch in reader.read(input_topic, ranges):
                outgoing: list[Outbound] = []
                for record in batch:
                    result = await _process(pipeline, record, options, marking)
                    prior_ids = prior.prior if prior is not None else set()
                    seen = Known(known.event_ids | prior_ids, known.letters)
                    for message in result.outbound:
                        if not options.force and is_known(message, seen, out.topics.dlq):
                            summary.withheld[message.topic] += 1
                            continue
                        outgoing.append(mark_replay(message) if marking else message)
                    summary.outcomes.update(outcome.kind for outcome in result.outcomes)
                if producer is not None:
                    await _produce(producer, outgoing)
                summary.published.update(message.topic for message in outgoing)
                summary.records += len(batch)
                bar.update(len(batch))
        finally:
            bar.close()
            if producer is not None:
                await producer.stop()
    return summary


async def _process(
    pipeline: Pipeline, record: ConsumerRecord[bytes, bytes], options: ReplayOptions, marking: bool
) -> RecordResult:
    value = record.value or b""
    if options.source == InputKind.CANONICAL:
        return pipeline.process_canonical(value, record_meta(record))
    meta = _with_replay_header(record) if marking else record_meta(record)
    return await pipeline.process_raw(value, meta)


async def _produce(producer: AIOKafkaProducer, messages: list[Outbound]) -> None:
    """Send every message, then await every acknowledgement (a failure raises, nothing is retried)."""
    futures = [
        await producer.send(message.topic, message.value, key=message.key, headers=list(message.headers))
        for message in messages
    ]
    for future in futures:
        await future
