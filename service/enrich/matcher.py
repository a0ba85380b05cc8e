"""One-pass multi-pattern matching: an Aho-Corasick automaton over lower-cased text.

The automaton is built once; `scan` walks the text once, keeps only hits on word
boundaries whose original spelling passes the entry's case rule, and resolves
overlaps leftmost-longest, so "Papua New Guinea" hides "Guinea" and "Nigeria" is
never read as "Niger".
"""

from __future__ import annotations

import operator
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import ahocorasick_rs


class Case(IntEnum):
    ANY = 0  # "the french president" reads as well as "the French president"
    CAPITALIZED = 1  # first letter upper case (or the whole word in capitals): "Turkey", not "turkey"
    EXACT = 2  # acronyms: "US" but never "us"


@dataclass(frozen=True, slots=True)
class Entry:
    """What one surface form means; `data` is interpreted by the stage that added it."""

    kind: str
    data: Any
    case: Case


@dataclass(slots=True)  # read-only by convention: a frozen __init__ costs 3x, ~15 per article
class Hit:
    start: int
    end: int
    text: str
    entries: tuple[Entry, ...]
    by_kind: dict[str, Entry]  # the first entry of each kind, so stages look one up without a loop


def fold(text: str) -> str:
    """Strip accents so "Cote d'Ivoire" and "Côte d'Ivoire" are one key."""
    if text.isascii():  # NFKD leaves ASCII as it is; most of the 2 x 33k gazetteer names are
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def case_rule(form: str) -> Case:
    letters = [ch for ch in form if ch.isalpha()]
    if letters and all(ch.isupper() for ch in letters) and len(letters) <= 5:
        return Case.EXACT
    return Case.CAPITALIZED


# Every separator (whitespace, punctuation) reads as a space, in keys and in text alike;
# keys are stored as " word word ", so the automaton itself only reports whole-word
# matches and no per-hit boundary test is needed (the scan's hot loop stays short).
_SEPARATORS = [
    *(chr(c) for c in range(0x80) if not chr(c).isalnum()),
    *(chr(c) for c in range(0xA0, 0xC0)),
    *(chr(c) for c in range(0x2000, 0x2070)),
    "\u00d7",
    "\u00f7",
    # Arabic comma, semicolon and question mark: "نتنياهو،" ends a name as "Netanyahu," does.
    "\u060c",
    "\u061b",
    "\u061f",
]
_BOUNDARY = str.maketrans(dict.fromkeys(_SEPARATORS, " "))
# `_normalize` of ASCII text as one bytes translation: lower case, separators as spaces.
_ASCII_NORMALIZE = bytes(
    32 if chr(c) in _SEPARATORS else ord(chr(c).lower()) if c < 128 else c for c in range(256)
)
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


def transliterate(text: str) -> str:
    """German-style spelling wire copy uses for umlauts: "Weizsaecker", "Duesseldorf"."""
    return text.translate(_UMLAUTS)


def _normalize(text: str) -> str:
    """Lower case with separators as spaces, same length as `text` (offsets stay aligned)."""
    lowered = text.lower()
    if len(lowered) != len(text):
        # A few characters (e.g. "İ") lower-case to two; keep them as they are.
        lowered = "".join(low if len(low := ch.lower()) == 1 else ch for ch in text)
    # A line break inside a name ("Yasuhiro\nNakasone") must not hide it.
    return lowered.translate(_BOUNDARY)


