"""ANPA-1312 (the AP's wire format, "ANPA 7-bit"): header line, '^' heading lines, tab-indented paragraphs.

A story as AP sends it:

    SYN SYN SOH W2870 US asian                       selector code, sequence number
    f l DC3 DC1 BC-LT--Argentina-CancerB  1stLd-Writethru  11-13 1049
                                                     priority, category, format codes,
                                                     keyword (slug), take key, date, word count
    STX ^BC-LT--Argentina-Cancer Beauty,466<          heading lines start with '^' and end with
    ^For Argentine chemo patients, mirrors can hurt<  '<' or '=': keyword line, headline, then
    ^Eds: With AP Photos.<                            editor's notes, "By ..." byline and its title
    ^By PAUL BYRNE=
    TAB   BUENOS AIRES, Argentina (AP) _ For cancer ...  paragraphs start with a tab
    ETX AP-WF-11-13-13 1509GMT                       trailer: service and UTC date (MM-DD-YY HHMM)

The format code DC4 DC2 (instead of DC3 DC1) marks tabular matter (agate, standings):
its lines are kept one paragraph each. A story without tab paragraphs (lists of
headlines) takes its heading lines after the headline as body.
"""

from __future__ import annotations

import re

from ..models import ParsedItem, WireFormat
from ..text import collapse_spaces
from .framing import CONTROLS, lines_of, split_frame, split_items
from .places import WIRE_DATELINE

_HEADER = re.compile(
    r"^(?P<priority>[a-z])\s+(?P<category>[a-z]{1,2})\s*(?P<format>[\x13\x14][\x11\x12])\s*"
    r"(?P<keyword>\S+)(?P<take>.*?)\s+(?P<month>\d{1,2})-(?P<day>\d{1,2})(?:\s+(?P<words>\d{1,5}))?\s*$",
    re.IGNORECASE,
)
_TRAILER_DATE = re.compile(
    r"(?P<service>[A-Z]{2})-[A-Z]+-(?P<month>\d{2})-(?P<day>\d{2})-(?P<year>\d{2})\s+(?P<hh>\d{2})(?P<mm>\d{2})\s*GMT"
)
_TAKE_VERSION = re.compile(r"(\d+)(?:st|nd|rd|th)\s*Ld", re.IGNORECASE)
_NOTE = re.compile(r"^(?:\(?Eds?:|EDITOR'S NOTE|AP Photos?\b|AP Video\b|With AP Photos|Moving on\b)", re.I)
_BYLINE = re.compile(r"^By\s+\S", re.IGNORECASE)
# Priority letters (f flash, b bulletin, u urgent, r regular, d deferred) on IPTC's 1..9 urgency scale.
_URGENCY = {"f": 1, "b": 2, "u": 3, "r": 5, "d": 6, "a": 6, "z": 6}
_TABULAR = "\x14\x12"
# Header and trailer lines are under 80 characters; longer input is not read further (bounded regex time).
_HEADER_MAX = 200
# The header line's own codes (DC1..DC4) say text or tabular; any other control is noise.
_HEADER_NOISE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x10\x15-\x1f\x7f]")


def parse_anpa(text: str) -> list[ParsedItem]:
    """Every story of an ANPA-1312 transmission."""
    return [item for index, chunk in enumerate(split_items(text)) if (item := _item(chunk, index))]


def _clean(line: str) -> str:
    """A heading or body line without framing codes, '^' leader and '<'/'=' end marks."""
    line = CONTROLS.sub(" ", line).strip()
    return line.strip("^").rstrip("<= ").strip()


def _item(chunk: str, index: int) -> ParsedItem | None:
    header, text, trailer = split_frame(chunk)
    header_lines = lines_of(header)
    header_line = header_lines[1] if len(header_lines) > 1 else ""
    match = _HEADER.match(_HEADER_NOISE.sub(" ", header_line[:_HEADER_MAX]).strip())
    tabular = match is not None and match.group("format") == _TABULAR
    headings: list[str] = []
    paragraphs: list[str] = []
    for raw_line in lines_of(text):
        stripped = raw_line.lstrip("\x02 ")
        if stripped.startswith("\t") or (tabular and stripped.startswith("\x08")):
            line = _clean(stripped)
            if line and line.upper() != "END":
                paragraphs.append(line if tabular else collapse_spaces(line))
        elif stripped.startswith("^"):
            line = _clean(stripped)
            if line and line.upper() != "END":
                headings.append(line)
    if not headings and not paragraphs:
        return None
    keyword_line = headings[0] if headings else ""
    rest = headings[1:]
    headline = rest[0] if rest and not _NOTE.match(rest[0]) and not _BYLINE.match(rest[0]) else None
    byline_index = next((i for i, h in enumerate(rest) if _BYLINE.match(h)), None)
    byline = rest[byline_index] if byline_index is not None else None
    if not paragraphs:
        # Headline lists ("AP Top Entertainment News") carry their text as heading lines.
        paragraphs = [h for h in rest[1:] if not _NOTE.match(h) and h != byline]
    dateline_match = WIRE_DATELINE.match(paragraphs[0]) if paragraphs and not tabular else None
    created = _trailer_date(trailer)
    take = match.group("take").strip() if match else ""
    version = _TAKE_VERSION.search(take)
    keyword = match.group("keyword") if match else keyword_line.partition(",")[0]
    return ParsedItem(
        format=WireFormat.ANPA_1312,
        item_index=index,
        item_id=f"anpa:{keyword}" if keyword else None,
        version=str(int(version.group(1)) + 1) if version else None,
        source="AP" if "(AP)" in text[:2000] or trailer.lstrip().startswith("AP-") else None,
        headline=headline,
        body_paragraphs=tuple(paragraphs),
        byline=byline,
        dateline=dateline_match.group("dateline") if dateline_match else None,
        firstcreated=created,
        versioncreated=created,
        section=match.group("category").lower() if match else None,
        urgency=_URGENCY.get(match.group("priority").lower()) if match else None,
        keywords=tuple(k for k in (keyword_line.partition(",")[0], take) if k),
    )


def _trailer_date(trailer: str) -> str | None:
    """ISO 8601 UTC from the trailer's "AP-WF-11-13-13 1509GMT"."""
    found = _TRAILER_DATE.search(trailer[:_HEADER_MAX])
    if found is None:
        return None
    return f"20{found['year']}-{found['month']}-{found['day']}T{found['hh']}:{found['mm']}:00Z"
