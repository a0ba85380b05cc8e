"""Route stage: decide which topics an item goes to, with which key and headers.

Pure functions over models. Keys are the story ID, so every version,
correction, kill and near-duplicate of one story lands on one partition, in
order. Headers let consumers filter without parsing the value.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import RecordError
from .ids import sha256_hex
from .models import (
    SCHEMA_VERSION,
    CanonicalArticle,
    DeadLetter,
    DeadLetterStage,
    EnrichedArticle,
    RecordMeta,
    Relation,
)
from .settings import TopicSettings

CONTENT_TYPE_JSON = b"application/json"
HEADER_REDRIVEN = "wire-ingest-redriven"
HEADER_REPLAY = "wire-ingest-replay"
HEADER_SOURCE = "source"
HEADER_FORMAT = "wire-format"

PUBLISHED_RELATIONS = frozenset({Relation.NEW, Relation.UPDATE, Relation.KILL})


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message to produce."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one item, for metrics: kind published|update|kill|duplicate|dead_letter."""

    kind: str
    reason: str
    source: str = "unknown"


def _headers(event_type: str, event_id: str | None, source: str | None) -> tuple[tuple[str, bytes], ...]:
    headers: list[tuple[str, bytes]] = [
        ("content-type", CONTENT_TYPE_JSON),
        ("schema-version", SCHEMA_VERSION.encode()),
        ("event-type", event_type.encode()),
    ]
    if event_id:
        headers.append(("event-id", event_id.encode()))
    if source:
        headers.append(("source", source.encode("utf-8", "replace")))
    return tuple(headers)


def outcome_of(article: CanonicalArticle) -> Outcome:
    relation = article.dedupe.relation
    kind = {
        Relation.NEW: "published",
        Relation.UPDATE: "update",
        Relation.KILL: "kill",
    }.get(relation, "duplicate")
    return Outcome(kind=kind, reason=relation.value, source=article.source)


def route_canonical(article: CanonicalArticle, topics: TopicSettings) -> Outbound:
    """Published relations go to the canonical topic; everything else to the duplicates topic."""
    published = article.dedupe.relation in PUBLISHED_RELATIONS
    return Outbound(
        topic=topics.canonical if published else topics.duplicates,
        key=article.story_id.encode(),
        value=to_json(article),
        headers=_headers("canonical" if published else "duplicate", article.event_id, article.source),
    )


def route_enriched(article: EnrichedArticle, topics: TopicSettings) -> Outbound:
    return Outbound(
        topic=topics.enriched,
        key=article.story_id.encode(),
        value=to_json(article),
        headers=_headers("enriched", article.event_id, article.source),
    )


# EnrichedArticle is CanonicalArticle plus these fields, declared after it (a unit test pins it down).
ENRICHMENT_FIELDS = frozenset(EnrichedArticle.model_fields) - frozenset(CanonicalArticle.model_fields)
_INCLUDE_ENRICHMENT = set(ENRICHMENT_FIELDS)


@dataclass(frozen=True, slots=True)
class Enrichment:
    """The enricher's fields of an event, serialized once where they were computed.

    A worker sends these bytes instead of the EnrichedArticle: the shell would
    otherwise unpickle a model per country and leader mention (most of its CPU
    per record) and serialize the canonical fields a second time.
    """

    json: bytes  # the members `"countries":[..],"leaders":[..],...`, without braces
    countries: int
    leaders: int


def enrichment_of(enriched: EnrichedArticle) -> Enrichment:
    members = enriched.__pydantic_serializer__.to_json(enriched, include=_INCLUDE_ENRICHMENT)
    return Enrichment(members[1:-1], len(enriched.countries), len(enriched.leaders))


def route_enrichment(
    article: CanonicalArticle, canonical_json: bytes, enrichment: Enrichment, topics: TopicSettings
) -> Outbound:
    """The enriched event of `article` (its JSON in `canonical_json`): byte for byte what
    `route_enriched` gives for the same EnrichedArticle, with the canonical fields serialized once."""
    return Outbound(
        topic=topics.enriched,
        key=article.story_id.encode(),
        value=b"%b,%b}" % (canonical_json[:-1], enrichment.json),
        headers=_headers("enriched", article.event_id, article.source),
    )


