"""Fuzz target over the whole `Pipeline.process_raw` (parse to route) at a small budget."""

from __future__ import annotations

import asyncio
import os
import random
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from service.dedupe import open_deduplicator
from service.enrich import Enricher, load_enricher
from service.models import CanonicalArticle, DeadLetter, EnrichedArticle, RecordMeta
from service.observability import Metrics
from service.pipeline import Pipeline
from service.settings import Settings
from tests.faults.hostile import FAMILIES, SAMPLES, SCAN_ATTACKS, SCAN_MIN_BYTES, Context, Maker

FUZZ = settings(
    max_examples=int(os.environ.get("WIRE_INGEST_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SETTINGS = Settings.model_validate({"dedupe": {"backend": "memory"}})
RECORD = RecordMeta(
    topic="wire.raw", partition=0, offset=7, timestamp=datetime(2024, 5, 1, tzinfo=UTC), key=b"k"
)
TOPICS = SETTINGS.topics
MODELS = {
    TOPICS.canonical: CanonicalArticle,
    TOPICS.duplicates: CanonicalArticle,
    TOPICS.enriched: EnrichedArticle,
    TOPICS.dlq: DeadLetter,
}


@cache
def enricher() -> Enricher:
    return load_enricher(SETTINGS.enrich)


async def _process(raw: bytes) -> list[tuple[str, bytes]]:
    deduplicator = await open_deduplicator(SETTINGS.dedupe)
    pipeline = Pipeline(SETTINGS, deduplicator, enricher(), Metrics(CollectorRegistry()))
    try:
        result = await pipeline.process_raw(raw, RECORD)
    finally:
        await deduplicator.close()
    return [(message.topic, message.value) for message in result.outbound]


def check_record(raw: bytes) -> None:
    """One single-item record: one dead letter, or events and no dead letter; every message valid."""
    messages = asyncio.run(_process(raw))
    topics = [topic for topic, _ in messages]
    assert topics, "a record vanished without any output"
    for topic, value in messages:
        MODELS[topic].model_validate_json(value)
    if TOPICS.dlq in topics:
        assert topics == [TOPICS.dlq]
        assert DeadLetter.model_validate_json(messages[0][1]).reason != "internal_error"


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_through_the_pipeline(raw: bytes) -> None:
    """Random bytes through the whole pipeline: valid messages only, never an internal error."""
    check_record(raw)


@FUZZ
@given(st.sampled_from(FAMILIES), st.integers(min_value=0, max_value=2**32 - 1))
def test_hostile_families_through_the_pipeline(family: Maker, seed: int) -> None:
    """Each hostile family of the fault corpus, at random seeds, through the whole pipeline."""
    check_record(family(random.Random(seed), seed, Context("fuzz", Path(os.devnull))).value)


@FUZZ
@given(st.sampled_from(SAMPLES), st.data())
def test_cut_samples_through_the_pipeline(sample: bytes, data: st.DataObject) -> None:
    """A single-item sample cut at any point, through the whole pipeline."""
    check_record(sample[: data.draw(st.integers(min_value=0, max_value=len(sample)))])


@FUZZ
@given(st.sampled_from(sorted(SCAN_ATTACKS)), st.integers(min_value=SCAN_MIN_BYTES, max_value=400_000))
def test_scan_attacks_through_the_pipeline(name: str, size: int) -> None:
    """Each input that once cost a quadratic scan, at any size up to 400 KB, through the whole pipeline."""
    check_record(SCAN_ATTACKS[name](size))
