"""Countries from matcher hits: context rules, the historical-code policy, and salience.

Salience is the share of the article's country evidence that points at a country:
each mention weighs by its kind (a name counts more than a city), a mention in the
headline counts double, a dateline adds a fixed bonus; the best country scores 1.0.
Role: `dateline` when the country is in the dateline, `subject` when it is in the
headline, has salience >= SUBJECT_SALIENCE, or is led (on the article's date) by a
leader who is a subject of the story, otherwise `mentioned`. Such a leader is also
evidence of kind "leader" for the country, and the mention lists their QIDs in `leaders`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..models import CountryMention, CountryRole, trusted
from .codes import CODES, GERMAN_REUNIFICATION, at_date
from .gazetteer import (
    CAPITAL,
    CITY,
    CONGO,
    CONTEXT,
    COUNTRY,
    DATELINE_STATE,
    GEORGIA,
    GEORGIA_US_CONTEXT,
    STATE,
    Place,
)
from .matcher import Hit

LEADER = "leader"  # evidence from a subject leader of the story, not from a place name
WEIGHTS = {
    DATELINE_STATE: 0.5,
    "name": 1.0,
    "demonym": 0.8,
    CAPITAL: 0.8,
    CITY: 0.6,
    STATE: 0.5,
    LEADER: 0.5,
}
HEADLINE_FACTOR = 2.0
DATELINE_BONUS = 3.0
SUBJECT_SALIENCE = 0.5
ZAIRE_RENAMED = date(1997, 5, 17)  # before this, plain "Congo" is Brazzaville (CG)


@dataclass(slots=True)
class _Tally:
    score: float = 0.0
    mentions: int = 0
    first_offset: int = -1
    in_headline: bool = False
    in_dateline: bool = False


@dataclass(slots=True)  # read-only by convention: a frozen __init__ costs 3x, ~13 per article
class Evidence:
    """One piece of evidence: a country (alpha-2 as of the article date) at an offset."""

    alpha2: str
    kind: str
    offset: int  # -1 when it is only in a separate dateline
    in_dateline: bool
    hit: int = -1  # index of the hit it came from, so hits later read as a person can be dropped


def evidence(
    all_hits: list[Hit], when: date, skip: set[int], dateline: tuple[int, int], offset_base: int
) -> list[Evidence]:
    """Turn hits into evidence; Georgia and Congo are decided by the other hits of the article.

    `dateline` is the span of the hits' text that is a dateline; `offset_base` -1 means the
    hits are from a separate dateline field, so they have no offset in headline + body.
    """
    hits = [hit for index, hit in enumerate(all_hits) if index not in skip] if skip else all_hits
    found: list[Evidence] = []
    pending: list[tuple[str, Hit]] = []
    before_reunification = when < GERMAN_REUNIFICATION
    dateline_start, dateline_end = dateline
    for index, hit in enumerate(all_hits):
        if index in skip:
            continue
        for entry in hit.entries:
            kind = entry.kind
            if kind == COUNTRY:
                place: Place = entry.data
                in_dateline = dateline_start <= hit.start < dateline_end
                if place.kind == DATELINE_STATE and not in_dateline:
                    break
                code = "DD" if place.east_german and before_reunification else place.alpha2
                offset = hit.start + offset_base if offset_base >= 0 else -1
                found.append(Evidence(at_date(code, when), place.kind, offset, in_dateline, index))
                break
            if kind in _CONTEXTUAL:
                pending.append((kind, hit))
                break
    found += _contextual(pending, found, hits, when, dateline=dateline, offset_base=offset_base)
    return _dateline_qualifier(found)


_CONTEXTUAL = frozenset((GEORGIA, CONGO, CONTEXT))


def _dateline_qualifier(found: list[Evidence]) -> list[Evidence]:
    """In "SAN JOSE, Calif." the last place qualifies the first: keep only its country."""
    in_dateline = [e for e in found if e.in_dateline]
    if len({e.alpha2 for e in in_dateline}) < 2:
        return found
    last = in_dateline[-1].alpha2
    return [e for e in found if not e.in_dateline or e.alpha2 == last]


def _contextual(
    pending: list[tuple[str, Hit]],
    found: list[Evidence],
    hits: list[Hit],
    when: date,
    *,
    dateline: tuple[int, int],
    offset_base: int,
) -> list[Evidence]:
    if not pending:
        return []
    codes = {e.alpha2 for e in found}
    us_places = any(e.alpha2 == "US" and e.kind in (STATE, CITY, CAPITAL) for e in found)
    us_context = us_places or any(h.text.lower() in GEORGIA_US_CONTEXT for h in hits)
    georgia = "GE" if "GE" in codes or not us_context else "US"
    if "CG" in codes and "CD" not in codes:
        congo = "CG"
    elif "CD" in codes and "CG" not in codes:
        congo = "CD"
    else:
        congo = "CG" if when < ZAIRE_RENAMED else "CD"
    out: list[Evidence] = []
    for kind, hit in pending:
        code = georgia if kind == GEORGIA else congo
        offset = hit.start + offset_base if offset_base >= 0 else -1
        out.append(Evidence(at_date(code, when), "name", offset, _within(hit, dateline)))
    return out


def _within(hit: Hit, span: tuple[int, int]) -> bool:
    return span[0] <= hit.start < span[1]


def summarize(
    items: list[Evidence], headline_end: int, led_by: dict[str, tuple[str, ...]] | None = None
) -> list[CountryMention]:
    """One CountryMention per country, most salient first; `led_by`: country -> its subject leaders' QIDs."""
    led_by = led_by or {}
    tallies: dict[str, _Tally] = {}
    for item in items:
        if item.alpha2 not in CODES:
            continue
        tally = tallies.get(item.alpha2)
        if tally is None:
            tally = tallies[item.alpha2] = _Tally()
        weight = WEIGHTS.get(item.kind, 0.5)
        in_headline = 0 <= item.offset < headline_end
        tally.score += weight * (HEADLINE_FACTOR if in_headline else 1.0)
        if item.in_dateline and not tally.in_dateline:
            tally.score += DATELINE_BONUS
            tally.in_dateline = True
        tally.in_headline |= in_headline
        if item.offset >= 0:
            tally.mentions += 1
            if tally.first_offset < 0 or item.offset < tally.first_offset:
                tally.first_offset = item.offset
    if not tallies:
        return []
    top = max(t.score for t in tallies.values())
    out: list[CountryMention] = []
    for alpha2, tally in tallies.items():
        code = CODES[alpha2]
        salience = round(tally.score / top, 3)
        if tally.in_dateline:
            role = CountryRole.DATELINE
        elif tally.in_headline or salience >= SUBJECT_SALIENCE or alpha2 in led_by:
            role = CountryRole.SUBJECT
        else:
            role = CountryRole.MENTIONED
        out.append(
            trusted(
                CountryMention,
                {
                    "alpha2": alpha2,
                    "alpha3": code.alpha3,
                    "numeric": code.numeric,
                    "name": code.name,
                    "mentions": tally.mentions,
                    "first_offset": tally.first_offset,
                    "in_headline": tally.in_headline,
                    "in_dateline": tally.in_dateline,
                    "salience": salience,
                    "role": role,
                    "leaders": led_by.get(alpha2, ()),
                },
            )
        )
    out.sort(key=lambda m: (-m.salience, m.first_offset, m.alpha2))
    return out
