"""Precision and recall of the NEAR_DUPLICATE relation on a labelled set built from Reuters-21578.

Usage: python tools/eval_dedupe.py [--shared DIR] [--reprints N] [--seed S]
                                   [--shingle-size K --num-perm P --threshold T] [--no-sweep]

The set is derived from real 1987 wire text (../shared/eval/reuters21578/articles.jsonl):

* background: every article, minus the collection's own near-copies (pairs
  whose word-3-shingle Jaccard is >= 0.5, found with a permissive LSH pass and
  checked exactly); they are unlabelled duplicates and would otherwise count
  as false positives;
* positives: reprints of sampled articles, as another feed would carry them:
  other boilerplate (byline, agency tag, footer), trimmed or added
  paragraphs, light edits (spellings, number styles, a few words dropped or
  swapped), a rewritten headline; two to four changes per reprint; the
  packaging (bylines, footers, headline slugs) comes from a fixed list
  (--packaging standard), or from a second list in other agencies' styles
  that the fingerprint text rules were not written from (--packaging other);
* hard negatives: pairs of distinct articles from the same day about the
  same place, chosen as the most alike such pairs by exact Jaccard.

Two measurements:

1. A threshold sweep over labelled pairs (reprint vs its original, hard
   negative pairs) for several shingle sizes and signature lengths, using the
   same estimated Jaccard the deduplicator uses: recall and false-positive
   rate per threshold.
2. The whole stream (background + reprints, in versioncreated order), each
   story written as a raw ninjs item and fed through `Pipeline.process_raw`
   (parse, normalize, fingerprint, dedupe with the memory store, route), as the
   service sees a feed: a reprint is a true positive when its published event
   joins its original's story; every other
   NEAR_DUPLICATE is a false positive. Precision, recall, and whether any hard
   negative pair was merged.

Fit and held-out: every story is in one half (crc32 of its headline, as in
eval_enrich); a reprint counts in its original's half, a false positive in the
half of the story that was wrongly merged. With --stream-thresholds, the stream
runs once per threshold, the threshold is chosen on the fit half (best recall
with precision >= 0.99) and the held-out half's figures at that threshold are
the ones to report.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import random
import re
import sys
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
from datasketch import MinHash, MinHashLSH
from prometheus_client import CollectorRegistry

from service.dedupe import open_deduplicator
from service.dedupe.minhash import estimated_jaccard, shingles, signature
from service.dedupe.text import fingerprint_text
from service.models import RecordMeta, Relation
from service.observability import Metrics
from service.pipeline import Pipeline
from service.settings import DedupeBackend, DedupeSettings, Settings

DEFAULT_SHARED = Path(__file__).resolve().parents[1].parent / "shared"
ARTICLES = Path("eval") / "reuters21578" / "articles.jsonl"
MIN_WORDS = 15
TARGET_PRECISION = 0.99
TARGET_RECALL = 0.96


HALVES = ("fit half", "held-out half")


def half(doc: Doc) -> str:
    """The half a story's reprints and false positives count in (crc32 of its headline, as eval_enrich)."""
    return HALVES[zlib.crc32(doc.headline.encode("utf-8")) % 2]


@dataclass(frozen=True)
class Doc:
    newid: int
    day: str
    created: datetime
    place: str
    headline: str
    paragraphs: tuple[str, ...]

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def text(self) -> str:
        return f"{self.headline}\n\n{self.body}"


_DATE = re.compile(r"\d{1,2}-[A-Z]{3}-\d{4} \d{2}:\d{2}:\d{2}")
_TRAILER = re.compile(r"\s*reuter\s*$", re.IGNORECASE)


def load(path: Path) -> list[Doc]:
    docs: list[Doc] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        body = html.unescape(row["body"]).replace("\x03", "")
        paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s{2,}|\n\n", body)]
        paragraphs = [p for p in paragraphs if p]
        if paragraphs:
            paragraphs[-1] = _TRAILER.sub("", paragraphs[-1])
        paragraphs = [p for p in paragraphs if p]
        if sum(len(p.split()) for p in paragraphs) < MIN_WORDS:
            continue
        stamp = _DATE.search(row["date"])
        if stamp is None:
            continue
        created = datetime.strptime(stamp.group(0), "%d-%b-%Y %H:%M:%S").replace(tzinfo=UTC)
        docs.append(
            Doc(
                newid=row["newid"],
                day=created.date().isoformat(),
                created=created,
                place=(row.get("places") or ["?"])[0],
                headline=" ".join(row["title"].split()) or "UNTITLED",
                paragraphs=tuple(paragraphs),
            )
        )
    return docs


