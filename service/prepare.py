"""The CPU half of the pipeline for one record: parse, normalize, fingerprint, enrich.

Everything here is pure (bytes and settings in, models out) and needs no store,
so it runs in a worker process (`service.workers`) or, with `pipeline.workers =
0`, in the service's own process. The dedupe decision and routing, which need
the shared store and the input order, happen afterwards in `service.pipeline`.

This is the per-record guard of the CPU half: every exception becomes a
`Failure` with a reason code, item by item, so one bad item of a feed costs
only itself.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import structlog
from pydantic import ValidationError

from .dedupe.deduplicator import Fingerprint, fingerprint
from .errors import ReasonCode, RecordError
from .ids import sha256_hex
from .models import CanonicalArticle, DeadLetterStage, EnrichedArticle, ParsedItem, RecordMeta, WireFormat
from .normalize import normalize
from .parse import parse
from .route import HEADER_REDRIVEN, HEADER_REPLAY, HEADER_SOURCE, Enrichment, Failure, enrichment_of, to_json
from .settings import Settings, Stage
from .tracing import NO_TRACING, Carrier, SpanScope, Tracing

log = structlog.get_logger("wire_ingest.prepare")

# Below this many body characters an event cannot come near the smallest allowed
# max_message_bytes, so the exact size check (a serialization) is skipped.
_SIZE_CHECK_MIN_CHARS = 4_096
_OUT_OF_MEMORY = re.compile(r"not enough memory|memory allocation failed|out of memory|cannot allocate", re.I)
MEMORY_BUDGET_MESSAGE = "processing needed more memory than the worker's budget (pipeline.worker_memory_mb)"


class EnricherLike(Protocol):
    registry_version: str

    def enrich(self, article: CanonicalArticle) -> EnrichedArticle: ...


@dataclass(slots=True)
class PreparedItem:
    """One item ready for the dedupe decision, its enrichment computed ahead of it."""

    article: CanonicalArticle
    fingerprint: Fingerprint | None = None
    enrichment: Enrichment | None = None

    def __reduce__(self) -> tuple[type[PreparedItem], tuple[Any, ...]]:
        # Pickled for every record (worker -> shell): a constructor call, not the per-field
        # __setstate__ that slotted dataclasses get, which looks up fields() each time.
        return (PreparedItem, (self.article, self.fingerprint, self.enrichment))


@dataclass(slots=True)
class Prepared:
    """What the CPU half made of one record: items to decide, failures, stage timings."""

    items: list[PreparedItem] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    timings: list[tuple[str, float]] = field(default_factory=list)
    trace: Carrier | None = None  # the record span's context, to parent the shell's spans

    def __reduce__(self) -> tuple[type[Prepared], tuple[Any, ...]]:
        return (Prepared, (self.items, self.failures, self.timings, self.trace))  # see PreparedItem

    @classmethod
    def failed(cls, reason: ReasonCode, message: str, stage: DeadLetterStage) -> Prepared:
        return cls(failures=[Failure(RecordError(reason, message), stage)])


def header(record: RecordMeta, name: str) -> str | None:
    for key, value in record.headers:
        if key == name:
            return value.decode("utf-8", "replace")
    return None


class Preparer:
    def __init__(
        self, settings: Settings, enricher: EnricherLike | None, tracing: Tracing = NO_TRACING
    ) -> None:
        self.settings = settings
        self.enricher = enricher
        self.tracing = tracing
        self._enrich_ahead = settings.pipeline.stage == Stage.ALL and enricher is not None
        self._fingerprints = settings.pipeline.stage != Stage.ENRICH
        # Validated names (settings); ZoneInfo caches one instance per key.
        self._zones = {
            source: ZoneInfo(name) for source, name in settings.pipeline.timezone_by_source.items()
        }

    def prepare_raw(self, raw: bytes, record: RecordMeta) -> Prepared:
        """Raw wire bytes -> normalized items with fingerprints and enrichment, or failures.

        With tracing on, the record gets a span (continuing the trace of a `traceparent`
        header on the raw record) and each stage a child span.
        """
        parent = self.tracing.extract(record.headers) or {}
        with self.tracing.span("record", parent=parent, kind="consumer", offset=record.offset) as span:
            prepared = self._prepare_raw(raw, record)
            _describe(span, prepared)
            prepared.trace = self.tracing.carrier()
        return prepared

    def _prepare_raw(self, raw: bytes, record: RecordMeta) -> Prepared:
        prepared = Prepared()
        stage: DeadLetterStage = "parse"
        try:
            with self._timed("parse", prepared):
                items = parse(
                    raw,
                    hint=self._format_hint(record),
                    max_item_bytes=self.settings.pipeline.max_item_bytes,
                )
            limit = self.settings.pipeline.max_items_per_record
            if len(items) > limit:
                message = f"the record holds {len(items)} items; only the first {limit} were processed"
                error = RecordError(ReasonCode.TOO_MANY_ITEMS, message, item_index=items[limit].item_index)
                prepared.failures.append(Failure(error, "parse"))
                items = items[:limit]
            raw_sha256 = sha256_hex(raw)
            redriven = header(record, HEADER_REDRIVEN) is not None
            replay = header(record, HEADER_REPLAY) is not None
            for item in items:
                stage = "normalize"
                try:
                    with self._timed("normalize", prepared):
                        article = normalize(
                            item, record, raw_sha256=raw_sha256, zone=self._zone(record, item)
                        )
                        if redriven or replay:
                            lineage = article.lineage.model_copy(
                                update={"redriven": redriven, "replay": replay}
                            )
                            article = article.model_copy(update={"lineage": lineage})
                    stage = "dedupe"
                    with self._timed("fingerprint", prepared):
                        fingerprinted = fingerprint(article, self.settings.dedupe)
                    stage = "enrich"
                    enrichment = self._enrich(article, prepared) if self._enrich_ahead else None
                    stage = "route"
                    self._check_size(article, enrichment)
                    prepared.items.append(PreparedItem(article, fingerprinted, enrichment))
                except Exception as error:
                    prepared.failures.append(_failure(error, stage, record, item.item_index))
        except Exception as error:
            prepared.failures.append(_failure(error, stage, record, None))
        return prepared

    def prepare_canonical(self, value: bytes, record: RecordMeta) -> Prepared:
        """The enrich-only stage: a canonical event from `articles.canonical` -> its enrichment."""
        parent = self.tracing.extract(record.headers) or {}
        with self.tracing.span("record", parent=parent, kind="consumer", offset=record.offset) as span:
            prepared = Prepared()
            try:
                article = CanonicalArticle.model_validate_json(value)
                enrichment = self._enrich(article, prepared)
                self._check_size(article, enrichment)
                prepared.items.append(PreparedItem(article, None, enrichment))
            except Exception as error:
                prepared.failures.append(_failure(error, "enrich", record, None))
            _describe(span, prepared)
            prepared.trace = self.tracing.carrier()
        return prepared

    def _enrich(self, article: CanonicalArticle, prepared: Prepared) -> Enrichment:
        assert self.enricher is not None
        with self._timed("enrich", prepared):
            return enrichment_of(self.enricher.enrich(article))

    def _check_size(self, article: CanonicalArticle, enrichment: Enrichment | None) -> None:
        """Refuse an event that cannot be produced, before the store records it as published."""
        if len(article.body_text) < _SIZE_CHECK_MIN_CHARS:
            return
        # The dedupe block, story id and supersedes add well under 1 KB after this point.
        size = len(to_json(article)) + (len(enrichment.json) if enrichment else 0) + 1_024
        limit = self.settings.pipeline.max_message_bytes
        if size > limit:
            raise RecordError(
                ReasonCode.OUTPUT_TOO_LARGE,
                f"the event would take about {size} bytes; pipeline.max_message_bytes is {limit}",
            )

    def _zone(self, record: RecordMeta, item: ParsedItem) -> ZoneInfo | None:
        """The configured zone of the record's 'source' header, else of the item's own source."""
        if not self._zones:
            return None
        source = header(record, HEADER_SOURCE)
        zone = self._zones.get(source) if source is not None else None
        if zone is None and item.source:
            zone = self._zones.get(item.source.strip())
        return zone

    def _format_hint(self, record: RecordMeta) -> WireFormat | None:
        source = header(record, HEADER_SOURCE)
        if source is None:
            return None
        return self.settings.pipeline.format_by_source.get(source)

    @contextmanager
    def _timed(self, stage: str, prepared: Prepared) -> Iterator[None]:
        """A stage's duration for the metrics, and its span when tracing is on."""
        started = time.perf_counter()
        try:
            with self.tracing.span(stage):
                yield
        finally:
            prepared.timings.append((stage, time.perf_counter() - started))


