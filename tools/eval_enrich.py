"""Evaluate the enrich stage on Reuters-21578 (../shared/eval/reuters21578, never shipped).

Countries: predicted alpha-2 codes against the article's PLACES mapped by
places_to_iso.csv, over articles with at least one PLACES code.
Leaders: predicted QIDs against the article's PEOPLE mapped by
people_to_wikidata.csv (rows with national_leader_1987 = yes, the gold set), over
articles with at least one PEOPLE code; predictions are judged only when their QID
is one of those gold leaders (other people cannot be told right or wrong by these
labels). Reuters' indexers tagged the people a story is about, so leaders are scored
twice: all mentions, and only those with article_role "subject". The salience weights
were fitted on the "fit" half (crc32 of the headline is even, so a story repeated
under one headline stays in one half) and are reported on the "held-out" half too,
with the salience cut-off that would be best on each half (the shipped one is 0.5).
Micro-averaged precision, recall and F1, then the top false positives and
negatives. The article date is the `date` field.

    .venv/bin/python tools/eval_enrich.py [--shared DIR] [--roles dateline,subject]
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import re
import sys
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from service.enrich import Enricher, load_enricher
from service.models import CanonicalArticle, Dateline, LeaderRole, Lineage, WireFormat
from service.settings import EnrichSettings

_CONTROL_REF = re.compile(r"&#(\d+);")
_DATE = re.compile(r"(\d{1,2}-[A-Z]{3}-\d{4})")


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    false_pos: Counter[str] = field(default_factory=Counter)
    false_neg: Counter[str] = field(default_factory=Counter)

    def add(self, predicted: set[str], gold: set[str]) -> None:
        self.tp += len(predicted & gold)
        self.fp += len(predicted - gold)
        self.fn += len(gold - predicted)
        self.false_pos.update(predicted - gold)
        self.false_neg.update(gold - predicted)

    def line(self, label: str) -> str:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return (
            f"{label}: precision {precision:.3f}  recall {recall:.3f}  F1 {f1:.3f}  "
            f"(tp {self.tp}, fp {self.fp}, fn {self.fn})"
        )


def _clean(text: str) -> str:
    text = _CONTROL_REF.sub(lambda m: "" if int(m.group(1)) < 32 else m.group(0), text)
    text = html.unescape(text)
    return re.sub(r"\s*Reuter\s*$", "", text.strip())


def _date(raw: str) -> datetime:
    match = _DATE.search(raw)
    if match is None:
        raise ValueError(f"no date in {raw!r}")
    return datetime.strptime(match.group(1), "%d-%b-%Y").replace(tzinfo=UTC)


def article_from(record: dict[str, object]) -> CanonicalArticle:
    """A CanonicalArticle built from one Reuters record, as the normalizer would."""
    when = _date(str(record["date"]))
    raw_dateline = str(record.get("dateline") or "").strip().rstrip("-").strip()
    dateline = None
    if raw_dateline:
        city = raw_dateline.split(",")[0].strip()
        dateline = Dateline(text=raw_dateline, city=city or None)
    newid = str(record["newid"])
    return CanonicalArticle(
        event_id=newid,
        story_id=newid,
        item_id=newid,
        version="1",
        source="reuters21578",
        headline=html.unescape(str(record.get("title") or "")),
        body_text=_clean(str(record.get("body") or "")),
        dateline=dateline,
        firstcreated=when,
        versioncreated=when,
        content_hash="0" * 64,
        lineage=Lineage(
            topic="eval",
            partition=0,
            offset=int(newid),
            format=WireFormat.NITF,
            parser_version="eval",
            raw_sha256="0" * 64,
        ),
    )


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        # keep_default_na matters for pandas users: Namibia is the literal "NA"; csv keeps it.
        return [{k.strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(handle)]


def evaluate(
    enricher: Enricher, data: Path, roles: set[str] | None, limit: int | None, leader_min_mentions: int = 1
) -> list[str]:
    places = {r["reuters_code"]: r["iso_alpha2"] for r in _read_csv(data / "places_to_iso.csv")}
    people_rows = _read_csv(data / "people_to_wikidata.csv")
    leaders_gold = {
        r["reuters_code"]: r["wikidata_qid"] for r in people_rows if r.get("national_leader_1987") == "yes"
    }
    # Only the 1987 national leaders are gold; other people (ministers, later leaders such
    # as Miyazawa, linked with in_office false) cannot be judged by these labels.
    vocabulary = set(leaders_gold.values())
    names = {r["wikidata_qid"]: r["full_name"] for r in people_rows if r["wikidata_qid"]}
    countries = Score()
    leaders = {part: Score() for part in ("all mentions", "subject", *HALVES)}
    judged: dict[str, list[tuple[float, bool]]] = {half: [] for half in HALVES}
    gold_total = dict.fromkeys(HALVES, 0)
    n_places = n_people = 0
    for number, line in enumerate((data / "articles.jsonl").open(encoding="utf-8")):
        if limit is not None and number >= limit:
            break
        record = json.loads(line)
        article = enricher.enrich(article_from(record))
        if record["places"]:
            n_places += 1
            gold = {places[p] for p in record["places"] if places.get(p)}
            predicted = {c.alpha2 for c in article.countries if roles is None or c.role.value in roles}
            countries.add(predicted, gold)
        if record["people"]:
            n_people += 1
            gold_q = {leaders_gold[p] for p in record["people"] if p in leaders_gold}
            found = [
                m
                for m in article.leaders
                if m.wikidata_id in vocabulary
                and (m.mentions >= leader_min_mentions or m.first_offset < len(article.headline))
            ]
            subjects = {m.wikidata_id for m in found if m.article_role is LeaderRole.SUBJECT}
            half = split_half(article.headline)
            leaders["all mentions"].add({m.wikidata_id for m in found}, gold_q)
            leaders["subject"].add(subjects, gold_q)
            leaders[half].add(subjects, gold_q)
            judged[half] += [(m.salience, m.wikidata_id in gold_q) for m in found]
            gold_total[half] += len(gold_q)
    lines = [
        f"articles with PLACES: {n_places}; with PEOPLE: {n_people}; registry {enricher.registry_version}",
        countries.line("countries"),
        _top("  top false positives", countries.false_pos),
        _top("  top false negatives", countries.false_neg),
    ]
    for part, score in leaders.items():
        lines.append(score.line(f"leaders ({part})"))
    for half in HALVES:
        cut, f1 = best_cutoff(judged[half], gold_total[half])
        lines.append(f"  best salience cut-off on the {half}: {cut:.3f} (F1 {f1:.3f}); shipped 0.5")
    lines += [
        _top("  top false positives (subject)", leaders["subject"].false_pos, names),
        _top("  top false negatives (subject)", leaders["subject"].false_neg, names),
    ]
    return lines


HALVES = ("fit half", "held-out half")


def split_half(headline: str) -> str:
    """The half a story belongs to; copies of one story share a headline, so they stay together."""
    return HALVES[zlib.crc32(headline.encode("utf-8")) % 2]


def best_cutoff(judged: list[tuple[float, bool]], gold: int) -> tuple[float, float]:
    """The salience cut-off with the best F1 over these (salience, correct) pairs."""
    best = (0.0, 0.0)
    for cut in sorted({s for s, _ in judged}):
        tp = sum(1 for s, ok in judged if s >= cut and ok)
        fp = sum(1 for s, ok in judged if s >= cut and not ok)
        f1 = 2 * tp / (2 * tp + fp + (gold - tp)) if gold else 0.0
        if f1 > best[1]:
            best = (cut, f1)
    return best


def _top(label: str, counter: Counter[str], names: dict[str, str] | None = None, n: int = 15) -> str:
    items: Iterable[tuple[str, int]] = counter.most_common(n)
    shown = ", ".join(f"{(names or {}).get(k, k)} {v}" for k, v in items)
    return f"{label}: {shown or '-'}"


def main(argv: list[str] | None = None) -> int:
    default_shared = Path(__file__).resolve().parents[1].parent / "shared"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=default_shared, help="the shared folder (has eval/)")
    parser.add_argument(
        "--roles", default=None, help="only count countries with these roles, e.g. dateline,subject"
    )
    parser.add_argument("--city-min-population", type=int, default=None, help="override the city cut-off")
    parser.add_argument("--leader-min-mentions", type=int, default=1, help="salient leaders only")
    parser.add_argument("--limit", type=int, default=None, help="only the first N articles")
    args = parser.parse_args(argv)
    data = args.shared / "eval" / "reuters21578"
    if not (data / "articles.jsonl").is_file():
        print(f"skipped: {data} not found")
        return 0
    settings = EnrichSettings()
    if args.city_min_population is not None:
        settings = settings.model_copy(update={"city_min_population": args.city_min_population})
    roles = set(args.roles.split(",")) if args.roles else None
    enricher = load_enricher(settings)
    for line in evaluate(enricher, data, roles, args.limit, args.leader_min_mentions):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
