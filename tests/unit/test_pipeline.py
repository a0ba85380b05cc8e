"""One record through the pipeline (no broker): routing, dead letters, the per-record guard."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime

import orjson
import pytest
from prometheus_client import CollectorRegistry

from service.dedupe import open_deduplicator
from service.dedupe.deduplicator import Fingerprint
from service.enrich import load_enricher
from service.errors import StoreUnavailableError
from service.models import CanonicalArticle, EnrichedArticle, RecordMeta
from service.observability import Metrics
from service.pipeline import Pipeline
from service.settings import Settings
from tests.conftest import SAMPLES

SEED = SAMPLES / "xinhua_xi_aliyev_samarkand.txt"


def _record(offset: int = 0) -> RecordMeta:
    return RecordMeta(
        topic="wire.raw", partition=1, offset=offset, timestamp=datetime(2022, 9, 16, 8, tzinfo=UTC), key=b"k"
    )


def _settings(**pipeline: object) -> Settings:
    return Settings.model_validate({"dedupe": {"backend": "memory"}, "pipeline": pipeline})


class _ExplodingEnricher:
    registry_version = "test"

    def enrich(self, article: CanonicalArticle) -> EnrichedArticle:
        raise ZeroDivisionError("a bug in enrichment")


class _DownDeduplicator:
    async def decide(self, article: CanonicalArticle, known: Fingerprint | None = None) -> CanonicalArticle:
        raise StoreUnavailableError("redis is down")

    async def committed(self, positions: Mapping[tuple[str, int], int]) -> None:
        raise StoreUnavailableError("redis is down")

    def state_size(self) -> int:
        return 0

    async def close(self) -> None:
        return None


async def test_seed_story_goes_to_canonical_and_enriched() -> None:
    """A good item yields one canonical and one enriched message keyed by its story ID."""
    settings = _settings()
    deduplicator = await open_deduplicator(settings.dedupe)
    pipeline = Pipeline(settings, deduplicator, load_enricher(settings.enrich), Metrics(CollectorRegistry()))
    result = await pipeline.process_raw(SEED.read_bytes(), _record())
    assert [m.topic for m in result.outbound] == ["articles.canonical", "articles.enriched"]
    canonical = orjson.loads(result.outbound[0].value)
    assert result.outbound[0].key == canonical["story_id"].encode()
    assert canonical["lineage"]["partition"] == 1
    assert [(o.kind, o.reason) for o in result.outcomes] == [("published", "new")]


async def test_same_record_twice_gives_identical_messages() -> None:
    """A redelivered Kafka record (same offset) reproduces byte-identical output: at-least-once."""
    settings = _settings()
    deduplicator = await open_deduplicator(settings.dedupe)
    pipeline = Pipeline(settings, deduplicator, load_enricher(settings.enrich), Metrics(CollectorRegistry()))
    first = await pipeline.process_raw(SEED.read_bytes(), _record(offset=7))
    second = await pipeline.process_raw(SEED.read_bytes(), _record(offset=7))
    assert [m.value for m in first.outbound] == [m.value for m in second.outbound]
    third = await pipeline.process_raw(SEED.read_bytes(), _record(offset=8))
    assert [m.topic for m in third.outbound] == ["articles.duplicates"]
    assert orjson.loads(third.outbound[0].value)["dedupe"]["relation"] == "redelivery"


async def test_unparseable_bytes_become_a_dead_letter_with_the_original_bytes() -> None:
    """Bad input yields exactly one dead letter carrying the reason and the raw bytes."""
    settings = _settings()
    deduplicator = await open_deduplicator(settings.dedupe)
    pipeline = Pipeline(settings, deduplicator, None, Metrics(CollectorRegistry()))
    raw = b"\x00\x01\x02 definitely not a wire item \xff"
    result = await pipeline.process_raw(raw, _record(offset=3))
    [message] = result.outbound
    assert message.topic == "wire.dlq"
    letter = orjson.loads(message.value)
    assert base64.b64decode(letter["raw_base64"]) == raw
    assert letter["source_offset"] == 3
    assert dict(message.headers)["dlq-reason"] == letter["reason"].encode()
    assert result.outcomes[0].kind == "dead_letter"


async def test_a_bug_in_a_stage_is_caught_per_record() -> None:
    """An unforeseen exception becomes an internal_error dead letter instead of crashing the consumer."""
    settings = _settings()
    deduplicator = await open_deduplicator(settings.dedupe)
    pipeline = Pipeline(settings, deduplicator, _ExplodingEnricher(), Metrics(CollectorRegistry()))
    result = await pipeline.process_raw(SEED.read_bytes(), _record())
    letters = [orjson.loads(m.value) for m in result.outbound if m.topic == "wire.dlq"]
    assert [letter["reason"] for letter in letters] == ["internal_error"]
    assert "ZeroDivisionError" in letters[0]["error"]


async def test_store_outage_is_not_swallowed() -> None:
    """A dedupe store outage propagates so the shell pauses instead of publishing unchecked."""
    settings = _settings()
    pipeline = Pipeline(settings, _DownDeduplicator(), None, Metrics(CollectorRegistry()))
    with pytest.raises(StoreUnavailableError):
        await pipeline.process_raw(SEED.read_bytes(), _record())


async def test_ingest_stage_publishes_no_enriched_events() -> None:
    """With stage=ingest, enrichment is left to the separate enrich consumer."""
    settings = _settings(stage="ingest")
    deduplicator = await open_deduplicator(settings.dedupe)
    pipeline = Pipeline(settings, deduplicator, None, Metrics(CollectorRegistry()))
    result = await pipeline.process_raw(SEED.read_bytes(), _record())
    assert [m.topic for m in result.outbound] == ["articles.canonical"]
    enrich_settings = _settings(stage="enrich")
    enricher_pipeline = Pipeline(
        enrich_settings, deduplicator, load_enricher(enrich_settings.enrich), Metrics(CollectorRegistry())
    )
    enriched = enricher_pipeline.process_canonical(result.outbound[0].value, _record())
    assert [m.topic for m in enriched.outbound] == ["articles.enriched"]
    garbage = enricher_pipeline.process_canonical(b'{"not": "an article"}', _record())
    assert [orjson.loads(m.value)["reason"] for m in garbage.outbound] == ["schema_violation"]


async def test_enriched_event_is_the_decided_enriched_model_byte_for_byte() -> None:
    """The enriched event spliced from the canonical JSON and the worker's enrichment bytes is
    exactly what serializing the whole EnrichedArticle (with the dedupe decision) gives."""
    settings = _settings()
    enricher = load_enricher(settings.enrich)
    deduplicator = await open_deduplicator(settings.dedupe)
    pipeline = Pipeline(settings, deduplicator, enricher, Metrics(CollectorRegistry()))
    result = await pipeline.process_raw(SEED.read_bytes(), _record())
    canonical, enriched = result.outbound
    decided = CanonicalArticle.model_validate_json(canonical.value)
    whole = enricher.enrich(decided)
    assert whole.countries, "the seed story names countries: the splice is tested on a non-empty list"
    assert enriched.value == whole.model_dump_json().encode()
    assert EnrichedArticle.model_validate_json(enriched.value) == whole