def _describe(span: SpanScope, prepared: Prepared) -> None:
    """What the record span can say before the dedupe decision: its items, or why it failed."""
    if prepared.failures and not prepared.items:
        first = prepared.failures[0]
        span.set(outcome="dead_letter", reason=first.error.reason.value)
    if prepared.items:
        article = prepared.items[0].article
        span.set(source=article.source, format=article.lineage.format.value, items=len(prepared.items))


def warm_up(preparer: Preparer) -> None:
    """Run the shipped samples once, so that lazily built state (the language model, the
    page extractor's imports, compiled patterns) exists before workers are forked from
    this process: otherwise every worker would pay for it on its first record, inside
    that record's time budget."""
    samples = resources.files("service") / "data" / "samples"
    record = RecordMeta(topic="warm-up", partition=0, offset=0)
    for sample in sorted(samples.iterdir(), key=lambda entry: entry.name):
        if sample.is_file():
            preparer.prepare_raw(sample.read_bytes(), record)


def _without_tracebacks(error: RecordError) -> RecordError:
    """The error without the tracebacks of its chain: their frames hold the Prepared that holds
    the error, a cycle that kept each failed record's parse data until a full collection."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.__traceback__ = None
        link = link.__cause__ or link.__context__
    return error


def _failure(error: Exception, stage: DeadLetterStage, record: RecordMeta, item_index: int | None) -> Failure:
    """A permanent failure with its reason code; unforeseen exceptions are logged as bugs."""
    if isinstance(error, RecordError) and _OUT_OF_MEMORY.search(error.message):
        # Libraries report a failed allocation in their own words (orjson: "Not enough memory to
        # allocate buffer", libxml2: "Memory allocation failed"); under the worker's memory cap
        # that is the record's size, not its syntax.
        error = RecordError(
            ReasonCode.TOO_LARGE, f"{MEMORY_BUDGET_MESSAGE}: {error.message}", item_index=item_index
        )
    if isinstance(error, RecordError):
        if error.item_index is None:
            error.item_index = item_index
        return Failure(_without_tracebacks(error), stage)
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        location = ".".join(str(part) for part in first.get("loc", ()))
        reason = RecordError(
            ReasonCode.SCHEMA_VIOLATION, f"{location}: {first.get('msg', 'invalid')}", item_index=item_index
        )
        return Failure(reason, stage)
    if isinstance(error, MemoryError):
        # The worker's address space is capped at pipeline.worker_memory_mb; this record needed more.
        return Failure(RecordError(ReasonCode.TOO_LARGE, MEMORY_BUDGET_MESSAGE, item_index=item_index), stage)
    log.exception("record_failed", stage=stage, topic=record.topic, offset=record.offset)
    message = f"{type(error).__name__}: {error}"
    return Failure(RecordError(ReasonCode.INTERNAL_ERROR, message, item_index=item_index), stage)
