"""The benchmark's input: a realistic mix of wire records over the corpus stories.

Most records are new stories, in a rotation of every supported format; the
rest are what a real feed carries besides: exact redeliveries of a recent
record, new versions of an item (same ID, higher version, edited text) and
near-duplicates (the same story filed by another source, in another format,
lightly reworded). The mix is seeded, so every run sees the same records.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from tools.bench.wire import FORMATS, WireItem, render
from tools.corpus import Story, iter_sentences, load_stories

SOURCES = ("Reuters", "Xinhua", "AFP", "Kyodo", "ANSA")
DEFAULT_MIX = {"new": 0.74, "redelivery": 0.10, "update": 0.08, "near_duplicate": 0.08}
TARGET_BYTES = 3000
_RECENT = 500  # redeliveries and updates refer to items this recent, as a replaying feed would


@dataclass(frozen=True)
class BenchRecord:
    value: bytes
    key: bytes
    kind: str  # new | redelivery | update | near_duplicate
    wire_format: str


@dataclass
class _Issued:
    item: WireItem
    wire_format: str
    record: BenchRecord


def _first_item(story: Story, source: str) -> WireItem:
    return WireItem(
        story=story,
        item_id=f"urn:bench:{source.lower()}:{story.number}",
        version=1,
        source=source,
        headline=story.headline,
        paragraphs=story.paragraphs,
        created=story.date,
        updated=story.date,
    )


def _new_version(item: WireItem, rng: random.Random) -> WireItem:
    who = rng.choice(("Officials", "Traders", "Analysts"))
    lead = f"{item.paragraphs[0]} {who} confirmed the figures later."
    return replace(
        item,
        version=item.version + 1,
        headline=f"UPDATE {item.version}-{item.headline}",
        paragraphs=(lead, *item.paragraphs[1:]),
        updated=item.updated + timedelta(minutes=rng.randint(5, 90)),
    )


def _reworded(item: WireItem, source: str, rng: random.Random) -> WireItem:
    # Another desk's copy: one sentence dropped from the lead, a different headline and byline.
    sentences = list(iter_sentences(item.paragraphs[0]))
    if len(sentences) > 1:
        sentences.pop(rng.randrange(len(sentences)))
    return replace(
        item,
        item_id=f"urn:bench:{source.lower()}:{item.story.number}",
        version=1,
        source=source,
        headline=f"{item.headline} - {source}",
        paragraphs=(" ".join(sentences), *item.paragraphs[1:]),
        byline=f"By {source} correspondent",
        updated=item.updated + timedelta(minutes=rng.randint(1, 30)),
    )


def _record(item: WireItem, wire_format: str, kind: str) -> BenchRecord:
    return BenchRecord(
        value=render(wire_format, item, TARGET_BYTES),
        key=item.item_id.encode(),
        kind=kind,
        wire_format=wire_format,
    )


def build_records(
    stories: list[Story], count: int, mix: dict[str, float] | None = None, seed: int = 11
) -> list[BenchRecord]:
    """`count` records: new stories in every format, plus redeliveries, versions and near-duplicates."""
    rng = random.Random(seed)
    kinds, weights = zip(*(mix or DEFAULT_MIX).items(), strict=True)
    issued: list[_Issued] = []
    records: list[BenchRecord] = []
    next_story = 0
    for _ in range(count):
        kind = rng.choices(kinds, weights)[0] if issued else "new"
        if kind == "new" or next_story == 0:
            story = stories[next_story % len(stories)]
            wire_format = FORMATS[next_story % len(FORMATS)]
            item = _first_item(story, SOURCES[next_story % len(SOURCES)])
            next_story += 1
            issued.append(_Issued(item, wire_format, _record(item, wire_format, "new")))
            records.append(issued[-1].record)
            continue
        previous = issued[rng.randrange(max(0, len(issued) - _RECENT), len(issued))]
        if kind == "redelivery":
            records.append(replace(previous.record, kind="redelivery"))
        elif kind == "update":
            item = _new_version(previous.item, rng)
            issued.append(_Issued(item, previous.wire_format, _record(item, previous.wire_format, "update")))
            records.append(issued[-1].record)
        else:
            source = rng.choice([s for s in SOURCES if s != previous.item.source])
            wire_format = rng.choice([f for f in FORMATS if f != previous.wire_format])
            item = _reworded(previous.item, source, rng)
            records.append(_record(item, wire_format, "near_duplicate"))
    return records


def bench_records(count: int, shared: Path | None = None, seed: int = 11) -> tuple[list[BenchRecord], str]:
    """The benchmark's records and the origin of their text."""
    new_share = DEFAULT_MIX["new"]
    stories, origin = load_stories(int(count * new_share) + 50, body_chars=TARGET_BYTES, shared=shared)
    return build_records(stories, count, seed=seed), origin