def to_json(article: CanonicalArticle) -> bytes:
    """The event's JSON (pydantic's serializer directly: model_dump_json decodes it to str)."""
    return article.__pydantic_serializer__.to_json(article)


def is_published(article: CanonicalArticle) -> bool:
    return article.dedupe.relation in PUBLISHED_RELATIONS


@dataclass(frozen=True, slots=True)
class Failure:
    """A permanent failure of a record or of one of its items, with the stage it happened in."""

    error: RecordError
    stage: DeadLetterStage


# What a Kafka record costs besides key, value and headers (batch and record framing), rounded up.
_RECORD_OVERHEAD = 512
# A dead letter lists at most this many failed items; a record with more says so in `error`.
MAX_LISTED_FAILURES = 1000


def message_size(outbound: Outbound) -> int:
    """Bytes the message takes against a broker's max.message.bytes (framing estimated high)."""
    headers = sum(len(key) + len(value) for key, value in outbound.headers)
    return len(outbound.value) + len(outbound.key or b"") + headers + _RECORD_OVERHEAD


def dead_letter(
    failures: Sequence[Failure],
    raw: bytes,
    record: RecordMeta,
    topics: TopicSettings,
    *,
    max_message_bytes: int,
) -> tuple[Outbound, Outcome]:
    """The one dead letter of a record: why it failed, where it came from and its original bytes.

    The message never exceeds `max_message_bytes`: when the whole record does not fit,
    the letter carries the longest prefix that does and says so (`raw_truncated`).
    """
    first = failures[0]
    listed = failures[:MAX_LISTED_FAILURES]
    error = first.error.message[:2000]
    if len(failures) > len(listed):
        error = f"{error} (and {len(failures) - 1} more failed items; the first {len(listed)} are listed)"
    fields = {
        "reason": first.error.reason.value,
        "error": error,
        "stage": first.stage,
        "item_index": first.error.item_index,
        "failed_items": [
            {
                "item_index": failure.error.item_index,
                "reason": failure.error.reason.value,
                "error": failure.error.message[:300],
                "stage": failure.stage,
            }
            for failure in listed
            if failure.error.item_index is not None
        ],
        "source_topic": record.topic,
        "source_partition": record.partition,
        "source_offset": record.offset,
        "source_timestamp": record.timestamp,
        "source_key_base64": base64.b64encode(record.key).decode() if record.key is not None else None,
        "source_headers": {k: v.decode("utf-8", "replace") for k, v in record.headers},
        "raw_sha256": sha256_hex(raw),
        "raw_size": len(raw),
    }
    headers = (
        *_headers("dead_letter", None, None),
        ("dlq-reason", first.error.reason.value.encode()),
        ("dlq-stage", first.stage.encode()),
    )
    source = next((v.decode("utf-8", "replace") for k, v in record.headers if k == HEADER_SOURCE), "unknown")

    def build(prefix: bytes, truncated: bool) -> Outbound:
        letter = DeadLetter.model_validate(
            {**fields, "raw_base64": base64.b64encode(prefix).decode(), "raw_truncated": truncated}
        )
        return Outbound(topics.dlq, record.key, letter.model_dump_json().encode(), headers)

    outbound = build(raw, False)
    excess = message_size(outbound) - max_message_bytes
    if excess > 0:
        # base64 turns 3 bytes into 4: drop enough raw bytes to shed `excess` encoded ones.
        keep = max(0, len(raw) - (excess * 3 + 3) // 4 - 3)
        outbound = build(raw[:keep], True)
        if message_size(outbound) > max_message_bytes:  # the metadata alone is too large
            fields["failed_items"] = []
            fields["source_headers"] = {}
            outbound = build(b"", True)
    return outbound, Outcome(kind="dead_letter", reason=first.error.reason.value, source=source)
