"""Country names for datelines and 'in City, Country' phrases (pycountry plus the names wires use)."""

from __future__ import annotations

import re
from functools import cache

import pycountry

# Names agencies write that pycountry spells differently; value = the display name we publish.
_ALIASES = {
    "u.s.": "United States",
    "us": "United States",
    "usa": "United States",
    "u.s.a.": "United States",
    "america": "United States",
    "uk": "United Kingdom",
    "u.k.": "United Kingdom",
    "britain": "United Kingdom",
    "great britain": "United Kingdom",
    "england": "United Kingdom",
    "scotland": "United Kingdom",
    "wales": "United Kingdom",
    "russia": "Russia",
    "russian federation": "Russia",
    "turkey": "Türkiye",
    "czech republic": "Czechia",
    "ivory coast": "Côte d'Ivoire",
    "dr congo": "Democratic Republic of the Congo",
    "drc": "Democratic Republic of the Congo",
    "democratic republic of congo": "Democratic Republic of the Congo",
    "republic of congo": "Congo",
    "palestine": "Palestine",
    "palestinian territories": "Palestine",
    "vatican": "Holy See",
    "vatican city": "Holy See",
    "brunei": "Brunei",
    "cape verde": "Cabo Verde",
    "macedonia": "North Macedonia",
    "swaziland": "Eswatini",
    "burma": "Myanmar",
    "east timor": "Timor-Leste",
    "kosovo": "Kosovo",
    "the netherlands": "Netherlands",
    "holland": "Netherlands",
    "uae": "United Arab Emirates",
    "hong kong": "Hong Kong",
    "macao": "Macao",
    "macau": "Macao",
}

# A wire dateline opening a story: "GROSSETO, Italy (AP) -- ", "SAMARKAND, Uzbekistan, Sept. 15 (Xinhua) -- ".
WIRE_DATELINE = re.compile(
    r"^(?P<dateline>[A-Z][A-Z.'’ -]{1,40}(?:,\s*[A-Z][\w.'’ -]{1,40}){0,2}\s*\([^()]{1,40}\))"
    r"\s*(?:--|[-–—:_])\s*"
)
# Words are possessive: "-" is both a word character and a separator, so "in A-A-A-...-A" with
# no ", " after it had the backtracking engine try every split (200 hyphens: 6 s). The city
# ends where a comma follows, never inside a run of word characters, so the matches are the same.
_IN_PLACE = re.compile(
    r"\bin (?P<city>[A-Z][\w'’.-]++(?:[ -][A-Z][\w'’.-]++){0,3}), "
    r"(?P<country>[A-Z][\w'’.-]++(?: [A-Z][\w'’.-]++){0,3})"
)


@cache
def _countries() -> dict[str, str]:
    names: dict[str, str] = {}
    for country in pycountry.countries:
        display = getattr(country, "common_name", None) or country.name
        for name in (
            country.name,
            getattr(country, "common_name", None),
            getattr(country, "official_name", None),
        ):
            if name:
                names[name.lower()] = display
    names.update(_ALIASES)
    return names


def country_name(text: str) -> str | None:
    """Display name of the country a string names, or None ('U.S.' -> 'United States')."""
    key = " ".join(text.split()).strip(" ,;:").lower()
    if not key:
        return None
    return _countries().get(key) or _countries().get(key.rstrip("."))


def find_place(text: str) -> str | None:
    """'City, Country' from the first 'in City, Country' phrase whose country is real."""
    for match in _IN_PLACE.finditer(text):
        words = match.group("country").split()
        # "in Samarkand, Uzbekistan Thursday" -> try the longest known prefix of the country words.
        for size in range(len(words), 0, -1):
            candidate = " ".join(words[:size])
            # A sentence's full stop is not part of the name, the one in "U.S." is.
            for name in (candidate.rstrip("."), candidate):
                if country_name(name) is not None:
                    return f"{match.group('city')}, {name}"
    return None
