"""Stories for the benchmark: Reuters-21578 text when present, else a shipped text generator.

A `Story` is plain text (headline, dateline city, paragraphs, a date); the
benchmark renders each one into a wire format (`tools/bench/wire.py`). Wire
items are ~3 KB, longer than most Reuters stories, so a story's body is its
own article followed by paragraphs borrowed from other articles: every story
stays unique, and two stories share too little text to look like
near-duplicates of each other.

The fallback generator writes news-like sentences from word lists (countries,
leaders, institutions, verbs, figures), seeded, so runs are repeatable without
the shared data and no shared data is ever copied into the repository.
"""

from __future__ import annotations

import html
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

REUTERS_FILE = Path("eval") / "reuters21578" / "articles.jsonl"
_REUTERS_DATE = "%d-%b-%Y %H:%M:%S.%f"
_BASE_DATE = datetime(2024, 3, 4, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Story:
    number: int
    headline: str
    city: str | None
    date: datetime
    paragraphs: tuple[str, ...]
    places: tuple[str, ...] = field(default=())

    @property
    def body_chars(self) -> int:
        return sum(len(p) + 2 for p in self.paragraphs)


def default_shared_dir() -> Path:
    return Path(__file__).resolve().parents[1].parent / "shared"


# ---------------------------------------------------------------- Reuters-21578


def _paragraphs(body: str) -> list[str]:
    # Reuters bodies are hard-wrapped; paragraphs start with an indented line.
    blocks = re.split(r"\n\s{3,}", html.unescape(body).replace("\r", ""))
    out = [" ".join(block.split()) for block in blocks]
    return [p for p in out if len(p) > 20 and not p.lower().startswith("reuter")]


def reuters_articles(path: Path) -> Iterator[tuple[dict[str, Any], str, list[str]]]:
    """(row, title, body paragraphs) of every Reuters-21578 article that has both."""
    with path.open("rb") as handle:
        for line in handle:
            row = orjson.loads(line)
            paragraphs = _paragraphs(row.get("body") or "")
            title = " ".join(html.unescape(row.get("title") or "").split())
            if title and paragraphs:
                yield row, title, paragraphs


def _reuters_rows(path: Path) -> list[tuple[str, str | None, datetime, list[str], tuple[str, ...]]]:
    rows = []
    for row, title, paragraphs in reuters_articles(path):
        city = (row.get("dateline") or "").strip().split(",")[0].strip().title() or None
        try:
            date = datetime.strptime(row["date"].strip(), _REUTERS_DATE).replace(tzinfo=UTC)
        except (KeyError, ValueError):
            date = _BASE_DATE
        # 1987 headlines are upper case; wire items today are not.
        rows.append((title.capitalize(), city, date, paragraphs, tuple(row.get("places") or ())))
    return rows


def reuters_stories(path: Path, count: int, body_chars: int, seed: int = 7) -> list[Story]:
    """`count` stories of about `body_chars` characters each, built from Reuters-21578 articles."""
    rows = _reuters_rows(path)
    rng = random.Random(seed)
    filler = [p for _, _, _, paragraphs, _ in rows for p in paragraphs]
    stories = []
    for number in range(count):
        title, city, date, paragraphs, places = rows[number % len(rows)]
        body = list(paragraphs)
        if number >= len(rows):  # a second pass over the collection: vary the opening too
            rng.shuffle(body)
        size = sum(len(p) for p in body)
        while size < body_chars:
            extra = filler[rng.randrange(len(filler))]
            body.append(extra)
            size += len(extra)
        shifted = _BASE_DATE + (date - datetime(1987, 1, 1, tzinfo=UTC)) % timedelta(days=300)
        stories.append(Story(number, title, city, shifted, tuple(body), places))
    return stories


# ---------------------------------------------------------------- fallback generator

_COUNTRIES = (
    "France", "Germany", "Japan", "Brazil", "India", "Kenya", "Canada", "Mexico", "Egypt", "Indonesia",
    "Turkey", "Poland", "Argentina", "Nigeria", "Vietnam", "Australia", "Chile", "Norway", "Spain",
    "South Africa", "Thailand", "Peru", "Morocco", "Sweden", "Italy", "Pakistan", "Ghana", "Colombia",
)  # fmt: skip
_CITIES = (
    "Paris", "Berlin", "Tokyo", "Brasilia", "New Delhi", "Nairobi", "Ottawa", "Mexico City", "Cairo",
    "Jakarta", "Ankara", "Warsaw", "Buenos Aires", "Lagos", "Hanoi", "Canberra", "Santiago", "Oslo",
)  # fmt: skip
_ACTORS = (
    "the central bank", "the finance ministry", "the government", "the opposition", "the prime minister",
    "the president", "a trade union", "the largest exporter", "the state oil company", "the regulator",
    "the foreign minister", "parliament", "the port authority", "a group of investors",
    "the statistics office",
    "the energy ministry", "farmers' associations", "the army", "the supreme court",
    "the electoral commission",
)  # fmt: skip
_VERBS = (
    "said", "announced", "warned", "confirmed", "denied", "reported", "proposed", "rejected", "approved",
    "forecast", "estimated", "signalled", "agreed", "disclosed", "insisted", "acknowledged",
)  # fmt: skip
_TOPICS = (
    "grain exports", "crude output", "the budget deficit", "interest rates", "wage talks", "coffee prices",
    "a new tariff", "the currency", "rail freight", "the harvest", "bond yields", "steel imports",
    "a border agreement", "fuel subsidies", "the fishing quota", "copper shipments", "housing starts",
    "tax reform", "the election timetable", "a water treaty", "sugar stocks", "airline capacity",
)  # fmt: skip
_MOVES = (
    "would rise by", "had fallen by", "was expected to climb by", "could drop by", "was cut by",
    "would be raised by", "had grown by", "slipped by", "jumped by", "was revised down by",
)  # fmt: skip
_TIMES = (
    "on Monday", "on Tuesday", "late on Wednesday", "on Thursday", "early on Friday", "over the weekend",
    "last month", "this quarter", "in the first half", "since January",
)  # fmt: skip
_LINKS = (
    "Analysts in {city} said", "According to officials,", "In a statement,", "Speaking to reporters,",
    "Separately,", "Earlier,", "Traders said", "A spokesman added that",
)  # fmt: skip
_FIRST = (
    "Anna",
    "Jorge",
    "Mei",
    "Kwame",
    "Lena",
    "Ravi",
    "Omar",
    "Sofia",
    "Tomas",
    "Aiko",
    "Pierre",
    "Nadia",
)
_LAST = ("Novak", "Silva", "Chen", "Mensah", "Berg", "Sharma", "Haddad", "Rossi", "Kowalski", "Tanaka")


def _sentence(rng: random.Random) -> str:
    country = rng.choice(_COUNTRIES)
    figure = f"{rng.uniform(0.1, 48):.1f} {rng.choice(('percent', 'pct', 'billion dollars', 'mln tonnes'))}"
    person = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    shapes = (
        f"{rng.choice(_ACTORS).capitalize()} of {country} {rng.choice(_VERBS)} {rng.choice(_TIMES)} that "
        f"{rng.choice(_TOPICS)} {rng.choice(_MOVES)} {figure}.",
        f"{rng.choice(_LINKS).format(city=rng.choice(_CITIES))} {rng.choice(_TOPICS)} in {country} "
        f"{rng.choice(_MOVES)} {figure} {rng.choice(_TIMES)}.",
        f'"We {rng.choice(_VERBS)} {rng.choice(_TOPICS)} with {rng.choice(_ACTORS)}," {person} of '
        f"{country} {rng.choice(_VERBS)} {rng.choice(_TIMES)}.",
        f"{person}, who heads {rng.choice(_ACTORS)} in {rng.choice(_CITIES)}, {rng.choice(_VERBS)} that "
        f"{rng.choice(_TOPICS)} {rng.choice(_MOVES)} {figure} and that {rng.choice(_ACTORS)} "
        f"{rng.choice(_VERBS)} {rng.choice(_TOPICS)}.",
    )
    return rng.choice(shapes)


def _fallback_story(number: int, rng: random.Random, body_chars: int) -> Story:
    country = rng.choice(_COUNTRIES)
    headline = f"{country} {rng.choice(_TOPICS)} {rng.choice(_MOVES)} {rng.uniform(1, 30):.1f} pct"
    paragraphs: list[str] = []
    size = 0
    while size < body_chars:
        paragraph = " ".join(_sentence(rng) for _ in range(rng.randint(2, 4)))
        paragraphs.append(paragraph)
        size += len(paragraph)
    date = _BASE_DATE + timedelta(minutes=number * 7 + rng.randrange(7))
    return Story(number, headline[:1].upper() + headline[1:], rng.choice(_CITIES), date, tuple(paragraphs))


def generated_stories(count: int, body_chars: int, seed: int = 7) -> list[Story]:
    rng = random.Random(seed)
    return [_fallback_story(number, rng, body_chars) for number in range(count)]


def load_stories(
    count: int, body_chars: int, shared: Path | None = None, seed: int = 7
) -> tuple[list[Story], str]:
    """Stories and the name of their origin ('reuters21578' or 'generated')."""
    path = (shared or default_shared_dir()) / REUTERS_FILE
    if path.is_file():
        return reuters_stories(path, count, body_chars, seed), "reuters21578"
    return generated_stories(count, body_chars, seed), "generated"


def iter_sentences(text: str) -> Iterator[str]:
    """Sentences of a paragraph (good enough for light rewording of near-duplicates)."""
    yield from (s for s in re.split(r"(?<=[.!?])\s+", text) if s)
