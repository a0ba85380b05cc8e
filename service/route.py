"""Route stage: decide which topics an item goes to, with which key and headers.

Pure functions over models. Keys are the story ID, so every version,
correction, kill and near-duplicate of one story lands on one partition, in
order. Headers let consumers filter without parsing the value.

Every message is also a CloudEvent in the Kafka protocol binding's binary
content mode: `ce_*` headers carry the context attributes, `content-type` the
data content type, the value is the data. The attributes are derived from the
event alone (no clock), so a replay or a redelivery carries the same ones.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain

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
    rfc3339_utc,
)
from .settings import TopicSettings

CONTENT_TYPE_JSON = b"application/json"
HEADER_REDRIVEN = "wire-ingest-redriven"
HEADER_REPLAY = "wire-ingest-replay"
HEADER_SOURCE = "source"
HEADER_FORMAT = "wire-format"

PUBLISHED_RELATIONS = frozenset({Relation.NEW, Relation.UPDATE, Relation.KILL})

# CloudEvents (spec 1.0, Kafka protocol binding, binary content mode).
CE_SPECVERSION = "1.0"
# `type` per event-type header value. Versioned like the value's schema: a major schema bump
# changes the type, so a trigger filtering on it never receives a shape it does not know.
_MAJOR = SCHEMA_VERSION.split(".")[0]
CE_TYPES = {
    kind: f"wire-ingest.{name}.v{_MAJOR}"
    for kind, name in {
        "canonical": "article.canonical",
        "duplicate": "article.duplicate",
        "enriched": "article.enriched",
        "dead_letter": "dead-letter",
    }.items()
}
# `source` is the stage that produced the event. Canonical and enriched events share their
# event_id, and source + id must identify one event, so the two stages are two sources.
CE_SOURCE_INGEST = "/wire-ingest/ingest"
CE_SOURCE_ENRICH = "/wire-ingest/enrich"


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


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """The CloudEvents context attributes of one message (the data is the message value)."""

    id: str
    source: str
    time: datetime | None
    subject: str | None


def _headers(
    event_type: str, cloud_event: CloudEvent, event_id: str | None, source: str | None
) -> tuple[tuple[str, bytes], ...]:
    headers: list[tuple[str, bytes]] = [
        ("content-type", CONTENT_TYPE_JSON),
        ("schema-version", SCHEMA_VERSION.encode()),
        ("event-type", event_type.encode()),
    ]
    if event_id:
        headers.append(("event-id", event_id.encode()))
    if source:
        headers.append(("source", source.encode("utf-8", "replace")))
    headers += [
        ("ce_specversion", CE_SPECVERSION.encode()),
        ("ce_id", cloud_event.id.encode()),
        ("ce_source", cloud_event.source.encode()),
        ("ce_type", CE_TYPES[event_type].encode()),
    ]
    if cloud_event.time is not None:
        headers.append(("ce_time", rfc3339_utc(cloud_event.time).encode()))
    if cloud_event.subject:
        headers.append(("ce_subject", cloud_event.subject.encode("utf-8", "replace")))
    return tuple(headers)


Header = tuple[str, bytes]
# The headers every article message of one event type carries, encoded once: two messages
# a record went through `_headers`, a CloudEvent and a dozen encodes each.
_LEADING: dict[str, tuple[Header, ...]] = {
    kind: (
        ("content-type", CONTENT_TYPE_JSON),
        ("schema-version", SCHEMA_VERSION.encode()),
        ("event-type", kind.encode()),
    )
    for kind in CE_TYPES
}
_CE_SPECVERSION: Header = ("ce_specversion", CE_SPECVERSION.encode())
_CE_TYPE: dict[str, Header] = {kind: ("ce_type", ce_type.encode()) for kind, ce_type in CE_TYPES.items()}
_CE_SOURCE: dict[str, Header] = {
    source: ("ce_source", source.encode()) for source in (CE_SOURCE_INGEST, CE_SOURCE_ENRICH)
}


def _article_headers(event_type: str, article: CanonicalArticle, ce_source: str) -> tuple[Header, ...]:
    """An article's event happened when this version of the story was created: `_headers` of
    CloudEvent(event_id, ce_source, versioncreated, story_id), event_id and source."""
    event_id, source, created, story_id = (
        article.event_id,
        article.source,
        article.versioncreated,
        article.story_id,
    )
    headers = list(_LEADING[event_type])
    encoded_id = event_id.encode()
    if event_id:
        headers.append(("event-id", encoded_id))
    if source:
        headers.append(("source", source.encode("utf-8", "replace")))
    headers += (
        _CE_SPECVERSION,
        ("ce_id", encoded_id),
        _CE_SOURCE.get(ce_source) or ("ce_source", ce_source.encode()),
        _CE_TYPE[event_type],
    )
    if created is not None:
        headers.append(("ce_time", rfc3339_utc(created).encode()))
    if story_id:
        headers.append(("ce_subject", story_id.encode("utf-8", "replace")))
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
        headers=_article_headers("canonical" if published else "duplicate", article, CE_SOURCE_INGEST),
    )


def route_enriched(article: EnrichedArticle, topics: TopicSettings) -> Outbound:
    return Outbound(
        topic=topics.enriched,
        key=article.story_id.encode(),
        value=to_json(article),
        headers=_article_headers("enriched", article, CE_SOURCE_ENRICH),
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

    def __reduce__(self) -> tuple[type[Enrichment], tuple[bytes, int, int]]:
        # Pickled for every record (worker -> shell): a constructor call, not the per-field
        # __setstate__ that frozen slotted dataclasses get, which looks up fields() each time.
        return (Enrichment, (self.json, self.countries, self.leaders))


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
        headers=_article_headers("enriched", article, CE_SOURCE_ENRICH),
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
    # map over the flattened pairs: no Python frame per header (this runs for every message).
    headers = sum(map(len, chain.from_iterable(outbound.headers)))
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
    # A dead letter is about a raw record, not a story: its id is the record's coordinates
    # (one dead letter per record), stable across redeliveries; its subject is the record;
    # its time is the record's timestamp, when the broker gave one.
    coordinates = f"{record.topic}/{record.partition}/{record.offset}"
    cloud_event = CloudEvent(
        id=coordinates,
        source=CE_SOURCE_INGEST if first.stage != "enrich" else CE_SOURCE_ENRICH,
        time=record.timestamp,
        subject=coordinates,
    )
    headers = (
        *_headers("dead_letter", cloud_event, None, None),
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
