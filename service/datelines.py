"""Datelines: the one a story opens with, and the parts of any dateline.

Agency copy carries the dateline as the first words of the lead, not in a field:

    WASHINGTON, March 27 - ...                       Reuters (1987 and later)
    CAMBRIDGE, Mass., March 26 - ...                 city, AP state abbreviation, date
    SAMARKAND, Uzbekistan, Sept. 15 (Xinhua) -- ...  city, country, date, credit
    LONDON (Reuters) - ...  /  NEW YORK (AP) — ...   city, credit
    PARIS, 12 mars (AFP) - ...  /  Madrid, 12 mar (EFE).- ...  /  Berlin (dpa) - ...
    МОСКВА, 21 марта. /ТАСС/. ...                    TASS: city, date, credit between slashes
    新华社撒马尔罕9月15日电 ...                        Xinhua Chinese: agency, city, date, "电"

`lead_dateline` reads such an opening; it is strict on purpose, because a
headline, a byline or a timestamp at the start of a body must never become a
dateline: the opening must end in a dash after at most four comma-separated
parts; the first part is a place (capital letters, or a capitalised name when a
credit or a date follows), never a date, a time, a byline ("By ...") or a wire
slug ("UPDATE 2", "URGENT"); a bare "CITY -" needs the city in capitals and at
most three words. `parse_dateline` splits any dateline (a format's own field, or
the one found in the lead) into city, country and date; the date is kept as
written, and `english_month_day` reads its French, Spanish, German, Italian or
Portuguese month for the date resolver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .models import Dateline
from .parse.places import country_name
from .text import clean_line

# Month words agencies write in datelines (lower case, without the stop) -> month number.
_MONTH_WORDS: dict[int, tuple[str, ...]] = {
    1: ("jan", "january", "janvier", "janv", "enero", "ene", "januar", "jän", "gennaio", "gen", "janeiro"),
    2: (
        "feb",
        "february",
        "février",
        "fevrier",
        "févr",
        "fevr",
        "fév",
        "febrero",
        "februar",
        "febbraio",
        "fevereiro",
        "fev",
    ),
    3: ("mar", "march", "mars", "marzo", "märz", "maerz", "mär", "março", "marco"),
    4: ("apr", "april", "avril", "avr", "abril", "abr", "aprile"),
    5: ("may", "mai", "mayo", "maggio", "mag", "maio"),
    6: ("jun", "june", "juin", "junio", "juni", "giugno", "giu", "junho"),
    7: ("jul", "july", "juillet", "juil", "julio", "juli", "luglio", "lug", "julho"),
    8: ("aug", "august", "août", "aout", "agosto", "ago"),
    9: ("sep", "sept", "september", "septembre", "septiembre", "set", "settembre", "setembro"),
    10: ("oct", "october", "octobre", "octubre", "okt", "oktober", "ottobre", "ott", "outubro", "out"),
    11: ("nov", "november", "novembre", "noviembre", "novembro"),
    12: (
        "dec",
        "december",
        "décembre",
        "decembre",
        "déc",
        "diciembre",
        "dic",
        "dez",
        "dezember",
        "dicembre",
        "dezembro",
    ),
}
# Russian datelines write the month in the genitive ("21 марта").
_RUSSIAN_MONTHS = (
    *("января", "февраля", "марта", "апреля", "мая", "июня"),
    *("июля", "августа", "сентября", "октября", "ноября", "декабря"),
)
MONTHS = {word: number for number, words in _MONTH_WORDS.items() for word in words}
MONTHS.update({word: number for number, word in enumerate(_RUSSIAN_MONTHS, start=1)})
_ENGLISH = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH = r"(?P<month>[^\W\d_]{3,10})\.?"
_MONTH2 = _MONTH.replace("month", "month2")
# "March 27", "Sept. 15, 2022", "12 mars", "12. März", "12 de marzo de 2024", "1er mai".
_DATE = re.compile(
    rf"^(?:{_MONTH}\s+(?P<day>\d{{1,2}})(?:,?\s+\d{{4}})?"
    rf"|(?P<day2>\d{{1,2}})(?:er|\.)?\s+(?:de\s+)?{_MONTH2}(?:\s+(?:de\s+)?\d{{4}})?)$",
    re.IGNORECASE,
)
# The opening: up to four comma-separated parts, an optional (credit), then the dash. A
# hyphen needs a space before it ("WINSTON-SALEM, N.C." is one name), except after a credit.
_OPENING = re.compile(
    r"^(?P<head>[^\W\d_][^,()\n]{0,40}?(?:,[^,()\n]{1,40}?){0,3}?)"
    r"(?:\s*\((?P<agency>[^()\n]{1,30})\)(?P<sep1>\s*(?:--|[-–—_:]|\.-)\s*)"
    r"|(?P<sep2>\s+(?:--?|[–—_])\s+|\s*--\s*|\s*[–—]\s*|\s*\.-\s*))"
)
# Every opening _OPENING matches holds a "(" (the credit) or a dash ("-", "–", "—", "_"): a
# lead with none of them in its first 200 characters (most leads) skips the costly match.
_OPENING_NEEDS = re.compile(r"[(\-–—_]")
_OPENING_SPAN = 200
_CAPS_PLACE = re.compile(r"^[A-Z][A-Z.'’\- ]*[A-Z.]$")
_NAME_PLACE = re.compile(
    r"^[A-ZÀ-Þ][\w.'’\-]*(?: (?:[A-ZÀ-Þ][\w.'’\-]*|de|del|do|da|am|an|upon|sur|la|le))*$"
)
_REGION = re.compile(r"^[A-Z][\w.'’\-]*(?: [A-Za-z][\w.'’\-]*){0,3}$")
_NOT_PLACES = frozenset(
    (
        "by",
        "update",
        "updated",
        "corrected",
        "correction",
        "refile",
        "repeat",
        "urgent",
        "flash",
        "bulletin",
        "breaking",
        "advisory",
        "editors",
        "note",
        "exclusive",
        "analysis",
        "factbox",
        "interview",
        "wrapup",
        "preview",
        "column",
        "opinion",
        "photo",
        "video",
        "kill",
        "mandatory",
        "embargoed",
        "sidebar",
        "brief",
        "summary",
        "today",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    )
)
_MAX_BARE_WORDS = 3
_AGENCY_TAIL = re.compile(r"\s*(?:\((?P<agency>[^()]{1,40})\)|/[^/\n]{1,40}/)\s*[-–—:.]*\s*$")
# "МОСКВА, 21 марта. /ТАСС/." and "新华社撒马尔罕9月15日电": no dash, the credit ends the dateline.
_TASS = re.compile(
    r"^(?P<head>[А-ЯЁ][А-ЯЁ\- ]{1,40}, \d{1,2} [а-я]{3,8})\.?\s*/(?P<agency>[А-ЯЁA-Z\- ]{2,20})/\.?\s*"
)
_XINHUA_ZH = re.compile(
    r"^(?P<agency>新华社)(?P<city>[\u4e00-\u9fff·]{2,12}?)(?P<date>\d{1,2}月\d{1,2}日)电\s*"
)
_CJK_DATE = re.compile(r"^(?P<month>\d{1,2})月(?P<day>\d{1,2})日$")
# AP/Reuters abbreviations of US states (and D.C.) as datelines write them; see service/data.
US_STATE_ABBREVIATIONS = frozenset(
    (
        "ala",
        "ariz",
        "ark",
        "calif",
        "colo",
        "conn",
        "del",
        "d.c",
        "fla",
        "ga",
        "ill",
        "ind",
        "kan",
        "kans",
        "ky",
        "la",
        "md",
        "mass",
        "mich",
        "minn",
        "miss",
        "mo",
        "mont",
        "neb",
        "nebr",
        "nev",
        "n.h",
        "n.j",
        "n.m",
        "n.y",
        "n.c",
        "n.d",
        "okla",
        "ore",
        "pa",
        "r.i",
        "s.c",
        "s.d",
        "tenn",
        "tex",
        "vt",
        "va",
        "wash",
        "w.va",
        "wis",
        "wyo",
    )
)


@dataclass(frozen=True, slots=True)
class LeadDateline:
    """A dateline read from the start of a lead: its text (credit included, dash not) and where it ends."""

    text: str
    agency: str | None
    end: int  # the story proper starts here, after the dash


def lead_dateline(paragraph: str) -> LeadDateline | None:
    """The dateline the paragraph opens with, or None; see the module docstring for the rules."""
    credited = _credited_opening(paragraph)
    if credited is not None:
        return credited
    opening = paragraph[:_OPENING_SPAN]
    match = _OPENING.match(opening) if _OPENING_NEEDS.search(opening) else None
    if match is None:
        return None
    parts = [p.strip() for p in match.group("head").split(",")]
    agency = match.group("agency")
    place = parts[0]
    if not place or place.split(" ", 1)[0].lower().rstrip(".") in _NOT_PLACES or is_date(place):
        return None
    dates = [p for p in parts[1:] if is_date(p)]  # "12 mars" reads as a date, never a region
    others = [p for p in parts[1:] if p and not is_date(p) and not _is_year(p)]
    if any(not _REGION.match(p) for p in others) or len(others) > 2 or not all(parts[1:]):
        return None
    capitals = bool(_CAPS_PLACE.match(place)) and len(place) > 1
    if not capitals and not (_NAME_PLACE.match(place) and (agency or dates)):
        return None
    if not (agency or dates or others) and (not capitals or len(place.split()) > _MAX_BARE_WORDS):
        return None
    if match.end() >= len(paragraph.rstrip()):
        return None  # nothing after the dash: a heading, not an opening
    text = paragraph[: match.start("sep1" if agency else "sep2")].strip()
    return LeadDateline(text=text, agency=agency.strip() if agency else None, end=match.end())


def _credited_opening(paragraph: str) -> LeadDateline | None:
    """TASS and Xinhua (Chinese) openings, whose credit closes the dateline instead of a dash."""
    tass = _TASS.match(paragraph[:200])
    if (
        tass is not None
        and is_date(tass.group("head").split(",")[1])
        and tass.end() < len(paragraph.rstrip())
    ):
        text = f"{tass.group('head')} /{tass.group('agency').strip()}/"  # without the stops
        return LeadDateline(text=text, agency=tass.group("agency").strip(), end=tass.end())
    xinhua = _XINHUA_ZH.match(paragraph[:100])
    if xinhua is not None and is_date(xinhua.group("date")) and xinhua.end() < len(paragraph.rstrip()):
        return LeadDateline(text=xinhua.group(0).strip(), agency=xinhua.group("agency"), end=xinhua.end())
    return None


def is_date(text: str) -> bool:
    return month_day(text) is not None


def _is_year(text: str) -> bool:
    return text.isdigit() and len(text) == 4


def month_day(text: str) -> tuple[int, int] | None:
    """(month, day) of a dateline date in any of the agencies' languages, or None."""
    cjk = _CJK_DATE.match(text.strip())
    if cjk is not None:
        number, day_number = int(cjk.group("month")), int(cjk.group("day"))
        return (number, day_number) if 1 <= number <= 12 and 1 <= day_number <= 31 else None
    match = _DATE.match(text.strip().rstrip("."))
    if match is None:
        return None
    word = (match.group("month") or match.group("month2")).lower()
    month = MONTHS.get(word)
    day = int(match.group("day") or match.group("day2"))
    if month is None or not 1 <= day <= 31:
        return None
    return month, day


