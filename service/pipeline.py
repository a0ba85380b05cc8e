"""The pipeline for one record: prepare (parse -> normalize -> fingerprint -> enrich), then
decide (dedupe) and route.

No Kafka here: the shell (`service.shell`) and the offline `wire-ingest process`
command both call it and produce what comes back. The CPU half
(`service.prepare`) runs in a worker process when a pool is given; the second
half runs here, in the service's process, because it talks to the dedupe store
and must see each partition's records in input order.

Every failure of a record becomes exactly one dead letter, however many items
failed. The only exception that escapes is `StoreUnavailableError`, which can
heal: the shell holds the partition and retries the record rather than publish
unchecked duplicates.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

import structlog

from .dedupe.deduplicator import Deduplicator, Fingerprint
from .errors import ReasonCode, RecordError, StoreUnavailableError, WorkerLostError
from .models import CanonicalArticle, RecordMeta
from .observability import Metrics
from .prepare import EnricherLike, Prepared, PreparedItem, Preparer
from .route import (
    Enrichment,
    Failure,
    Outbound,
    Outcome,
    dead_letter,
    is_published,
    message_size,
    outcome_of,
    route_canonical,
    route_enrichment,
    to_json,
)
from .settings import Settings, Stage
from .tracing import NO_TRACING, Carrier, Tracing

if TYPE_CHECKING:
    from .workers import PreparedSink

log = structlog.get_logger("wire_ingest.pipeline")


class DeduplicatorLike(Protocol):
    async def decide(
        self, article: CanonicalArticle, known: Fingerprint | None = None
    ) -> CanonicalArticle: ...
    async def committed(self, positions: Mapping[tuple[str, int], int]) -> None: ...
    def state_size(self) -> int: ...
    async def close(self) -> None: ...


class PreparerPool(Protocol):
    """Worker processes running `Preparer` (see `service.workers.WorkerPool`)."""

    def hand(self, kind: str, value: bytes, record: RecordMeta, sink: PreparedSink) -> None: ...

    async def wait_started(self) -> None: ...


@dataclass
class RecordResult:
    """Everything one input record turns into."""

    outbound: list[Outbound] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    trace: Carrier | None = None  # the record span's context (tracing on), to parent the produce span


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        deduplicator: DeduplicatorLike,
        enricher: EnricherLike | None,
        metrics: Metrics,
        workers: PreparerPool | None = None,
        *,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        self.settings = settings
        self.tracing = tracing
        self.topics = settings.topics
        self.deduplicator = deduplicator
        self.enricher = enricher
        self.metrics = metrics
        self.workers = workers
        self.preparer = Preparer(settings, enricher, tracing)
        self._enrich_stage = settings.pipeline.stage == Stage.ENRICH
        self._max_message_bytes = settings.pipeline.max_message_bytes

    # ------------------------------------------------------------ the CPU half

    def submit(self, value: bytes, record: RecordMeta) -> asyncio.Future[Prepared]:
        """Parse .. enrich one record, in a worker when there is a pool, as a future (no task per
        record); it resolves to a Prepared, failures included. Cancelling it abandons the record."""
        loop = asyncio.get_running_loop()
        kind = "canonical" if self._enrich_stage else "raw"
        if self.workers is None:
            done: asyncio.Future[Prepared] = loop.create_future()
            done.set_result(self._prepare_here(value, record))
            return done
        return _InWorkers(self.workers, kind, value, record).prepared

    async def prepare(self, value: bytes, record: RecordMeta) -> Prepared:
        """`submit`, awaited."""
        return await self.submit(value, record)

    def _prepare_here(self, value: bytes, record: RecordMeta) -> Prepared:
        if self._enrich_stage:
            return self.preparer.prepare_canonical(value, record)
        return self.preparer.prepare_raw(value, record)

    # ------------------------------------------------------------ decide and route

    async def decide_ahead(self, round_: Sequence[Prepared]) -> None:
        """Take the dedupe decisions of a round of prepared records at once, in input order,
        where the store allows it (see `Deduplicator.decide_ahead`); `finish` then uses them."""
        # Only the plain Deduplicator: wrappers (ops tools) look at each `decide` call themselves.
        if self._enrich_stage or not isinstance(self.deduplicator, Deduplicator):
            return
        items = [(item.article, item.fingerprint) for prepared in round_ for item in prepared.items]
        await self.deduplicator.decide_ahead(items)

    async def finish(self, prepared: Prepared, value: bytes, record: RecordMeta) -> RecordResult:
        """Dedupe decisions (store I/O) and routing for a prepared record, in input order.

        Raises StoreUnavailableError when the store cannot be reached; nothing of the record
        is produced then, and the shell retries the record later.
        """
        with self.tracing.span("dedupe", parent=prepared.trace) as span:
            if self._enrich_stage:
                result = self._finish_enriched(prepared, value, record)
            else:
                result = await self._decide_and_route(prepared, value, record)
            result.trace = prepared.trace
            if self.tracing.enabled:
                # Each message carries the traceparent of this span, child of the record's span.
                result.outbound = [
                    replace(message, headers=self.tracing.inject(message.headers))
                    for message in result.outbound
                ]
                for outcome in result.outcomes:
                    span.set(outcome=outcome.kind, reason=outcome.reason)
        return result

    async def _decide_and_route(self, prepared: Prepared, value: bytes, record: RecordMeta) -> RecordResult:
        self._observe(prepared)
        result = RecordResult()
        failures = list(prepared.failures)
        for item in prepared.items:
            try:
                decided = await self.deduplicator.decide(item.article, item.fingerprint)
                self.metrics.child(
                    self.metrics.items_by_source, decided.source, decided.lineage.format.value
                ).inc()
                self.metrics.child(self.metrics.source_last_item, decided.source).set(time.time())
                canonical = route_canonical(decided, self.topics)
                outbound = [canonical]
                if item.enrichment is not None and is_published(decided):
                    self._count_entities(item.enrichment)
                    outbound.append(route_enrichment(decided, canonical.value, item.enrichment, self.topics))
                self._add(result, outbound, outcome_of(decided), failures)
            except StoreUnavailableError:
                raise
            except RecordError as error:
                error.item_index = item.article.lineage.item_index
                failures.append(Failure(error, "dedupe"))
        self._dead_letter(result, failures, value, record)
        return result

    def _finish_enriched(self, prepared: Prepared, value: bytes, record: RecordMeta) -> RecordResult:
        """The enrich-only stage: route the enrichment of a canonical event (no decision to take)."""
        self._observe(prepared)
        result = RecordResult()
        failures = list(prepared.failures)
        for item in prepared.items:
            assert item.enrichment is not None
            self._count_entities(item.enrichment)
            message = route_enrichment(item.article, to_json(item.article), item.enrichment, self.topics)
            self._add(result, [message], None, failures)
        self._dead_letter(result, failures, value, record)
        return result

    def _dead_letter(
        self, result: RecordResult, failures: list[Failure], value: bytes, record: RecordMeta
    ) -> None:
        """One dead letter for every failure of the record, in item order, or none."""
        if not failures:
            return
        failures.sort(key=_failure_order)
        first = failures[0]
        log.warning(
            "dead_letter",
            reason=first.error.reason.value,
            error=first.error.message[:300],
            stage=first.stage,
            failed_items=len(failures),
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        letter, outcome = dead_letter(
            failures, value, record, self.topics, max_message_bytes=self._max_message_bytes
        )
        result.outbound.append(letter)
        result.outcomes.append(outcome)

    def _add(
        self, result: RecordResult, outbound: list[Outbound], outcome: Outcome | None, failures: list[Failure]
    ) -> None:
        """An item's messages, unless one would exceed the output budget (then the item fails)."""
        largest = max(map(message_size, outbound))
        if largest > self._max_message_bytes:
            message = (
                f"an event of {largest} bytes exceeds pipeline.max_message_bytes ({self._max_message_bytes})"
            )
            failures.append(Failure(RecordError(ReasonCode.OUTPUT_TOO_LARGE, message), "route"))
            return
        result.outbound.extend(outbound)
        if outcome is not None:  # the enrich-only stage counts no outcomes: ingest counted them
            result.outcomes.append(outcome)

    def _observe(self, prepared: Prepared) -> None:
        for stage, seconds in prepared.timings:
            self.metrics.child(self.metrics.stage_latency, stage).observe(seconds)

    def _count_entities(self, enrichment: Enrichment) -> None:
        for kind, found in (("country", enrichment.countries), ("leader", enrichment.leaders)):
            if found:
                self.metrics.child(self.metrics.enrich_coverage, kind).inc(found)
            else:
                self.metrics.child(self.metrics.enriched_without_entities, kind).inc()

    # ------------------------------------------------------------ both halves

    async def process_raw(self, raw: bytes, record: RecordMeta) -> RecordResult:
        """Raw wire bytes -> canonical (+ enriched) events, duplicates, or one dead letter."""
        return await self.finish(await self.prepare(raw, record), raw, record)

    def process_canonical(self, value: bytes, record: RecordMeta) -> RecordResult:
        """The enrich-only stage in process: a canonical event -> enriched event or dead letter."""
        return self._finish_enriched(self.preparer.prepare_canonical(value, record), value, record)


