"""The models every stage speaks; the published ones are the downstream contract.

`schemas/` is generated from the published models (`make schemas`) and a test
fails when the two drift. Field names follow IPTC ninjs 2.x where one fits
(uri -> item_id, headline, body_text, byline, located, language, pubstatus,
firstcreated, versioncreated, urgency, subjects, keywords).

Compatibility policy (also in schemas/README.md): adding an optional field is a
minor bump of SCHEMA_VERSION; removing or renaming a field, changing a type or
the meaning of a value is a major bump.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.1"  # 1.1: CountryMention.leaders

M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__


def trusted(cls: type[M], values: dict[str, Any]) -> M:
    """An instance of `cls` holding `values` as they are (every field, already valid).

    For values our own code built with the right types: pydantic's `model_construct` walks
    every field of the class on each call (aliases, defaults), which costs more than the
    enricher's own work for a mention (~3 us; ~9 us for an EnrichedArticle). This builds
    the instance the way pydantic's `model_copy` builds a copy. Callers pass every field,
    in declaration order; unit tests pin that down and check that validating the dump gives
    back the same values of the same types.
    """
    model = cls.__new__(cls)
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", set(values))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model


def rfc3339_utc(value: datetime) -> str:
    """A datetime as the events write it (RFC 3339, 'Z' for UTC), for headers."""
    return value.isoformat().replace("+00:00", "Z")


UtcDatetime = AwareDatetime
"""A timezone-aware datetime (normalize makes them UTC). pydantic-core writes it as RFC 3339 with a
'Z' for UTC in its own code: a Python serializer here cost 5% of the service loop's CPU."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WireFormat(StrEnum):
    """The shapes a raw item can arrive in (auto-detected, or fixed per source)."""

    NINJS = "ninjs"
    NEWSML_G2 = "newsml_g2"
    NITF = "nitf"
    RSS = "rss"
    ATOM = "atom"
    HTML_PAGE = "html_page"
    TEXT_PAGE = "text_page"
    ENVELOPE = "envelope"
    ANPA_1312 = "anpa_1312"
    IPTC_7901 = "iptc_7901"
    NEWSML_1 = "newsml_1"
    RITZAU = "ritzau_rbnews"


class PubStatus(StrEnum):
    USABLE = "usable"
    WITHHELD = "withheld"
    CANCELED = "canceled"


class Relation(StrEnum):
    """How an article relates to what the service has already seen."""

    NEW = "new"  # first time this story is seen
    UPDATE = "update"  # a new version or correction of an item seen before
    KILL = "kill"  # pubstatus canceled/withheld for an item (retract downstream)
    REDELIVERY = "redelivery"  # same item, same version, same content: nothing new
    STALE = "stale"  # an older version arriving after a newer one
    NEAR_DUPLICATE = "near_duplicate"  # same story from another feed or format


# ---------------------------------------------------------------- parse output


class Caption(_Model):
    text: str
    credit: str | None = None


class Subject(_Model):
    name: str
    code: str | None = None
    scheme: str | None = None


class ParsedItem(_Model):
    """What a format parser read from the bytes, before normalization.

    Strings are as found (cleaned of markup, not yet of whitespace or mojibake);
    dates are the raw strings, parsed and converted to UTC by `normalize`.
    """

    format: WireFormat
    item_index: int = 0  # position inside a multi-item document (newsMessage, feed)
    item_id: str | None = None
    version: str | None = None
    source: str | None = None
    pubstatus: str | None = None
    headline: str | None = None
    body_paragraphs: tuple[str, ...] = ()
    byline: str | None = None
    dateline: str | None = None
    located: str | None = None
    firstcreated: str | None = None
    versioncreated: str | None = None
    page_dates: tuple[str, ...] = ()  # dates read from "Updated:"/"Source:" lines and similar
    language: str | None = None
    section: str | None = None
    urgency: int | None = None
    subjects: tuple[Subject, ...] = ()
    keywords: tuple[str, ...] = ()
    captions: tuple[Caption, ...] = ()
    source_places: tuple[str, ...] = ()  # places the source itself tagged (ninjs places, located)
    source_people: tuple[str, ...] = ()


# ---------------------------------------------------------------- canonical event