def english_month_day(text: str) -> str | None:
    """ "12 mars" -> "Mar 12": the form the date resolver reads; None when it is no date."""
    found = month_day(text)
    if found is None:
        return None
    year = re.search(r"\b\d{4}\b", text)
    return f"{_ENGLISH[found[0] - 1]} {found[1]}" + (f", {year.group(0)}" if year else "")


def _country(part: str) -> str | None:
    if part.lower().rstrip(".") in US_STATE_ABBREVIATIONS:
        return "United States"
    return country_name(part)


def parse_dateline(text: str) -> Dateline | None:
    """Split a dateline: "SAMARKAND, Uzbekistan, Sept. 15 (Xinhua) --" -> city, country, date as written.

    The country is the one a later part names ("Uzbekistan", or "Mass." for the US);
    a dateline that is only a country name ("LEBANON") has no city.
    """
    cleaned = clean_line(text)
    xinhua = _XINHUA_ZH.match(cleaned)
    if xinhua is not None:
        return Dateline(text=cleaned, city=xinhua.group("city"), country=None, date=xinhua.group("date"))
    cleaned = _AGENCY_TAIL.sub("", cleaned).strip(" ,-–—:")
    if not cleaned:
        return None
    parts = [p.strip() for p in cleaned.split(",") if p.strip()]
    city: str | None = None
    country: str | None = None
    date: str | None = None
    for index, part in enumerate(parts):
        if is_date(part) or (date is not None and _is_year(part)):
            date = part if date is None else f"{date}, {part}"
        elif country is None and index > 0 and _country(part) is not None:
            country = _country(part)
        elif city is None and index == 0:
            city = part.title() if part.isupper() and len(part) > 3 else part
    if city is not None and country is None and country_name(city) is not None and len(parts) == 1:
        country, city = country_name(city), None
    return Dateline(text=cleaned, city=city, country=country, date=date)