class _InWorkers:
    """One record's trips to the worker pool: the first, and one more if its worker crashed.

    A worker can die of something else than its record (the kernel's OOM killer picking it, an
    operator's kill): a second try on a fresh worker tells the two apart. The pool answers this
    object directly (a `PreparedSink`): a future per trip with its done-callbacks cost three
    scheduled callbacks a record. Cancelling `prepared` abandons the record: a trip still
    waiting for a worker is skipped, an answer already coming is dropped.
    """

    def __init__(self, workers: PreparerPool, kind: str, value: bytes, record: RecordMeta) -> None:
        self.prepared: asyncio.Future[Prepared] = asyncio.get_running_loop().create_future()
        self._workers, self._kind, self._value, self._record = workers, kind, value, record
        self._retried = False
        workers.hand(kind, value, record, self)

    def done(self) -> bool:
        return self.prepared.done()

    def answer(self, prepared: Prepared) -> None:
        if not self.prepared.done():
            self.prepared.set_result(prepared)

    def fail(self, error: Exception) -> None:
        prepared = self.prepared
        if prepared.done():  # abandoned
            return
        if not isinstance(error, WorkerLostError):
            # The pool could not start: the shell ends on the first record's error. The same
            # error on every other record in flight is not worth a "never retrieved" log each.
            prepared.add_done_callback(_retrieve_exception)
            prepared.set_exception(error)
        elif error.timed_out:
            prepared.set_result(Prepared.failed(ReasonCode.PROCESSING_TIMEOUT, str(error), "worker"))
        elif self._retried:
            prepared.set_result(Prepared.failed(ReasonCode.WORKER_CRASHED, str(error), "worker"))
        else:
            self._retried = True
            self._workers.hand(self._kind, self._value, self._record, self)


def _retrieve_exception(future: asyncio.Future[Prepared]) -> None:
    future.exception()


def _failure_order(failure: Failure) -> tuple[int, int]:
    """Record-wide failures first, then the items left out, then item by item."""
    if failure.error.item_index is None:
        return (0, 0)
    if failure.error.reason == ReasonCode.TOO_MANY_ITEMS:
        return (1, 0)
    return (2, failure.error.item_index)


__all__ = ["Pipeline", "PreparedItem", "RecordResult"]