class Lineage(_Model):
    """Where an event came from, down to the Kafka record and the parser."""

    topic: str
    partition: int
    offset: int
    timestamp: UtcDatetime | None = None
    format: WireFormat
    item_index: int = 0
    parser_version: str
    raw_sha256: str
    replay: bool = False  # published by `wire-ingest replay`
    redriven: bool = False  # the raw record was redriven from the dead-letter topic


class Dateline(_Model):
    text: str
    city: str | None = None
    country: str | None = None
    date: str | None = None  # as written ("Sept. 15"); resolved dates live in the timestamps


class DedupeInfo(_Model):
    """Why the deduplicator decided what it did; downstream can audit every decision."""

    relation: Relation
    matched_event_id: str | None = None
    similarity: float | None = None
    method: Literal["none", "item_id", "content_hash", "minhash_lsh"] = "none"


class CanonicalArticle(_Model):
    """One normalized wire item; value of `articles.canonical` and `articles.duplicates`."""

    def __reduce__(
        self,
    ) -> tuple[Callable[[type[CanonicalArticle], bytes], CanonicalArticle], tuple[Any, ...]]:
        # Every record's article crosses from its worker to the shell pickled: as its JSON (the
        # event's contract, which reads back equal) that costs 9 + 10 µs against 26 + 26 for the
        # model graph of nested models, enums and datetimes.
        return (_article_from_json, (type(self), self.__pydantic_serializer__.to_json(self)))

    schema_version: str = SCHEMA_VERSION
    event_id: str = Field(description="Deterministic: the same raw item always gives the same ID.")
    story_id: str = Field(description="Shared by every version and near-duplicate of one story.")
    item_id: str = Field(description="The source's own ID or URI (ninjs 'uri').")
    version: str
    source: str
    pubstatus: PubStatus = PubStatus.USABLE
    type: Literal["text"] = "text"
    headline: str
    body_text: str = Field(description="Clean paragraphs separated by one blank line.")
    byline: str | None = None
    dateline: Dateline | None = None
    located: str | None = None
    firstcreated: UtcDatetime
    versioncreated: UtcDatetime
    date_flags: tuple[str, ...] = Field(
        default=(), description="Set when a timestamp was not in the item, e.g. 'versioncreated_from_record'."
    )
    language: str | None = None
    language_detected: bool = False
    section: str | None = None
    urgency: int | None = None
    subjects: tuple[Subject, ...] = ()
    keywords: tuple[str, ...] = ()
    captions: tuple[Caption, ...] = ()
    content_hash: str = Field(description="sha256 of the normalized headline and body.")
    supersedes: str | None = Field(default=None, description="event_id of the version this one replaces.")
    duplicate_of: str | None = Field(
        default=None, description="event_id of the first-seen copy of this story."
    )
    dedupe: DedupeInfo = DedupeInfo(relation=Relation.NEW)
    lineage: Lineage


# ---------------------------------------------------------------- enrichment


class CountryRole(StrEnum):
    DATELINE = "dateline"
    SUBJECT = "subject"
    MENTIONED = "mentioned"


class CountryMention(_Model):
    alpha2: str
    alpha3: str
    numeric: str
    name: str
    mentions: int
    first_offset: int = Field(
        description="Character offset of the first mention in headline + '\\n\\n' + body_text; "
        "-1 when the country is known only from the dateline field."
    )
    in_headline: bool
    in_dateline: bool
    salience: float
    role: CountryRole
    leaders: tuple[str, ...] = Field(
        default=(),
        description="Wikidata IDs of the story's subject leaders who lead this country on the article's "
        "date; such a leader makes the country a subject of the story.",
    )


class LeaderResolution(StrEnum):
    FULL_NAME = "full_name"
    TITLE_AND_NAME = "title_and_name"
    SURNAME_AFTER_FULL = "surname_after_full"
    OFFICE = "office"  # "the French president" -> the holder on the article's date


class LeaderRole(StrEnum):
    """What the person is to the article (`role` on LeaderMention is the office's role)."""

    SUBJECT = "subject"  # the story is about them (headline, lead, repeated mentions)
    MENTIONED = "mentioned"  # a passing mention


