"""Wire dates in, aware UTC datetimes out.

Accepted: ISO 8601 (extended and basic), RFC 822/2822 (RSS), and the prose
forms of pages and datelines ("September 16, 2022", "Sept. 15, 2022",
"Sept. 15" with the year taken from the item), with offsets or the named
time zones in `_TZ_NAMES`. A date without a zone is read in the caller's `zone`
(a source's configured IANA zone, DST-correct) or else as UTC, and flagged by the
caller either way; a date outside `_MIN_YEAR`..`_MAX_YEAR` counts as impossible.
A local time that a DST change skips or repeats takes the offset in force before
the change (zoneinfo's `fold=0`), as Python and the tz database do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime

from dateutil import parser as dateutil_parser

_MIN_YEAR = 1900
_MAX_YEAR = 2200
_MAX_LEN = 80  # longer strings are prose, not a date


def _offset(hours: float) -> timezone:
    return timezone(timedelta(hours=hours))


# Names seen in wire and feed dates; ambiguous ones (IST, CST) take their most common news meaning.
_TZ_NAMES: dict[str, tzinfo] = {
    "UTC": UTC,
    "UT": UTC,
    "GMT": UTC,
    "Z": UTC,
    "WET": _offset(0),
    "BST": _offset(1),
    "CET": _offset(1),
    "CEST": _offset(2),
    "MEZ": _offset(1),
    "MESZ": _offset(2),
    "EET": _offset(2),
    "EEST": _offset(3),
    "MSK": _offset(3),
    "IST": _offset(5.5),
    "PKT": _offset(5),
    "UZT": _offset(5),
    "ICT": _offset(7),
    "WIB": _offset(7),
    "HKT": _offset(8),
    "SGT": _offset(8),
    "AWST": _offset(8),
    "BJT": _offset(8),
    "JST": _offset(9),
    "KST": _offset(9),
    "AEST": _offset(10),
    "AEDT": _offset(11),
    "NZST": _offset(12),
    "NZDT": _offset(13),
    "EST": _offset(-5),
    "EDT": _offset(-4),
    "CST": _offset(-6),
    "CDT": _offset(-5),
    "MST": _offset(-7),
    "MDT": _offset(-6),
    "PST": _offset(-8),
    "PDT": _offset(-7),
    "AKST": _offset(-9),
    "HST": _offset(-10),
}

_RFC822_START = re.compile(r"^(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s")
_HAS_YEAR = re.compile(r"\b\d{4}\b")
_HAS_TIME = re.compile(r"\d:\d\d|T\d\d")
_DATE_ONLY_ISO = re.compile(r"^\d{4}-?\d\d-?\d\d$")
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
# "September 16, 2022", "Sept. 15", "March 4, 2024 06:00": the prose dates pages and datelines
# use most. dateutil reads them the same way at ~30x the cost; anything else still goes to it.
_PROSE_DATE = re.compile(
    r"^(?P<month>[A-Za-z]{3,9})(?P<dot>\.?) (?P<day>\d{1,2})(?:,? (?P<year>\d{4})"
    r"(?: (?P<hour>\d{1,2}):(?P<minute>\d\d)(?::(?P<second>\d\d))?)?)?$"
)


@dataclass(frozen=True, slots=True)
class ParsedDate:
    """A date converted to UTC, with what had to be assumed to get there."""

    value: datetime  # aware, UTC
    assumed_utc: bool = False  # the text named no zone or offset, and no zone was given
    assumed_zone: bool = False  # the text named no zone or offset; read in the given zone
    date_only: bool = False  # the text had no time of day (midnight in that zone is used)


def _tz_lookup(name: str | None, offset: int | None) -> tzinfo | None:
    if offset is not None:
        return timezone(timedelta(seconds=offset))
    if name is None:
        return None
    return _TZ_NAMES.get(name.upper())


def _finish(value: datetime, *, date_only: bool, zone: tzinfo | None) -> ParsedDate | None:
    if not _MIN_YEAR <= value.year <= _MAX_YEAR:
        return None
    naive = value.tzinfo is None or value.utcoffset() is None
    if naive:
        value = value.replace(tzinfo=zone or UTC)
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return ParsedDate(
        value=utc,
        assumed_utc=naive and zone is None,
        assumed_zone=naive and zone is not None,
        date_only=date_only,
    )


def parse_date(
    text: str | None, *, default_year: int | None = None, zone: tzinfo | None = None
) -> ParsedDate | None:
    """Parse one date string; None when it is missing, not a date, or impossible.

    `default_year` fills in the year of dateline dates such as "Sept. 15"; without
    it a date with no year is rejected rather than given the current year. `zone`
    is where a date that names no zone or offset was written (else UTC).
    """
    if text is None:
        return None
    text = text.strip()
    if not text or len(text) > _MAX_LEN:
        return None
    date_only = not _HAS_TIME.search(text)
    # Fast paths first: almost every structured wire date is ISO 8601 or RFC 822.
    if text[0].isdigit():
        try:
            iso = datetime.fromisoformat(text)
            return _finish(iso, date_only=bool(_DATE_ONLY_ISO.match(text)), zone=zone)
        except ValueError:
            pass
    if _RFC822_START.match(text):
        try:
            return _finish(parsedate_to_datetime(text), date_only=date_only, zone=zone)
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    has_year = bool(_HAS_YEAR.search(text))
    if not has_year and default_year is None:
        return None
    value = _prose_date(text, default_year)
    if value is not None:
        return _finish(value, date_only=date_only, zone=zone)
    default = datetime(default_year or 2000, 1, 1)
    try:
        value = dateutil_parser.parse(text, default=default, tzinfos=_tz_lookup, fuzzy=False)
    except (ValueError, OverflowError, TypeError, dateutil_parser.ParserError):
        return None
    return _finish(value, date_only=date_only, zone=zone)


def _prose_date(text: str, default_year: int | None) -> datetime | None:
    """The naive datetime dateutil would give for a plain "Month D[, YYYY[ HH:MM[:SS]]]", else None."""
    match = _PROSE_DATE.match(text)
    if match is None:
        return None
    month = _MONTHS.get(match["month"].lower())
    # dateutil takes "Sept." but not a full name with a stop after it: leave those to it.
    if month is None or (match["dot"] and len(match["month"]) > 4):
        return None
    year = int(match["year"]) if match["year"] else default_year
    if year is None:
        return None
    try:
        return datetime(
            year,
            month,
            int(match["day"]),
            int(match["hour"] or 0),
            int(match["minute"] or 0),
            int(match["second"] or 0),
        )
    except ValueError:
        return None  # dateutil decides what an impossible date means


def format_compact(value: datetime) -> str:
    """UTC timestamp as digits only (YYYYMMDDhhmmss): sorts the same as text and as a number."""
    return value.astimezone(UTC).strftime("%Y%m%d%H%M%S")
