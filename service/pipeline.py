"""The pipeline for one record: parse -> normalize -> dedupe -> enrich -> route.

No Kafka here: the shell (`service.shell`) and the offline `wire-ingest
process` command both call `Pipeline.process_raw` / `process_canonical` and
produce what comes back. This module is the one per-record guard: any
exception while processing a record becomes a dead letter with a reason, so
nothing crashes the consumer. The only exception that escapes is
`StoreUnavailableError`, which is retriable: the shell waits and retries the
record rather than publishing unchecked duplicates.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from pydantic import ValidationError

from .errors import ReasonCode, RecordError, StoreUnavailableError
from .ids import sha256_hex
from .models import CanonicalArticle, EnrichedArticle, RecordMeta, WireFormat
from .normalize import normalize
from .observability import Metrics
from .parse import parse
from .route import (
    HEADER_REDRIVEN,
    HEADER_REPLAY,
    HEADER_SOURCE,
    Outbound,
    Outcome,
    dead_letter,
    is_published,
    outcome_of,
    route_canonical,
    route_enriched,
)
from .settings import Settings, Stage

log = structlog.get_logger("wire_ingest.pipeline")


class DeduplicatorLike(Protocol):
    async def decide(self, article: CanonicalArticle) -> CanonicalArticle: ...
    def state_size(self) -> int: ...
    async def close(self) -> None: ...


class EnricherLike(Protocol):
    registry_version: str

    def enrich(self, article: CanonicalArticle) -> EnrichedArticle: ...


@dataclass
class RecordResult:
    """Everything one input record turns into."""

    outbound: list[Outbound] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)


def _header(record: RecordMeta, name: str) -> str | None:
    for key, value in record.headers:
        if key == name:
            return value.decode("utf-8", "replace")
    return None


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        deduplicator: DeduplicatorLike,
        enricher: EnricherLike | None,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.topics = settings.topics
        self.deduplicator = deduplicator
        self.enricher = enricher
        self.metrics = metrics
        self._publish_enriched = settings.pipeline.stage == Stage.ALL and enricher is not None

    @contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.metrics.stage_latency.labels(stage).observe(time.perf_counter() - started)

    def _format_hint(self, record: RecordMeta) -> WireFormat | None:
        source = _header(record, HEADER_SOURCE)
        if source is None:
            return None
        return self.settings.pipeline.format_by_source.get(source)

    async def process_raw(self, raw: bytes, record: RecordMeta) -> RecordResult:
        """Raw wire bytes -> canonical (+ enriched) events, duplicates, or dead letters."""
        result = RecordResult()
        stage = "parse"
        try:
            with self._timed("parse"):
                items = parse(
                    raw, hint=self._format_hint(record), max_item_bytes=self.settings.pipeline.max_item_bytes
                )
            raw_sha256 = sha256_hex(raw)
            redriven = _header(record, HEADER_REDRIVEN) is not None
            replay = _header(record, HEADER_REPLAY) is not None
            for item in items:
                stage = "normalize"
                try:
                    with self._timed("normalize"):
                        article = normalize(item, record, raw_sha256=raw_sha256)
                        if redriven or replay:
                            lineage = article.lineage.model_copy(
                                update={"redriven": redriven, "replay": replay}
                            )
                            article = article.model_copy(update={"lineage": lineage})
                    self.metrics.items_by_source.labels(article.source, article.lineage.format.value).inc()
                    self.metrics.source_last_item.labels(article.source).set(time.time())
                    stage = "dedupe"
                    with self._timed("dedupe"):
                        article = await self.deduplicator.decide(article)
                    self._route(article, result)
                except RecordError as error:
                    if error.item_index is None:
                        error.item_index = item.item_index
                    self._dead_letter(error, stage, raw, record, result)
        except StoreUnavailableError:
            raise
        except RecordError as error:
            self._dead_letter(error, stage, raw, record, result)
        except ValidationError as error:
            self._dead_letter(
                RecordError(ReasonCode.SCHEMA_VIOLATION, _first_error(error)), stage, raw, record, result
            )
        except Exception as error:  # the per-record guard: a bug must not stop the partition
            log.exception("record_failed", stage=stage, topic=record.topic, offset=record.offset)
            self._dead_letter(
                RecordError(ReasonCode.INTERNAL_ERROR, f"{type(error).__name__}: {error}"),
                stage,
                raw,
                record,
                result,
            )
        return result

    def process_canonical(self, value: bytes, record: RecordMeta) -> RecordResult:
        """The enrich-only stage: a canonical event from `articles.canonical` -> enriched event."""
        result = RecordResult()
        try:
            article = CanonicalArticle.model_validate_json(value)
            self._enrich(article, result)
        except ValidationError as error:
            self._dead_letter(
                RecordError(ReasonCode.SCHEMA_VIOLATION, _first_error(error)), "enrich", value, record, result
            )
        except Exception as error:  # the per-record guard, as in process_raw
            log.exception("record_failed", stage="enrich", topic=record.topic, offset=record.offset)
            self._dead_letter(
                RecordError(ReasonCode.INTERNAL_ERROR, f"{type(error).__name__}: {error}"),
                "enrich",
                value,
                record,
                result,
            )
        return result

    def _route(self, article: CanonicalArticle, result: RecordResult) -> None:
        with self._timed("route"):
            result.outbound.append(route_canonical(article, self.topics))
        result.outcomes.append(outcome_of(article))
        if self._publish_enriched and is_published(article):
            self._enrich(article, result)

    def _enrich(self, article: CanonicalArticle, result: RecordResult) -> None:
        if self.enricher is None:
            return
        with self._timed("enrich"):
            enriched = self.enricher.enrich(article)
        self.metrics.enrich_coverage.labels("country").inc(len(enriched.countries))
        self.metrics.enrich_coverage.labels("leader").inc(len(enriched.leaders))
        if not enriched.countries:
            self.metrics.enriched_without_entities.labels("country").inc()
        if not enriched.leaders:
            self.metrics.enriched_without_entities.labels("leader").inc()
        result.outbound.append(route_enriched(enriched, self.topics))

    def _dead_letter(
        self, error: RecordError, stage: str, raw: bytes, record: RecordMeta, result: RecordResult
    ) -> None:
        log.warning(
            "dead_letter",
            reason=error.reason.value,
            error=error.message[:300],
            stage=stage,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        outbound, outcome = dead_letter(error, stage, raw, record, self.topics)
        result.outbound.append(outbound)
        result.outcomes.append(outcome)


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first.get("loc", ()))
    return f"{location}: {first.get('msg', 'invalid')}"