class Matcher:
    """A frozen automaton from surface forms to entries."""

    def __init__(self, forms: Iterable[tuple[str, Entry]]) -> None:
        merged: dict[str, list[tuple[str, Entry]]] = {}
        for form, entry in forms:
            for variant in {form.strip(), fold(form.strip()), transliterate(form.strip())}:
                normalized = _normalize(variant)
                key = normalized.strip()
                if not key or len(normalized) != len(variant):
                    continue
                # The match covers the key's words only ("U.S" of "U.S."), so compare case on that.
                lead = len(normalized) - len(normalized.lstrip())
                merged.setdefault(f" {key} ", []).append((variant[lead : lead + len(key)], entry))
        keys = list(merged)
        # What `scan` needs per key, by the automata's pattern index: the payload is the entries,
        # or (form, entry) pairs when the case is checked per entry (see `_case_plan`).
        self._plans: list[tuple[str, Any, Any]] = [_case_plan(tuple(dict.fromkeys(merged[k]))) for k in keys]
        # Rust's aho-corasick reads ASCII text (most wire copy) as bytes, faster than over str,
        # and other text as str, whose offsets are characters. Contiguous NFAs: a DFA is faster
        # still but takes ~20 MB for the main automaton and ~40 MB for the dateline one, per worker.
        self._ascii = ahocorasick_rs.BytesAhoCorasick(
            [key.encode() for key in keys], implementation=ahocorasick_rs.Implementation.ContiguousNFA
        )
        self._unicode = ahocorasick_rs.AhoCorasick(
            keys, implementation=ahocorasick_rs.Implementation.ContiguousNFA
        )
        self.size = len(merged)

    def scan(self, text: str) -> list[Hit]:
        """Word-bounded, case-checked, non-overlapping hits in text order."""
        if not text:
            return []
        if text.isascii():
            padded = (" " + text + " ").encode("ascii").translate(_ASCII_NORMALIZE)
            found = self._ascii.find_matches_as_indexes(padded, overlapping=True)
        else:
            found = self._unicode.find_matches_as_indexes(" " + _normalize(text) + " ", overlapping=True)
        plans = self._plans
        candidates: list[tuple[int, int, tuple[Entry, ...], dict[str, Entry]]] = []
        # A key " word " found at padded[start:stop] is the word text[start : stop - 2].
        # The case rule is decided per key at build time (`_case_plan`), so most hits cost
        # one look at their first letter; "said" (the surname Said) alone is ~10 hits an article.
        for index, start, stop in found:
            plan, payload, kinds = plans[index]
            if plan is _ALL_CAPITALIZED:
                first = text[start]
                if not first.isupper() and first.isalpha():
                    continue
                entries, by_kind = payload, kinds
            elif plan is _ALL_ANY:
                entries, by_kind = payload, kinds
            else:
                original = text[start : stop - 2]
                entries = tuple(entry for form, entry in payload if _case_ok(entry.case, form, original))
                if not entries:
                    continue
                by_kind = _first_by_kind(entries)
            # (start, -end): leftmost first, then longest; two keys never share a span.
            candidates.append((start, 2 - stop, entries, by_kind))
        candidates.sort(key=_span)
        hits: list[Hit] = []
        last_end = -1
        for start, negative_end, entries, by_kind in candidates:
            if start >= last_end:
                last_end = -negative_end
                hits.append(Hit(start, last_end, text[start:last_end], entries, by_kind))
        return hits


_ALL_ANY = "any"
_ALL_CAPITALIZED = "capitalized"
_MIXED = "mixed"


_span = operator.itemgetter(0, 1)


def _case_plan(
    pairs: tuple[tuple[str, Entry], ...],
) -> tuple[str, tuple[Any, ...], dict[str, Entry] | None]:
    """How `scan` checks case for one key: one shared rule for all its entries, or per entry."""
    entries = tuple(entry for _, entry in pairs)
    # Identity, not a set of the rules: hashing an Enum member runs Python code, and keys shared
    # by many entries (city names) made this a third of the enricher's load time.
    rule = entries[0].case
    if all(entry.case is rule for entry in entries):
        if rule is Case.ANY:
            return _ALL_ANY, entries, _first_by_kind(entries)
        if rule is Case.CAPITALIZED:
            return _ALL_CAPITALIZED, entries, _first_by_kind(entries)
    return _MIXED, pairs, None


def _first_by_kind(entries: tuple[Entry, ...]) -> dict[str, Entry]:
    by_kind: dict[str, Entry] = {}
    for entry in entries:
        by_kind.setdefault(entry.kind, entry)
    return by_kind


def _case_ok(rule: Case, form: str, original: str) -> bool:
    if rule is Case.ANY:
        return True
    if rule is Case.EXACT:
        return original == form or fold(original) == form
    first = original[0]
    return first.isupper() or not first.isalpha()
