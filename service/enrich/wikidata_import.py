"""Convert a Wikidata SPARQL JSON result into registry entries, so operators can refresh the registry.

Expected variables (SPARQL 1.1 JSON results format), one row per position statement:

    person        entity URI of the person (http://www.wikidata.org/entity/Q...)   required
    personLabel   English label                                                       required
    countryCode   ISO 3166-1 alpha-2 of the country (P297)                            required
    positionLabel label of the office (P39 value)                                     required
    start         P580 start time qualifier (xsd:dateTime)                            required
    end           P582 end time qualifier                                             optional
    role          "head_of_state" | "head_of_government" | "both"                   optional
    aliases       "; "-separated English aliases (GROUP_CONCAT)                       optional
    label_xx      the person's label in language xx (label_fr, label_ru, label_zh...)  optional
    aliases_xx    "; "-separated aliases in language xx                               optional

`import_labels` turns the label_xx/aliases_xx columns into leader_labels.csv rows (a label
or a multi-word alias is a full name, a one-word alias a surname), e.g. with
`OPTIONAL { ?person rdfs:label ?label_ru FILTER(LANG(?label_ru) = "ru") }` per language.

A query of this shape (P35 head of state / P6 head of government of each country,
joined to the person's P39 statement for that office):

    SELECT ?person ?personLabel ?countryCode ?positionLabel ?start ?end ?role WHERE {
      ?country wdt:P297 ?countryCode .
      { ?country wdt:P1906 ?position . BIND("head_of_state" AS ?role) }
      UNION { ?country wdt:P1313 ?position . BIND("head_of_government" AS ?role) }
      ?person p:P39 ?st . ?st ps:P39 ?position ; pq:P580 ?start .
      OPTIONAL { ?st pq:P582 ?end }
      SERVICE wikibase:label { bd:serviceParam wikibase:language "en". }
    }

Without `role`, it is inferred from the office label. Rows with the same person,
office and start are merged (Wikidata often repeats a statement per reference).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from .registry import RegistryEntry, Role

_ENTITY_PREFIX = "http://www.wikidata.org/entity/"
_HEAD_OF_GOVERNMENT_WORDS = ("prime minister", "premier", "chancellor", "taoiseach", "chief minister")


def _value(binding: dict[str, Any], name: str) -> str | None:
    cell = binding.get(name)
    if not isinstance(cell, dict):
        return None
    value = cell.get("value")
    return str(value) if value not in (None, "") else None


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    # xsd:dateTime such as "2013-03-14T00:00:00Z"; Wikidata writes year precision as -01-01.
    return date.fromisoformat(value.lstrip("+")[:10])


def _role(binding: dict[str, Any], office: str) -> Role:
    given = _value(binding, "role")
    if given in ("head_of_state", "head_of_government", "both"):
        return given  # type: ignore[return-value]  # checked just above
    lowered = office.lower()
    if any(word in lowered for word in _HEAD_OF_GOVERNMENT_WORDS):
        return "head_of_government"
    return "head_of_state"


def _bindings(sparql_json: Path) -> list[dict[str, Any]]:
    try:
        document = json.loads(sparql_json.read_text(encoding="utf-8"))
        bindings: list[dict[str, Any]] = document["results"]["bindings"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{sparql_json}: not a SPARQL JSON result ({exc})") from exc
    return bindings


def import_labels(sparql_json: Path) -> list[tuple[str, str, str, str]]:
    """(wikidata_id, lang, label, "full" | "surname") rows from the label_xx/aliases_xx columns."""
    rows: dict[tuple[str, str, str], str] = {}
    for binding in _bindings(sparql_json):
        qid = (_value(binding, "person") or "").removeprefix(_ENTITY_PREFIX)
        if not (qid.startswith("Q") and qid[1:].isdigit()):
            continue
        for column in binding:
            kind, _, lang = column.partition("_")
            if kind not in ("label", "aliases") or not lang.isalpha():
                continue
            values = (_value(binding, column) or "").split(";")
            for value in (v.strip() for v in values):
                if value:
                    full = kind == "label" or " " in value
                    rows.setdefault((qid, lang, value), "full" if full else "surname")
    return [(qid, lang, label, form) for (qid, lang, label), form in sorted(rows.items())]


def import_wikidata(sparql_json: Path) -> list[RegistryEntry]:
    """Registry entries from a SPARQL JSON result; raises ValueError on a malformed file."""
    bindings = _bindings(sparql_json)
    entries: dict[tuple[str, str, date], RegistryEntry] = {}
    for number, binding in enumerate(bindings, start=1):
        uri = _value(binding, "person")
        name = _value(binding, "personLabel")
        country = _value(binding, "countryCode")
        office = _value(binding, "positionLabel")
        start = _day(_value(binding, "start"))
        if not (uri and name and country and office and start):
            raise ValueError(
                f"{sparql_json}: row {number} lacks person, personLabel, countryCode, positionLabel or start"
            )
        qid = uri.removeprefix(_ENTITY_PREFIX)
        if not (qid.startswith("Q") and qid[1:].isdigit()):
            raise ValueError(f"{sparql_json}: row {number}: {uri!r} is not a Wikidata item")
        aliases = tuple(a.strip() for a in (_value(binding, "aliases") or "").split(";") if a.strip())
        entry = RegistryEntry(
            wikidata_id=qid,
            name=name,
            aliases=aliases,
            country=country.upper(),
            office=office[0].upper() + office[1:],
            role=_role(binding, office),
            start=start,
            end=_day(_value(binding, "end")),
            source="wikidata sparql import",
        )
        key = (qid, entry.office, start)
        previous = entries.get(key)
        # Repeated statements: keep the one that carries an end date.
        if previous is None or (previous.end is None and entry.end is not None):
            entries[key] = entry
    return sorted(entries.values(), key=lambda e: (e.country, e.office, e.start, e.name))
