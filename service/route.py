"""Route stage: decide which topics an item goes to, with which key and headers.

Pure functions over models. Keys are the story ID, so every version,
correction, kill and near-duplicate of one story lands on one partition, in
order. Headers let consumers filter without parsing the value.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from .errors import RecordError
from .ids import sha256_hex
from .models import SCHEMA_VERSION, CanonicalArticle, DeadLetter, EnrichedArticle, RecordMeta, Relation
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
        value=article.model_dump_json().encode(),
        headers=_headers("canonical" if published else "duplicate", article.event_id, article.source),
    )


def route_enriched(article: EnrichedArticle, topics: TopicSettings) -> Outbound:
    return Outbound(
        topic=topics.enriched,
        key=article.story_id.encode(),
        value=article.model_dump_json().encode(),
        headers=_headers("enriched", article.event_id, article.source),
    )


def is_published(article: CanonicalArticle) -> bool:
    return article.dedupe.relation in PUBLISHED_RELATIONS


def dead_letter(
    error: RecordError, stage: str, raw: bytes, record: RecordMeta, topics: TopicSettings
) -> tuple[Outbound, Outcome]:
    """The dead-letter record: reason, message, where it came from and the original bytes."""
    letter = DeadLetter.model_validate(
        {
            "reason": error.reason.value,
            "error": error.message[:2000],
            "stage": stage,
            "item_index": error.item_index,
            "source_topic": record.topic,
            "source_partition": record.partition,
            "source_offset": record.offset,
            "source_timestamp": record.timestamp,
            "source_key_base64": base64.b64encode(record.key).decode() if record.key is not None else None,
            "source_headers": {k: v.decode("utf-8", "replace") for k, v in record.headers},
            "raw_sha256": sha256_hex(raw),
            "raw_size": len(raw),
            "raw_base64": base64.b64encode(raw).decode(),
        }
    )
    headers = (
        *_headers("dead_letter", None, None),
        ("dlq-reason", error.reason.value.encode()),
        ("dlq-stage", stage.encode()),
    )
    source = next((v.decode("utf-8", "replace") for k, v in record.headers if k == HEADER_SOURCE), "unknown")
    outbound = Outbound(
        topic=topics.dlq, key=record.key, value=letter.model_dump_json().encode(), headers=headers
    )
    return outbound, Outcome(kind="dead_letter", reason=error.reason.value, source=source)