class LeaderMention(_Model):
    wikidata_id: str
    name: str
    country: str
    office: str
    role: Literal["head_of_state", "head_of_government", "both"]
    in_office: bool
    mentions: int
    first_offset: int
    resolved_by: LeaderResolution
    salience: float = Field(description="0..1; 0.5 and above is a subject of the article.")
    article_role: LeaderRole


class EnrichedArticle(CanonicalArticle):
    """A canonical article with the countries and leaders it concerns; value of `articles.enriched`."""

    countries: tuple[CountryMention, ...] = ()
    leaders: tuple[LeaderMention, ...] = ()
    registry_version: str
    enricher_version: str
    matching_language: str | None = Field(
        default=None,
        description="ISO 639-1 code of the language whose country forms were matched (English always is).",
    )


# ---------------------------------------------------------------- dead letters


DeadLetterStage = Literal["parse", "normalize", "dedupe", "enrich", "route", "worker"]


class ItemFailure(_Model):
    """One item of a multi-item record (feed, newsMessage) that could not be published."""

    item_index: int
    reason: str = Field(description="A stable code from service.errors.ReasonCode.")
    error: str
    stage: DeadLetterStage


class DeadLetter(_Model):
    """Value of `wire.dlq`: why a raw record was not published, with its original bytes.

    One dead letter per raw record, however many of its items failed: `reason`,
    `error`, `stage` and `item_index` describe the first failure, `failed_items`
    lists every one. A record whose bytes would not fit in one message carries a
    prefix of them (`raw_truncated`); `raw_size` and `raw_sha256` always describe
    the whole record, which stays on the input topic.
    """

    schema_version: str = SCHEMA_VERSION
    reason: str = Field(description="A stable code from service.errors.ReasonCode.")
    error: str
    stage: DeadLetterStage
    item_index: int | None = None
    failed_items: tuple[ItemFailure, ...] = ()
    source_topic: str
    source_partition: int
    source_offset: int
    source_timestamp: UtcDatetime | None = None
    source_key_base64: str | None = None
    source_headers: dict[str, str] = {}
    raw_sha256: str
    raw_size: int
    raw_base64: str
    raw_truncated: bool = Field(
        default=False, description="raw_base64 holds only a prefix of the record (see raw_size)."
    )


# ---------------------------------------------------------------- envelope


class Envelope(_Model):
    """Optional JSON wrapper for feeds that carry raw bytes with metadata (schemas/envelope.json)."""

    wire_ingest_envelope: Literal[1] = Field(description="Marks the document as an envelope (version 1).")
    source: str | None = None
    received_at: str | None = None
    content_type: str | None = None
    encoding: str | None = None
    format: WireFormat | None = None
    payload: str | None = None
    payload_base64: str | None = None


class RecordMeta(_Model):
    """The Kafka record a raw item came in (or a file, in `wire-ingest process`)."""

    def __reduce__(self) -> tuple[Callable[..., RecordMeta], tuple[Any, ...]]:
        # Pickled with every record the shell hands to a worker. pydantic's own pickling cost
        # the shell 7.6 us a record, two thirds of it the UTC datetime (its class and its
        # timezone pickled by reference); a UTC timestamp goes as its microseconds instead.
        stamp: datetime | int | None = self.timestamp
        if self.timestamp is not None and self.timestamp.tzinfo is UTC and not self.timestamp.fold:
            stamp = (self.timestamp - _EPOCH) // _MICROSECOND
        return (_record_meta, ((self.topic, self.partition, self.offset, stamp, self.key, self.headers),))

    topic: str
    partition: int
    offset: int
    timestamp: UtcDatetime | None = None
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _record_meta(
    fields: tuple[str, int, int, datetime | int | None, bytes | None, tuple[tuple[str, bytes], ...]],
) -> RecordMeta:
    topic, partition, offset, stamp, key, headers = fields
    timestamp = _EPOCH + stamp * _MICROSECOND if isinstance(stamp, int) else stamp
    values = {"topic": topic, "partition": partition, "offset": offset, "timestamp": timestamp}
    return trusted(RecordMeta, {**values, "key": key, "headers": headers})


def _article_from_json(cls: type[CanonicalArticle], data: bytes) -> CanonicalArticle:
    return cls.model_validate_json(data)
