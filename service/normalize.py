"""Normalize stage: one ParsedItem + the record it came in -> one CanonicalArticle.

Rules (each one documented where it is applied):

- Text: `service.text` hygiene on every string; paragraphs joined by one blank line.
- Headline: the item's; without one, the first sentence of the body (cut at a
  word near 120 characters). No headline and no body: NormalizeError(EMPTY_ITEM).
- Source: the item's provider/infosource, else the record's "source" header, else "unknown".
- item_id: the source's ID/URI; without one (scraped pages) a stable hash of
  source + normalized headline (not the body, so an updated page keeps its ID).
- version: the item's; else the versioncreated read from the item as YYYYMMDDhhmmss
  (so updates of a scraped page sort after the first copy); else "1".
- Dates (see `_resolve_dates`): to UTC; gaps filled from the other timestamp,
  the dateline's "Sept. 15" (year from the item), or the record timestamp,
  each fill recorded in `date_flags`; nothing at all: NormalizeError(INVALID_DATE).
- Language: the item's (BCP 47 as given, case-normalized), else detected by
  py3langid on headline + body (bundled model), with `language_detected` set.
- Dateline: the item's dateline, else a wire dateline opening the first
  paragraph ("GROSSETO, Italy (AP) --", "CAMBRIDGE, Mass., March 26 -",
  "PARIS, 12 mars (AFP) -"; rules in `service.datelines`); split into city,
  country, date. The body text keeps its dateline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from . import ids
from .datelines import english_month_day, lead_dateline, parse_dateline
from .dates import ParsedDate, format_compact, parse_date
from .errors import NormalizeError, ReasonCode
from .language import detect_language
from .models import (
    CanonicalArticle,
    Caption,
    Dateline,
    Lineage,
    ParsedItem,
    PubStatus,
    RecordMeta,
    Subject,
    WireFormat,
)
from .parse import PARSER_VERSION
from .text import clean_line, clean_optional, clean_paragraphs

UNKNOWN_SOURCE = "unknown"
_HEADLINE_FROM_BODY_MAX = 120
_LANGUAGE_SAMPLE_CHARS = 400  # enough for a stable guess; the classifier's cost grows with length
_LANGUAGE_MIN_CHARS = 20

_PUBSTATUS = {
    "usable": PubStatus.USABLE,
    "withheld": PubStatus.WITHHELD,
    "canceled": PubStatus.CANCELED,
    "cancelled": PubStatus.CANCELED,
    "kill": PubStatus.CANCELED,
    "killed": PubStatus.CANCELED,
    "deleted": PubStatus.CANCELED,
}
_LANGUAGE_CODE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
_BY_PREFIX = re.compile(r"^by\s+", re.I)


def normalize(item: ParsedItem, record: RecordMeta, *, raw_sha256: str) -> CanonicalArticle:
    """Build the canonical article; NormalizeError(reason, message) when the item cannot become one."""
    try:
        return _normalize(item, record, raw_sha256=raw_sha256)
    except NormalizeError:
        raise
    except ValidationError as exc:
        raise NormalizeError(
            ReasonCode.SCHEMA_VIOLATION, f"canonical article invalid: {exc}", item_index=item.item_index
        ) from exc
    except Exception as exc:
        raise NormalizeError(
            ReasonCode.INTERNAL_ERROR,
            f"normalize failed: {type(exc).__name__}: {exc}",
            item_index=item.item_index,
        ) from exc


def _normalize(item: ParsedItem, record: RecordMeta, *, raw_sha256: str) -> CanonicalArticle:
    body = clean_paragraphs(item.body_paragraphs)
    headline = clean_optional(item.headline) or _headline_from_body(body)
    if not headline:
        raise NormalizeError(
            ReasonCode.EMPTY_ITEM, "item has no headline and no body", item_index=item.item_index
        )
    body_text = "\n\n".join(body)
    source = clean_optional(item.source) or _header(record, "source") or UNKNOWN_SOURCE

    dateline = _dateline(item, headline, body)
    dates = _resolve_dates(item, dateline, record)
    language, detected = _language(item.language, headline, body_text)

    content_hash = ids.sha256_hex(headline + "\n\n" + body_text)
    item_id = clean_optional(item.item_id) or _fallback_item_id(source, headline)
    version = clean_optional(item.version) or (
        format_compact(dates.versioncreated) if dates.version_from_item else "1"
    )
    return CanonicalArticle(
        event_id=ids.event_id(source, item_id, version, content_hash),
        story_id=ids.story_id(source, item_id),
        item_id=item_id,
        version=version,
        source=source,
        pubstatus=_pubstatus(item.pubstatus),
        headline=headline,
        body_text=body_text,
        byline=_byline(item.byline),
        dateline=dateline,
        located=clean_optional(item.located),
        firstcreated=dates.firstcreated,
        versioncreated=dates.versioncreated,
        date_flags=tuple(dates.flags),
        language=language,
        language_detected=detected,
        section=clean_optional(item.section),
        urgency=item.urgency if item.urgency is not None and 0 <= item.urgency <= 9 else None,
        subjects=_subjects(item.subjects),
        keywords=_unique(clean_line(k) for k in item.keywords),
        captions=_captions(item.captions),
        content_hash=content_hash,
        lineage=Lineage(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp=record.timestamp,
            format=item.format,
            item_index=item.item_index,
            parser_version=PARSER_VERSION,
            raw_sha256=raw_sha256,
        ),
    )


# ---------------------------------------------------------------- fields


def _header(record: RecordMeta, name: str) -> str | None:
    for key, value in record.headers:
        if key.lower() == name:
            return clean_optional(value.decode("utf-8", errors="replace"))
    return None


def _headline_from_body(body: list[str]) -> str | None:
    if not body:
        return None
    first = body[0]
    sentence = first.split(". ", 1)[0]
    if len(sentence) <= _HEADLINE_FROM_BODY_MAX:
        return sentence.rstrip(".")
    cut = sentence[:_HEADLINE_FROM_BODY_MAX].rsplit(" ", 1)[0]
    return cut + "…"


def _fallback_item_id(source: str, headline: str) -> str:
    """Stable ID for items without one: source + normalized headline (an updated body keeps it)."""
    key = " ".join(headline.casefold().split())
    return "urn:wire-ingest:" + ids.sha256_hex(source.casefold() + "\x1f" + key)[:32]


def _pubstatus(value: str | None) -> PubStatus:
    if not value:
        return PubStatus.USABLE
    key = value.strip().lower().rpartition(":")[2]  # G2 QCodes: "stat:canceled"
    return _PUBSTATUS.get(key, PubStatus.USABLE)


def _byline(value: str | None) -> str | None:
    cleaned = clean_optional(value)
    return _BY_PREFIX.sub("", cleaned) or None if cleaned else None


def _subjects(subjects: tuple[Subject, ...]) -> tuple[Subject, ...]:
    out: dict[tuple[str, str | None], Subject] = {}
    for subject in subjects:
        name = clean_line(subject.name)
        if name:
            out.setdefault((name, subject.code), Subject(name=name, code=subject.code, scheme=subject.scheme))
    return tuple(out.values())


def _captions(captions: tuple[Caption, ...]) -> tuple[Caption, ...]:
    out: list[Caption] = []
    for caption in captions:
        text = clean_line(caption.text)
        if text:
            out.append(Caption(text=text, credit=clean_optional(caption.credit)))
    return tuple(out)


def _unique(values: object) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:  # type: ignore[attr-defined]
        if value:
            seen.setdefault(value, None)
    return tuple(seen)


def _language(value: str | None, headline: str, body_text: str) -> tuple[str | None, bool]:
    given = clean_optional(value)
    if given and _LANGUAGE_CODE.match(given):
        primary, _, region = given.replace("_", "-").partition("-")
        return (primary.lower() + ("-" + region.upper() if region else "")), False
    sample = (headline + "\n" + body_text[:_LANGUAGE_SAMPLE_CHARS]).strip()
    if len(sample) < _LANGUAGE_MIN_CHARS:
        return None, False
    return detect_language(sample), True


# ---------------------------------------------------------------- dateline


def _dateline(item: ParsedItem, headline: str, body: list[str]) -> Dateline | None:
    """The format's dateline, else the one the lead opens with (`service.datelines`).

    A page's "dateline" is only a guess from an "in City, Country" phrase, so a wire
    dateline opening its lead wins. A first paragraph that repeats the headline is
    never read for a dateline.
    """
    guessed = item.format in (WireFormat.HTML_PAGE, WireFormat.TEXT_PAGE)
    if item.dateline and not guessed:
        return parse_dateline(item.dateline)
    if body and not body[0].casefold().startswith(headline.casefold()):
        lead = lead_dateline(body[0])
        if lead is not None:
            return parse_dateline(lead.text)
    return parse_dateline(item.dateline) if item.dateline else None


# ---------------------------------------------------------------- dates


@dataclass
class _Dates:
    firstcreated: datetime
    versioncreated: datetime
    flags: list[str]
    version_from_item: bool


def _read(
    field: str, text: str | None, flags: list[str], *, default_year: int | None = None
) -> ParsedDate | None:
    if not text:
        return None
    parsed = parse_date(clean_line(text), default_year=default_year)
    if parsed is None:
        flags.append(f"{field}_unparseable")
        return None
    if parsed.assumed_utc:
        flags.append(f"{field}_assumed_utc")
    if parsed.date_only:
        flags.append(f"{field}_date_only")
    return parsed


def _resolve_dates(item: ParsedItem, dateline: Dateline | None, record: RecordMeta) -> _Dates:
    """Both timestamps in UTC; every gap filled is named in the flags.

    versioncreated: the item's, else the latest page date ("Updated:" lines), else firstcreated.
    firstcreated: the item's, else the dateline date (year from versioncreated or the record),
    else versioncreated. Neither in the item: the record timestamp for both. No record
    timestamp either: NormalizeError(INVALID_DATE) - a date is never made up.
    """
    flags: list[str] = []
    version = _read("versioncreated", item.versioncreated, flags)
    version_from_item = version is not None
    if version is None and item.page_dates:
        page_dates = [d for d in (parse_date(clean_line(p)) for p in item.page_dates) if d is not None]
        if page_dates:
            version = max(page_dates, key=lambda d: d.value)
            version_from_item = True
            flags.append("versioncreated_from_page_date")
    first = _read("firstcreated", item.firstcreated, flags)
    if first is None and dateline is not None and dateline.date:
        anchor = version.value if version else record.timestamp
        if anchor is not None:
            written = english_month_day(dateline.date) or dateline.date  # "12 mars" -> "Mar 12"
            first = _read("firstcreated", written, flags, default_year=anchor.year)
            if first is not None:
                # A "Dec. 31" dateline on an item versioned in January belongs to the previous year.
                if first.value > anchor:
                    first = parse_date(clean_line(written), default_year=anchor.year - 1) or first
                flags.append("firstcreated_from_dateline")
    if version is None and first is not None:
        version = first
        flags.append("versioncreated_from_firstcreated")
    if first is None and version is not None:
        first = version
        flags.append("firstcreated_from_versioncreated")
    if first is None or version is None:
        if record.timestamp is None:
            raise NormalizeError(
                ReasonCode.INVALID_DATE,
                "no usable date in the item and no record timestamp",
                item_index=item.item_index,
            )
        flags.extend(("firstcreated_from_record", "versioncreated_from_record"))
        return _Dates(record.timestamp, record.timestamp, flags, version_from_item=False)
    first_value = first.value
    if first_value > version.value:
        flags.append("firstcreated_after_versioncreated")
        first_value = version.value
    return _Dates(first_value, version.value, flags, version_from_item=version_from_item)
