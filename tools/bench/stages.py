"""Stages in process, no broker: parse+normalize, dedupe, enrich, and the whole core pipeline.

One thread, so each figure is items/s on one core. Every repetition starts
from a fresh in-memory dedupe store and runs a warm-up slice of the records
untimed (imports, caches, first allocations) before the timed slice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry

from service.dedupe import open_deduplicator
from service.enrich import load_enricher
from service.ids import sha256_hex
from service.models import CanonicalArticle, RecordMeta
from service.normalize import normalize
from service.observability import Metrics
from service.parse import parse
from service.pipeline import Pipeline
from service.settings import DedupeBackend, Settings
from tools.bench.records import BenchRecord
from tools.bench.stats import Summary


@dataclass(frozen=True)
class StageResult:
    name: str
    items_per_s: Summary
    items: int

    def as_json(self) -> dict[str, Any]:
        return {"items_per_s": self.items_per_s.as_json(), "items": self.items}


def bench_settings() -> Settings:
    return Settings.model_validate({"dedupe": {"backend": DedupeBackend.MEMORY.value}})


def record_meta(index: int, record: BenchRecord) -> RecordMeta:
    return RecordMeta(
        topic="wire.raw", partition=0, offset=index, timestamp=datetime.now(UTC), key=record.key
    )


def _normalized(records: list[BenchRecord]) -> list[CanonicalArticle]:
    articles: list[CanonicalArticle] = []
    for index, record in enumerate(records):
        meta = record_meta(index, record)
        digest = sha256_hex(record.value)
        articles.extend(normalize(item, meta, raw_sha256=digest) for item in parse(record.value))
    return articles


def _timed(run: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    items = run()
    return items, time.perf_counter() - started


def parse_normalize(records: list[BenchRecord], warmup: int) -> tuple[int, float]:
    metas = [record_meta(i, r) for i, r in enumerate(records)]

    def run(part: slice) -> int:
        count = 0
        for record, meta in zip(records[part], metas[part], strict=True):
            digest = sha256_hex(record.value)
            for item in parse(record.value):
                normalize(item, meta, raw_sha256=digest)
                count += 1
        return count

    run(slice(0, warmup))
    return _timed(lambda: run(slice(warmup, None)))


def dedupe(articles: list[CanonicalArticle], warmup: int, settings: Settings) -> tuple[int, float]:
    async def main() -> tuple[int, float]:
        deduplicator = await open_deduplicator(settings.dedupe)
        try:
            for article in articles[:warmup]:
                await deduplicator.decide(article)
            started = time.perf_counter()
            for article in articles[warmup:]:
                await deduplicator.decide(article)
            return len(articles) - warmup, time.perf_counter() - started
        finally:
            await deduplicator.close()

    return asyncio.run(main())


def enrich(articles: list[CanonicalArticle], warmup: int, enricher: Any) -> tuple[int, float]:
    for article in articles[:warmup]:
        enricher.enrich(article)

    def run() -> int:
        for article in articles[warmup:]:
            enricher.enrich(article)
        return len(articles) - warmup

    return _timed(run)


def core_pipeline(
    records: list[BenchRecord], warmup: int, settings: Settings, enricher: Any
) -> tuple[int, float]:
    """Pipeline.process_raw over every record, memory dedupe store; counts records."""
    metas = [record_meta(i, r) for i, r in enumerate(records)]

    async def main() -> tuple[int, float]:
        deduplicator = await open_deduplicator(settings.dedupe)
        pipeline = Pipeline(settings, deduplicator, enricher, Metrics(CollectorRegistry()))
        try:
            for record, meta in zip(records[:warmup], metas[:warmup], strict=True):
                await pipeline.process_raw(record.value, meta)
            started = time.perf_counter()
            for record, meta in zip(records[warmup:], metas[warmup:], strict=True):
                await pipeline.process_raw(record.value, meta)
            return len(records) - warmup, time.perf_counter() - started
        finally:
            await deduplicator.close()

    return asyncio.run(main())


def run_stages(records: list[BenchRecord], repetitions: int, warmup: int) -> list[StageResult]:
    """Items/s of each stage and of the core pipeline, `repetitions` times each."""
    settings = bench_settings()
    enricher = load_enricher(settings.enrich)
    articles = _normalized(records)
    measures: dict[str, Callable[[], tuple[int, float]]] = {
        "parse+normalize": lambda: parse_normalize(records, warmup),
        "dedupe (memory)": lambda: dedupe(articles, warmup, settings),
        "enrich": lambda: enrich(articles, warmup, enricher),
        "core pipeline": lambda: core_pipeline(records, warmup, settings, enricher),
    }
    results = []
    for name, measure in measures.items():
        rates = []
        items = 0
        for _ in range(repetitions):
            items, seconds = measure()
            rates.append(items / seconds)
        results.append(StageResult(name, Summary.of(rates), items))
    return results
