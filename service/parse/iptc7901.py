"""IPTC 7901 (dpa and other European agencies): SOH header, slugline, STX heading up to "=", text, ETX date.

A story as dpa sends it:

    SOH eca062 4 i 211 ccccb   dpa 061     service id + number, priority (1..6), category,
                                           word count, then free header fields (source, sequence)
    Germany-politics/                      keyword (slugline) lines, each ending in '/'
    STX EXTRA                              heading: optional take key lines, the headline,
    Coalition talks could fail             an optional "By ..." line; the heading ends at
    By Jane Doe, dpa =                     the line ending in '='
       Berlin (dpa) - Negotiations ...     paragraphs, wrapped, split by blank lines or indents
    # dpa NOTEBOOK                         notes to editors: not story text
    ETX 212101 GMT Nov 18                  trailer: day, hour, minute (UTC), month, year

The dateline ("Berlin (dpa) -") opening the first paragraph goes to the dateline
field and out of the body, as Superdesk's dpa parser does.
"""

from __future__ import annotations

import re

from ..models import ParsedItem, WireFormat
from ..text import collapse_spaces
from .framing import CONTROLS, lines_of, split_frame, split_items

_HEADER = re.compile(
    r"^(?P<service>[A-Za-z]{0,8})(?P<number>\d{0,6}) (?P<priority>\d) (?P<category>[A-Za-z]{1,3}) +"
    r"(?P<words>\d{0,5})(?P<rest>.*)$"
)
_SOURCE = re.compile(r"\b(?P<source>[a-z][a-z-]{1,15})\s+\d{1,5}\s*$", re.IGNORECASE)
_TRAILER = re.compile(
    r"(?P<day>\d{2})(?P<hh>\d{2})(?P<mm>\d{2})\s+(?:(?:GMT|UTC)\s+)?(?P<month>[A-Za-zä]{3})\w*\s+(?P<year>\d{2})"
)
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            "jan",
            "feb|fbr",
            "mar|mär|mrz",
            "apr",
            "may|mai",
            "jun",
            "jul",
            "aug",
            "sep",
            "oct|okt",
            "nov",
            "dec|dez",
        ),
        start=1,
    )
    for name in names.split("|")
}
# Notes to editors close the text: markdown-style headings, rules, "not for publication".
_NOTES = re.compile(
    r"^\s*(?:#|\*\s*\*\s*\*|The following information is not (?:intended )?for publication)", re.IGNORECASE
)
# The closing signature: the agency and the editors' initials ("dpa wsz jln npr").
_SIGNATURE = re.compile(r"^\s*[a-z][a-z-]{1,10}(?:\s+[a-z]{2,4}){1,6}\s*$")
_BYLINE = re.compile(r"^By\s+\S", re.IGNORECASE)
# Header and trailer lines are under 80 characters; longer input is not read further (bounded regex time).
_HEADER_MAX = 200
_DATELINE = re.compile(r"^(?P<dateline>[^\W\d][\w .'’/-]{0,40}?\s*\([\w/ -]{1,20}\))\s*[-–—]\s*")


def parse_iptc7901(text: str) -> list[ParsedItem]:
    """Every story of an IPTC 7901 transmission."""
    return [item for index, chunk in enumerate(split_items(text)) if (item := _item(chunk, index))]


def _item(chunk: str, index: int) -> ParsedItem | None:
    header, text, trailer = split_frame(chunk)
    header_lines = [CONTROLS.sub(" ", line).strip() for line in lines_of(header)]
    match = _HEADER.match(header_lines[0][:_HEADER_MAX]) if header_lines else None
    slug = "/".join(line.strip("/ ") for line in header_lines[1:] if line.strip("/ "))
    lines = [CONTROLS.sub(" ", line).rstrip() for line in lines_of(text)]
    heading: list[str] = []
    position = 0
    for position, line in enumerate(lines):  # noqa: B007 (the position after the loop is used)
        if line.strip():
            heading.append(line.strip())
        if line.rstrip().endswith("=") or (heading and not line.strip()):
            break
    else:
        position = len(lines)
    if heading:
        heading[-1] = heading[-1].rstrip("= ").strip()
    byline = heading.pop() if len(heading) > 1 and _BYLINE.match(heading[-1]) else None
    headline = heading.pop() if heading else None
    take = " ".join(heading)
    paragraphs = _paragraphs(lines[position + 1 :])
    dateline = None
    if paragraphs:
        found = _DATELINE.match(paragraphs[0])
        if found is not None:
            dateline = found.group("dateline")
            paragraphs[0] = paragraphs[0][found.end() :]
    created = _trailer_date(trailer)
    source = _SOURCE.search(match.group("rest")) if match else None
    return (
        ParsedItem(
            format=WireFormat.IPTC_7901,
            item_index=index,
            source=source.group("source") if source else None,
            headline=headline or None,
            body_paragraphs=tuple(p for p in paragraphs if p),
            byline=byline,
            dateline=dateline,
            firstcreated=created,
            versioncreated=created,
            section=match.group("category").lower() if match else None,
            urgency=int(match.group("priority")) if match else None,
            keywords=tuple(k for k in (slug, take) if k),
        )
        if headline or paragraphs
        else None
    )


def _paragraphs(lines: list[str]) -> list[str]:
    """Wrapped lines joined; a blank line or an indented line starts a paragraph; notes end the text."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if _NOTES.match(line):
            break
        if not line.strip() or line.startswith((" ", "\t")):
            if current:
                paragraphs.append(collapse_spaces(" ".join(current)))
            current = [line.strip()] if line.strip() else []
            continue
        current.append(line.strip())
    if current:
        paragraphs.append(collapse_spaces(" ".join(current)))
    if paragraphs and _SIGNATURE.match(paragraphs[-1]):
        paragraphs.pop()
    return paragraphs


def _trailer_date(trailer: str) -> str | None:
    """ISO 8601 UTC from the trailer's "212101 GMT Nov 18" (day, hour, minute, month, 2-digit year)."""
    found = _TRAILER.search(trailer[:_HEADER_MAX])
    if found is None:
        return None
    month = _MONTHS.get(found["month"].lower()[:3])
    if month is None:
        return None
    return f"20{found['year']}-{month:02d}-{found['day']}T{found['hh']}:{found['mm']}:00Z"