def jaccard(a: set[bytes], b: set[bytes]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def drop_corpus_copies(docs: list[Doc]) -> tuple[list[Doc], int]:
    """Remove later members of pairs the collection itself already holds as near-copies."""
    grams = {d.newid: shingles(d.text, 3) for d in docs}
    lsh = MinHashLSH(threshold=0.3, num_perm=64)
    kept: list[Doc] = []
    removed = 0
    for doc in sorted(docs, key=lambda d: (d.created, d.newid)):
        sketch = MinHash(num_perm=64)
        sketch.update_batch(list(grams[doc.newid]))
        if any(jaccard(grams[doc.newid], grams[int(other)]) >= 0.5 for other in lsh.query(sketch)):
            removed += 1
            continue
        lsh.insert(str(doc.newid), sketch)
        kept.append(doc)
    return kept, removed


# ------------------------------------------------------------------ reprints


@dataclass(frozen=True)
class Packaging:
    """What another feed wraps a reprint in: byline paragraphs, footers, headline slugs and tags."""

    bylines: tuple[str, ...]
    footers: tuple[str, ...]
    slugs: tuple[str, ...]
    tags: tuple[str, ...]


PACKAGING = {
    # The set the reprints were built with from the start.
    "standard": Packaging(
        bylines=(
            "By Wire B Staff",
            "By Jane Doe, Wire B correspondent",
            "From our wire services",
            "WIRE B NEWS SERVICE",
        ),
        footers=(
            "Copyright 1987 Wire B. All rights reserved. "
            "This material may not be published or redistributed.",
            "(Reporting by the Wire B desk; editing by the night staff)",
            "For more business news, subscribe to the Wire B daily digest.",
            "Related coverage: see our markets page for prices and analysis.",
        ),
        slugs=("UPDATE 1-", "WRAPUP-", ""),
        tags=("", " - sources", " (corrected)"),
    ),
    # Other agencies' styles, written after the fingerprint text rules (service/dedupe/text.py)
    # to check they are not fitted to the standard set: about half are not packaging those
    # rules know ("WIRE B", "Special to Wire B", "Additional reporting by ...", "EXCLUSIVE-").
    "other": Packaging(
        bylines=(
            "By MARY SMITH, Associated Press Writer",
            "By Pierre Dupont and Anna Schmidt",
            "Staff and agencies",
            "WIRE B",
            "Special to Wire B",
        ),
        footers=(
            "Copyright 2026 Wire B. All Rights Reserved.",
            "(Editing by Anna Schmidt)",
            "Additional reporting by Tom Brown in Tokyo",
            "Follow Wire B on social media for the latest updates.",
            "Our standards: the Wire B trust principles.",
        ),
        slugs=("CORRECTED-", "UPDATE 3-", "EXCLUSIVE-", "ANALYSIS-", ""),
        tags=("", " (Recasts)", " - report"),
    ),
}
_EDITS = (
    ("mln", "million"),
    ("billion", "bln"),
    ("pct", "percent"),
    ("said", "says"),
    ("dlrs", "dollars"),
    ("U.S.", "US"),
    ("company", "firm"),
    ("told reporters", "said"),
)
TRANSFORMS = ("boilerplate", "trim", "add", "edit", "headline")


def make_reprint(
    doc: Doc, filler: Doc, rng: random.Random, packaging: Packaging = PACKAGING["standard"]
) -> tuple[str, str, tuple[str, ...]]:
    """Headline, body and the list of changes of one synthetic reprint of `doc`."""
    chosen = tuple(sorted(rng.sample(TRANSFORMS, rng.randint(2, 4))))
    headline = doc.headline
    paragraphs = list(doc.paragraphs)
    if "trim" in chosen and len(paragraphs) > 2:
        total = sum(len(p.split()) for p in paragraphs)
        while len(paragraphs) > 2 and sum(len(p.split()) for p in paragraphs[:-1]) >= 0.7 * total:
            paragraphs.pop()
    if "add" in chosen:
        extra = filler.paragraphs[0]
        words = extra.split()[: max(8, sum(len(p.split()) for p in paragraphs) // 6)]
        paragraphs.append(" ".join(words))
    if "edit" in chosen:
        # Light copy-editing: two house-style substitutions (first occurrence
        # each) and one word dropped from one paragraph.
        body = "\n\n".join(paragraphs)
        for old, new in rng.sample(_EDITS, 2):
            body = body.replace(old, new, 1)
        paragraphs = body.split("\n\n")
        target = rng.randrange(len(paragraphs))
        words = paragraphs[target].split()
        if len(words) > 6:
            del words[rng.randrange(len(words))]
            paragraphs[target] = " ".join(words)
    if "boilerplate" in chosen:
        paragraphs = [rng.choice(packaging.bylines), *paragraphs, rng.choice(packaging.footers)]
        paragraphs[1] = re.sub(r"^[A-Z][A-Z .,]+, \w+ \d+ - ", "", paragraphs[1])
    if "headline" in chosen:
        headline = rng.choice(packaging.slugs) + headline.title() + rng.choice(packaging.tags)
    return headline, "\n\n".join(paragraphs), chosen


def hard_negatives(docs: list[Doc], limit: int, rng: random.Random) -> list[tuple[Doc, Doc, float]]:
    """Distinct same-day, same-place pairs, the most alike first."""
    groups: dict[tuple[str, str], list[Doc]] = defaultdict(list)
    for doc in docs:
        groups[(doc.day, doc.place)].append(doc)
    grams = {d.newid: shingles(d.text, 3) for d in docs}
    pairs: list[tuple[Doc, Doc, float]] = []
    for members in groups.values():
        if len(members) < 2:
            continue
        sample = rng.sample(members, min(len(members), 25))
        best: list[tuple[Doc, Doc, float]] = []
        for i, a in enumerate(sample):
            for b in sample[i + 1 :]:
                best.append((a, b, jaccard(grams[a.newid], grams[b.newid])))
        best.sort(key=lambda t: -t[2])
        pairs.extend(best[:3])
    pairs.sort(key=lambda t: -t[2])
    return pairs[:limit]


# ------------------------------------------------------------------ measurements


def _sims(pairs: list[tuple[str, str]], k: int, num_perm: int) -> np.ndarray:
    out = []
    for a, b in pairs:
        sa = signature(a, shingle_size=k, num_perm=num_perm)
        sb = signature(b, shingle_size=k, num_perm=num_perm)
        out.append(estimated_jaccard(sa, sb) if sa is not None and sb is not None else 0.0)
    return np.asarray(out)


def sweep(
    positives: list[tuple[str, str]], negatives: list[tuple[str, str]], thresholds: list[float]
) -> None:
    print("\n== threshold sweep over labelled pairs (estimated Jaccard) ==")
    print(f"{len(positives)} reprint pairs, {len(negatives)} hard-negative pairs")
    print(f"{'k':>2} {'perm':>4} {'thr':>5} {'recall':>7} {'neg_fp':>7} {'pair_prec':>9}")
    for k in (2, 3, 4, 5):
        for num_perm in (64, 128):
            pos, neg = _sims(positives, k, num_perm), _sims(negatives, k, num_perm)
            for threshold in thresholds:
                tp = int(np.count_nonzero(pos >= threshold))
                fp = int(np.count_nonzero(neg >= threshold))
                precision = tp / (tp + fp) if tp + fp else 1.0
                print(
                    f"{k:>2} {num_perm:>4} {threshold:>5.2f} {tp / len(pos):>7.4f} "
                    f"{fp / len(neg):>7.4f} {precision:>9.4f}"
                )


def raw_item(source: str, item_id: str, headline: str, body: str, created: datetime) -> bytes:
    """A story as a feed files it: a ninjs item, which the service parses and normalizes itself."""
    item = {
        "uri": f"urn:{source}:{item_id}",
        "type": "text",
        "version": "1",
        "versioncreated": created.isoformat().replace("+00:00", "Z"),
        "language": "en",
        "copyrightholder": source,
        "headline": headline,
        "body_text": body,
    }
    return orjson.dumps(item)


@dataclass(frozen=True)
class Decided:
    """What the pipeline published for one raw item: its dedupe decision."""

    relation: Relation
    story_id: str
    duplicate_of: str | None
    similarity: float | None


async def decide_raw(pipeline: Pipeline, raw: bytes, offset: int, topics: frozenset[str]) -> Decided:
    """One raw item through `Pipeline.process_raw`; its canonical (or duplicate) event's decision."""
    result = await pipeline.process_raw(raw, RecordMeta(topic="eval", partition=0, offset=offset))
    [event] = [orjson.loads(m.value) for m in result.outbound if m.topic in topics]
    dedupe = event["dedupe"]
    return Decided(
        Relation(dedupe["relation"]), event["story_id"], event.get("duplicate_of"), dedupe["similarity"]
    )


async def stream(
    settings: DedupeSettings,
    background: list[Doc],
    reprints: list[tuple[Doc, str, str, tuple[str, ...], datetime]],
    negatives: list[tuple[Doc, Doc, float]],
) -> dict[str, float]:
    """Every story and reprint as a raw ninjs item through the whole pipeline, in time order
    (parse, normalize, fingerprint, decide with the memory store; no enrichment: it decides nothing)."""
    service = Settings.model_validate({"pipeline": {"workers": 0}}).model_copy(update={"dedupe": settings})
    deduplicator = await open_deduplicator(settings)
    pipeline = Pipeline(service, deduplicator, None, Metrics(CollectorRegistry()))
    topics = frozenset({service.topics.canonical, service.topics.duplicates})
    events: list[tuple[datetime, int, str, bytes, int | None, tuple[str, ...]]] = []
    for doc in background:
        raw = raw_item("reuters", str(doc.newid), doc.headline, doc.body, doc.created)
        events.append((doc.created, 0, str(doc.newid), raw, None, ()))
    for n, (doc, headline, body, changes, created) in enumerate(reprints):
        raw = raw_item("wire-b", f"r{n}", headline, body, created)
        events.append((created, 1, f"r{n}", raw, doc.newid, changes))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    story_of: dict[int, str] = {}
    half_of = {doc.newid: half(doc) for doc in background}
    counts = {h: {"tp": 0, "fp": 0, "reprints": 0} for h in HALVES}
    tp = fp = missed = 0
    missed_by_change: dict[str, int] = defaultdict(int)
    total_by_change: dict[str, int] = defaultdict(int)
    false_pairs: list[tuple[str, str, float]] = []
    started = time.perf_counter()
    for offset, (_, _, item_id, raw, original, changes) in enumerate(events):
        out = await decide_raw(pipeline, raw, offset, topics)
        relation = out.relation
        if original is None:
            story_of[int(item_id)] = out.story_id
            if relation is Relation.NEAR_DUPLICATE:
                fp += 1
                counts[half_of[int(item_id)]]["fp"] += 1
                false_pairs.append((item_id, out.duplicate_of or "", out.similarity or 0.0))
            continue
        for change in changes:
            total_by_change[change] += 1
        counts[half_of[original]]["reprints"] += 1
        if relation is Relation.NEAR_DUPLICATE and out.story_id == story_of.get(original):
            tp += 1
            counts[half_of[original]]["tp"] += 1
        else:
            if relation is Relation.NEAR_DUPLICATE:
                fp += 1
                counts[half_of[original]]["fp"] += 1
            missed += 1
            for change in changes:
                missed_by_change[change] += 1
    elapsed = time.perf_counter() - started
    merged = sum(1 for a, b, _ in negatives if story_of.get(a.newid) == story_of.get(b.newid))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / len(reprints) if reprints else 1.0
    print(
        f"\n== raw items through the pipeline: k={settings.shingle_size} num_perm={settings.num_perm} "
        f"threshold={settings.threshold} =="
    )
    print(
        f"articles: {len(events)} ({len(background)} background, {len(reprints)} reprints) "
        f"in {elapsed:.1f} s "
        f"({len(events) / elapsed:.0f}/s)"
    )
    print(f"NEAR_DUPLICATE: tp={tp} fp={fp} missed={missed}")
    print(f"precision={precision:.4f} recall={recall:.4f} (both halves)")
    result: dict[str, float] = {"precision": precision, "recall": recall}
    for name in HALVES:
        c = counts[name]
        p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
        r = c["tp"] / c["reprints"] if c["reprints"] else 1.0
        result[f"{name} precision"], result[f"{name} recall"] = p, r
        print(
            f"  {name}: precision={p:.4f} recall={r:.4f} "
            f"(tp {c['tp']}, fp {c['fp']}, reprints {c['reprints']})"
        )
    print(f"hard-negative pairs merged: {merged}/{len(negatives)}")
    print(
        "recall by change: "
        + ", ".join(
            f"{c}={1 - missed_by_change[c] / total_by_change[c]:.3f}" for c in sorted(total_by_change)
        )
    )
    for item, dup, sim in false_pairs[:5]:
        print(f"  false positive: background {item} -> {dup} (similarity {sim})")
    await deduplicator.close()
    result["merged"] = merged
    return result


def main(argv: list[str] | None = None) -> int:
    defaults = DedupeSettings()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--reprints", type=int, default=2000)
    parser.add_argument("--negatives", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1987)
    parser.add_argument("--shingle-size", type=int, default=defaults.shingle_size)
    parser.add_argument("--num-perm", type=int, default=defaults.num_perm)
    parser.add_argument("--threshold", type=float, default=defaults.threshold)
    parser.add_argument(
        "--stream-thresholds", type=str, default="", help="comma list: run the stream for each"
    )
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument(
        "--packaging",
        choices=sorted(PACKAGING),
        default="standard",
        help="the reprints' bylines, footers and headline slugs "
        "('other': styles the fingerprint text rules were not written from)",
    )
    args = parser.parse_args(argv)

    path = args.shared / ARTICLES
    if not path.exists():
        print(f"skipped: {path} not found")
        return 0
    rng = random.Random(args.seed)
    docs = load(path)
    background, removed = drop_corpus_copies(docs)
    print(
        f"loaded {len(docs)} articles with >= {MIN_WORDS} words; {removed} corpus near-copies removed; "
        f"background {len(background)}"
    )

    originals = rng.sample(background, min(args.reprints, len(background)))
    reprints = []
    for doc in originals:
        filler = rng.choice(background)
        headline, body, changes = make_reprint(doc, filler, rng, PACKAGING[args.packaging])
        reprints.append((doc, headline, body, changes, doc.created + timedelta(minutes=rng.randint(1, 600))))
    negatives = hard_negatives(background, args.negatives, rng)
    print(
        f"hard negatives: {len(negatives)} same-day same-place pairs, exact 3-shingle Jaccard "
        f"max {negatives[0][2]:.3f}, median {negatives[len(negatives) // 2][2]:.3f}"
    )

    if not args.no_sweep:
        sweep(
            # The text the deduplicator fingerprints (without the feeds' packaging).
            [(fingerprint_text(d.headline, d.body), fingerprint_text(h, b)) for d, h, b, _, _ in reprints],
            [
                (fingerprint_text(a.headline, a.body), fingerprint_text(b.headline, b.body))
                for a, b, _ in negatives
            ],
            [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7],
        )
    thresholds = [float(t) for t in args.stream_thresholds.split(",") if t] or [args.threshold]
    results: dict[float, dict[str, float]] = {}
    for threshold in thresholds:
        settings = DedupeSettings(
            backend=DedupeBackend.MEMORY,
            shingle_size=args.shingle_size,
            num_perm=args.num_perm,
            threshold=threshold,
            window_days=1e6,  # the corpus spans months; keep every story comparable
        )
        results[threshold] = asyncio.run(stream(settings, background, reprints, negatives))
    # The threshold is chosen on the fit half only: best recall with precision >= 0.99, else best precision.
    fit = [(t, r) for t, r in results.items() if r["fit half precision"] >= TARGET_PRECISION]
    chosen, _ = (
        max(fit, key=lambda tr: (tr[1]["fit half recall"], -tr[0]))
        if fit
        else max(results.items(), key=lambda tr: tr[1]["fit half precision"])
    )
    held = results[chosen]
    print(
        f"\nchosen on the fit half: threshold {chosen} (fit P {results[chosen]['fit half precision']:.4f} "
        f"R {results[chosen]['fit half recall']:.4f}); held-out half: precision "
        f"{held['held-out half precision']:.4f} recall {held['held-out half recall']:.4f}"
    )
    ok = held["held-out half precision"] >= TARGET_PRECISION and held["held-out half recall"] >= TARGET_RECALL
    print(
        f"targets on the held-out half (precision >= {TARGET_PRECISION}, recall >= {TARGET_RECALL}):",
        "met" if ok else "NOT met",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
