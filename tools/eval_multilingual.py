"""Evaluate enrichment per language on short stories written for it, through the whole pipeline.

tests/fixtures/multilingual/stories.jsonl holds short wire stories (written for this project,
not agency copy), one JSON object a line: lang, headline, body, gold countries (alpha-2, every
country the story names or whose leader it names) and gold leaders (Wikidata QIDs), written
down before the first run. Each story goes through `Pipeline.process_raw` as a ninjs item
with no language stated (detection decides), dated 2024-09-15. Printed per language:
detected-language accuracy, micro precision/recall/F1 for countries (all roles) and leaders.

    .venv/bin/python tools/eval_multilingual.py [--stories PATH]
"""

from __future__ import annotations

import argparse
import asyncio
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
    countries: dict[str, Score] = defaultdict(Score)
    leaders: dict[str, Score] = defaultdict(Score)
    detected: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for story, found in zip(stories, events, strict=True):
        lang = story["lang"]
        event = found or {}
        detected[lang][0] += event.get("language") == lang
        detected[lang][1] += 1
        predicted_countries = {c["alpha2"] for c in event.get("countries", ())}
        predicted_leaders = {m["wikidata_id"] for m in event.get("leaders", ()) if m.get("wikidata_id")}
        countries[lang].add(predicted_countries, set(story["countries"]))
        leaders[lang].add(predicted_leaders, set(story["leaders"]))
        if args.verbose and (
            predicted_countries != set(story["countries"]) or predicted_leaders != set(story["leaders"])
        ):
            print(
                f"  {lang} {story['headline']!r}: countries {sorted(predicted_countries)}"
                f" gold {sorted(story['countries'])};"
                f" leaders {sorted(predicted_leaders)} gold {sorted(story['leaders'])}"
            )
    print(f"{len(stories)} stories through Pipeline.process_raw, no language stated, dated {WHEN.date()}")
    for lang in sorted(countries):
        right, total = detected[lang]
        print(
            f"{lang}: language {right}/{total}; "
            + countries[lang].line("countries")
            + "; "
            + leaders[lang].line("leaders")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
