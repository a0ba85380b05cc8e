"""Benchmark the enrich stage alone: articles per second on ~3 KB articles, one core.

Articles are built once (from the Reuters evaluation set when it is present, else
from a synthetic wire story padded to ~3 KB); only `Enricher.enrich` is timed.

    .venv/bin/python tools/bench_enrich.py [--articles 5000] [--shared DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from service.enrich import load_enricher
from service.models import CanonicalArticle
from service.settings import EnrichSettings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_enrich import article_from  # the eval tool's Reuters -> CanonicalArticle mapping

TARGET_BYTES = 3000
SYNTHETIC = (
    "Chinese President Xi Jinping met with Azerbaijani President Ilham Aliyev on Thursday in "
    "Samarkand, Uzbekistan, where leaders of the Shanghai Cooperation Organization gathered. "
    "The two sides agreed to expand trade, officials in Beijing and Baku said, while the French "
    "president and Germany's chancellor were expected to comment on energy supplies later. "
    "Trade between the two sides rose by a fifth in the first half of the year, according to "
    "customs data, and both delegations said they expected further growth in freight volumes. "
    "Analysts said the agreements covered transport, energy and agriculture and would take effect "
    "once ratified, adding that details of the financing had not yet been published. "
)


def _articles(shared: Path, count: int) -> list[CanonicalArticle]:
    source = shared / "eval" / "reuters21578" / "articles.jsonl"
    records: list[dict[str, object]] = []
    if source.is_file():
        with source.open(encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                if len(str(record["body"])) >= 1500:
                    records.append(record)
                if len(records) >= count:
                    break
    if not records:
        records = [
            {
                "newid": i,
                "date": "15-SEP-2022 10:00:00",
                "title": "Xi meets Aliyev",
                "dateline": "",
                "body": "",
            }
            for i in range(count)
        ]
    articles = []
    for record in records:
        body = str(record["body"]) or SYNTHETIC
        while len(body) < TARGET_BYTES:
            body += "\n" + (str(record["body"]) or SYNTHETIC)
        articles.append(article_from({**record, "body": body[:TARGET_BYTES]}))
    return articles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    args = parser.parse_args(argv)
    started, started_cpu = time.perf_counter(), time.process_time()
    enricher = load_enricher(EnrichSettings())
    print(
        f"start-up (registry, gazetteer, automata): {time.perf_counter() - started:.2f} s "
        f"({time.process_time() - started_cpu:.2f} s CPU)"
    )
    articles = _articles(args.shared, args.articles)
    size = sum(len(a.headline) + len(a.body_text) for a in articles) / len(articles)
    best = best_cpu = 0.0
    for _ in range(args.rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        for article in articles:
            enricher.enrich(article)
        elapsed, elapsed_cpu = time.perf_counter() - started, time.process_time() - started_cpu
        best = max(best, len(articles) / elapsed)
        best_cpu = max(best_cpu, len(articles) / elapsed_cpu)
    # CPU time as well: on a busy host the wall clock also counts time spent waiting for a core.
    print(
        f"{len(articles)} articles of {size:.0f} chars; best of {args.rounds} rounds: {best:,.0f} articles/s "
        f"({best_cpu:,.0f} per CPU second)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
