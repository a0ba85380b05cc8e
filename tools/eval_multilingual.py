"""Evaluate enrichment per language on short stories written for it, through the whole pipeline.

tests/fixtures/multilingual/stories.jsonl holds short wire stories (written for this project,
not agency copy), one JSON object a line: id, lang, headline, body, gold countries (alpha-2, every
country the story names, by name, adjective, capital or dateline city, or whose leader it
names) and gold leaders (Wikidata QIDs of the office holders it names or refers to by title),
written down before the first run. Each story goes through `Pipeline.process_raw` as a ninjs
item with no language stated (detection decides), dated 2024-09-15. Printed per language and
per half: detected-language accuracy, micro precision/recall/F1 for countries (all roles) and
leaders.

Halves: stories marked "seen" (the first ones, written while the rules were built) are fit;
a story that names its half ("half": "fresh", a later batch written after the rule changes
and run once) keeps it; the others are ranked per language by a hash of their id and
alternate fit, held-out, so rule changes are chosen on the fit half and the held-out half
measures them.

    .venv/bin/python tools/eval_multilingual.py [--stories PATH] [--verbose]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from service.app import build_pipeline
from service.models import RecordMeta
from service.settings import DedupeBackend, Settings, Stage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_enrich import Score  # the Reuters tool's micro P/R/F1 counter

STORIES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "multilingual" / "stories.jsonl"
WHEN = datetime(2024, 9, 15, 12, tzinfo=UTC)


FIT, HELD_OUT = "fit", "held-out"


def halves(stories: list[dict[str, Any]]) -> list[str]:
    """The half of each story: "seen" ones are fit, a named half is kept, the rest alternate by id hash."""
    out = [str(story.get("half", FIT)) for story in stories]
    ranked: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for index, story in enumerate(stories):
        if not story.get("seen") and "half" not in story:
            ranked[story["lang"]].append((hashlib.sha256(story["id"].encode()).hexdigest(), index))
    for entries in ranked.values():
        for rank, (_, index) in enumerate(sorted(entries)):
            out[index] = FIT if rank % 2 == 0 else HELD_OUT
    return out


def ninjs(number: int, story: dict[str, Any]) -> bytes:
    item = {
        "uri": f"urn:eval-multilingual:{number}",
        "type": "text",
        "version": "1",
        "versioncreated": WHEN.isoformat().replace("+00:00", "Z"),
        "headline": story["headline"],
        "body_text": story["body"],
    }
    return orjson.dumps(item)


async def run(stories: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    settings = Settings()
    settings = settings.model_copy(
        update={
            "dedupe": settings.dedupe.model_copy(update={"backend": DedupeBackend.MEMORY}),
            "pipeline": settings.pipeline.model_copy(update={"stage": Stage.ALL}),
        }
    )
    out: list[dict[str, Any] | None] = []
    async with build_pipeline(settings) as pipeline:
        for number, story in enumerate(stories):
            meta = RecordMeta(topic="eval", partition=0, offset=number, timestamp=WHEN)
            result = await pipeline.process_raw(ninjs(number, story), meta)
            events = [orjson.loads(m.value) for m in result.outbound if m.topic == settings.topics.enriched]
            out.append(events[0] if events else None)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=Path, default=STORIES)
    parser.add_argument("--verbose", action="store_true", help="print every miss and false alarm")
    args = parser.parse_args(argv)
    stories = [json.loads(line) for line in args.stories.read_text(encoding="utf-8").splitlines() if line]
    events = asyncio.run(run(stories))
    countries: dict[tuple[str, str], Score] = defaultdict(Score)
    leaders: dict[tuple[str, str], Score] = defaultdict(Score)
    detected: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for story, half, found in zip(stories, halves(stories), events, strict=True):
        event = found or {}
        predicted_countries = {c["alpha2"] for c in event.get("countries", ())}
        predicted_leaders = {m["wikidata_id"] for m in event.get("leaders", ()) if m.get("wikidata_id")}
        for key in ((story["lang"], half), (story["lang"], "all")):
            detected[key][0] += event.get("language") == story["lang"]
            detected[key][1] += 1
            countries[key].add(predicted_countries, set(story["countries"]))
            leaders[key].add(predicted_leaders, set(story["leaders"]))
        if args.verbose and (
            predicted_countries != set(story["countries"]) or predicted_leaders != set(story["leaders"])
        ):
            print(
                f"  {story['id']} ({half}) {story['headline']!r}: countries {sorted(predicted_countries)}"
                f" gold {sorted(story['countries'])};"
                f" leaders {sorted(predicted_leaders)} gold {sorted(story['leaders'])}"
            )
    print(f"{len(stories)} stories through Pipeline.process_raw, no language stated, dated {WHEN.date()}")
    for key in sorted(countries, key=lambda k: (k[1] != "all", k[1], k[0])):
        lang, half = key
        right, total = detected[key]
        print(
            f"{lang} {half} ({total}): language {right}/{total}; "
            + countries[key].line("countries")
            + "; "
            + leaders[key].line("leaders")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
