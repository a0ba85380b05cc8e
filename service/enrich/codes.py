"""ISO 3166 codes, all read from pycountry, and the policy for states that no longer exist.

Policy (also in the package README): a country is reported with the code of the
entity the text names *at the article's date*.

- A state that still exists, even renamed, keeps its current ISO 3166-1 code
  (Zaire -> CD, Burma -> MM, Swaziland -> SZ, West Germany -> DE, North Yemen -> YE).
- A dissolved state gets its former ISO 3166-1 alpha-2 code from ISO 3166-3:
  USSR -> SU (SUHH), East Germany -> DD (DDDE), Yugoslavia -> YU (YUCS),
  Czechoslovakia -> CS (CSHH; not the later Serbia-and-Montenegro CS),
  South Yemen -> YD (YDYE), Netherlands Antilles -> AN (ANHH).
- Places of a successor state mentioned in copy dated before the dissolution are
  reported as the predecessor ("Moscow" in 1987 -> SU, "Prague" in 1990 -> CS,
  "Leipzig" in 1989 -> DD), see `SUCCESSION`.
Kosovo (XK) is a user-assigned code, not in ISO 3166-1: it is accepted in the leader
registry, but no country object is published for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import pycountry


@dataclass(frozen=True, slots=True)
class CountryCode:
    alpha2: str
    alpha3: str
    numeric: str
    name: str


# Former codes as ISO 3166-3 alpha-4, so that CS means Czechoslovakia (CSHH).
HISTORIC_ALPHA4 = {"SU": "SUHH", "DD": "DDDE", "YU": "YUCS", "CS": "CSHH", "YD": "YDYE", "AN": "ANHH"}
_HISTORIC_NAMES = {
    "SU": "Soviet Union",
    "DD": "East Germany",
    "YU": "Yugoslavia",
    "CS": "Czechoslovakia",
    "YD": "South Yemen",
    "AN": "Netherlands Antilles",
}

# predecessor -> (first day the successors exist, successors)
SUCCESSION: dict[str, tuple[date, frozenset[str]]] = {
    "SU": (
        date(1991, 12, 26),
        frozenset(("RU", "UA", "BY", "KZ", "UZ", "GE", "AM", "AZ", "LT", "LV", "EE", "MD", "KG", "TJ", "TM")),
    ),
    "YU": (date(1992, 4, 27), frozenset(("RS", "HR", "SI", "BA", "MK", "ME"))),
    "CS": (date(1993, 1, 1), frozenset(("CZ", "SK"))),
}
GERMAN_REUNIFICATION = date(1990, 10, 3)
YEMEN_UNIFICATION = date(1990, 5, 22)


def _display_name(country: object) -> str:
    common = getattr(country, "common_name", None)
    name: str = getattr(country, "name", "")
    return str(common) if common else name


def build_codes() -> dict[str, CountryCode]:
    """alpha-2 -> codes for every current country and the historical ones in the policy."""
    codes = {
        c.alpha_2: CountryCode(c.alpha_2, c.alpha_3, c.numeric, _display_name(c)) for c in pycountry.countries
    }
    for alpha2, alpha4 in HISTORIC_ALPHA4.items():
        historic = pycountry.historic_countries.get(alpha_4=alpha4)
        assert historic is not None, alpha4  # pinned codes; a pycountry without them is unusable
        codes[alpha2] = CountryCode(alpha2, historic.alpha_3, historic.numeric, _HISTORIC_NAMES[alpha2])
    return codes


CODES = build_codes()
KNOWN_REGISTRY_CODES = frozenset((*CODES, "XK"))


_LAST_SUCCESSION = max(since for since, _ in SUCCESSION.values())


@lru_cache(maxsize=4096)  # ~13 calls an article, few distinct (code, day) pairs
def at_date(alpha2: str, when: date) -> str:
    """The code of the entity that held this territory at `when` (SUCCESSION policy)."""
    if when >= _LAST_SUCCESSION:
        return alpha2
    for predecessor, (since, successors) in SUCCESSION.items():
        if when < since and alpha2 in successors:
            return predecessor
    return alpha2
