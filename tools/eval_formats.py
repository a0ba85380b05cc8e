"""Parse + normalize every file under ../shared/eval/formats/ and report, per format folder,
how many parsed and why the others did not; then run the agency samples of
../shared/eval/superdesk/files/ through the whole pipeline, one file at a time.

Usage: .venv/bin/python tools/eval_formats.py [--shared DIR] [--bench SECONDS] [--verbose]

`--bench` also measures parse+normalize throughput (items/s, one core) over the
files that parsed. Each part prints "skipped: ..." when its folder is absent.

The Superdesk part feeds each file to `Pipeline.process_raw` with a fresh
in-memory dedupe state, as one `wire-ingest process FILE` call does, and prints
per format (recognised from the bytes here, independently of the service's own
detection): files, files with a published article, dead-letter reasons, and how
many headlines equal the one Superdesk's parser tests assert
(tools/superdesk_expected.py). Then the files of the sources that write local times without
a zone (STT, Scoop) run again with `pipeline.timezone_by_source` set, and their UTC
firstcreated is printed without and with the zone, next to what Superdesk's tests assert.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import orjson

from service import ids
from service.app import build_pipeline
from service.errors import RecordError
from service.models import RecordMeta
from service.normalize import normalize
from service.observability import configure_logging
from service.parse import parse
from service.settings import DedupeBackend, Settings, Stage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from superdesk_expected import BODY_CONTAINS, BODY_STARTS, HEADLINES, NON_TEXT, Fingerprint

# Where these sources write their zone-less timestamps (Superdesk's STT and Scoop parsers
# convert from the same zones); keys are the events' `source` (Scoop's G2 provider is "CL").
ZONES = {"STT": "Europe/Helsinki", "CL": "Pacific/Auckland"}
# firstcreated in UTC as Superdesk's parser tests assert it (superdesk-core
# tests/io/feed_parsers/stt_newsml_test.py and scoop_parser_test.py, read by hand).
FIRSTCREATED_ASSERTED = {
    "scoop.xml": "2016-01-11T23:35:40Z",  # written 12:35:40 on Jan 12, NZ summer time (UTC+13)
    "stt_archive_newsml_test.xml": "2013-02-16T15:36:20Z",  # written 17:36:20, Helsinki winter (UTC+2)
    "stt_newsml_test.xml": "2017-12-19T08:33:04Z",  # has its offset; later than its versionCreated
}

RECORD = RecordMeta(topic="eval", partition=0, offset=0, timestamp=datetime(2024, 1, 1, tzinfo=UTC))


def _default_shared() -> Path:
    return Path(__file__).resolve().parents[1].parent / "shared"


def _run(raw: bytes) -> tuple[int, str | None, Counter[str]]:
    """(articles made, dead-letter reason of the whole file or None, formats detected)."""
    formats: Counter[str] = Counter()
    try:
        items = parse(raw)
    except RecordError as exc:
        return 0, f"parse:{exc.reason.value}", formats
    made = 0
    reason: str | None = None
    for item in items:
        try:
            normalize(item, RECORD, raw_sha256=ids.sha256_hex(raw))
        except RecordError as exc:
            reason = f"normalize:{exc.reason.value}"
            continue
        made += 1
        formats[item.format.value] += 1
    return made, (reason if made == 0 else None), formats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--shared", type=Path, default=_default_shared(), help="the shared/ folder")
    parser.add_argument("--bench", type=float, default=0.0, help="seconds of throughput measurement")
    parser.add_argument("--verbose", action="store_true", help="one line per Superdesk sample")
    args = parser.parse_args(argv)
    _eval_formats(args.shared / "eval" / "formats", args.bench)
    superdesk = args.shared / "eval" / "superdesk" / "files"
    if superdesk.is_dir():
        configure_logging("ERROR", "console")  # the dead-letter warnings are counted, not printed
        samples = [(p.name, p.read_bytes()) for p in sorted(superdesk.iterdir()) if p.is_file()]
        asyncio.run(_eval_superdesk(samples, verbose=args.verbose))
    else:
        print(f"skipped: {superdesk} not found")
    return 0


def _eval_formats(root: Path, bench: float) -> None:
    if not root.is_dir():
        print(f"skipped: {root} not found")
        return
    rows: dict[str, dict[str, object]] = {}
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    parsed_raw: list[bytes] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        ok = items = 0
        detected: Counter[str] = Counter()
        for path in files:
            raw = path.read_bytes()
            made, reason, formats = _run(raw)
            items += made
            detected.update(formats)
            if reason is None:
                ok += 1
                parsed_raw.append(raw)
            else:
                reasons[folder.name][f"{reason} ({path.name})"] += 1
        rows[folder.name] = {"files": len(files), "ok": ok, "items": items, "as": ",".join(sorted(detected))}
    header = (
        f"{'folder':<12} {'files':>5} {'parsed':>6} {'items':>5}  detected as   not parsed (reason, file)"
    )
    print(header)
    print("-" * len(header))
    total_files = total_ok = total_items = 0
    for name, row in rows.items():
        failed = "; ".join(reasons[name]) or "-"
        print(f"{name:<12} {row['files']:>5} {row['ok']:>6} {row['items']:>5}  {row['as']!s:<12}  {failed}")
        total_files += int(str(row["files"]))
        total_ok += int(str(row["ok"]))
        total_items += int(str(row["items"]))
    print("-" * len(header))
    print(f"{'total':<12} {total_files:>5} {total_ok:>6} {total_items:>5}")
    if bench > 0 and parsed_raw:
        count = 0
        size = 0
        start = time.perf_counter()
        while time.perf_counter() - start < bench:
            for raw in parsed_raw:
                for item in parse(raw):
                    normalize(item, RECORD, raw_sha256=ids.sha256_hex(raw))
                    count += 1
                size += len(raw)
        elapsed = time.perf_counter() - start
        print(f"throughput: {count / elapsed:,.0f} items/s, {size / elapsed / 1e6:.1f} MB/s (one core)")


_XML_ROOT = re.compile(rb"<(?![?!/])(?:[\w.-]+:)?([A-Za-z_][\w.-]*)")
_FAMILY_BY_ROOT = {
    "newsItem": "NewsML-G2",
    "newsMessage": "NewsML-G2",
    "packageItem": "NewsML-G2",
    "nitf": "NITF",
    "NewsML": "NewsML 1.x",
    "rss": "RSS/Atom",
    "feed": "RSS/Atom",
    "RBNews": "Ritzau RBNews",
    "XMLNewsQueuedResponse": "Ritzau RBNews",
}


def family(raw: bytes) -> str:
    """The format a sample is in, told from its bytes (independent of the service's detection)."""
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"\x16\x16\x01"):
        return "ANPA-1312"
    if head.startswith(b"\x01"):
        return "IPTC 7901"
    if head.startswith(b"{"):
        if b'"api_version"' in head[:200] and b'"data"' in head:
            return "AP Media API"
        return "ninjs"
    if b"<rss" in head[:1000] or b"<wp:" in head[:4000]:
        return "RSS/Atom"
    match = _XML_ROOT.search(head.split(b"?>", 1)[-1] if head.startswith(b"<?") else head)
    return _FAMILY_BY_ROOT.get(match.group(1).decode() if match else "", "other")


async def _run_one(raw: bytes, name: str, settings: Settings) -> tuple[list[dict[str, object]], list[str]]:
    """(published canonical events, dead-letter reasons) of one file, as `wire-ingest process` makes them."""
    record = RecordMeta(
        topic="file", partition=0, offset=0, timestamp=RECORD.timestamp, headers=(("file", name.encode()),)
    )
    async with build_pipeline(settings) as pipeline:
        result = await pipeline.process_raw(raw, record)
    published = [orjson.loads(m.value) for m in result.outbound if m.topic == settings.topics.canonical]
    reasons = [o.reason for o in result.outcomes if o.kind == "dead_letter"]
    return published, reasons


_LEAD_DATELINE = re.compile(r"^[^()]{1,40}\([^()]{1,30}\)\s*[-–—_]+\s*")


def _body_ok(name: str, published: list[dict[str, object]]) -> bool | None:
    starts, contains = BODY_STARTS.get(name), BODY_CONTAINS.get(name)
    if starts is None and contains is None:
        return None
    bodies = [" ".join(str(a.get("body_text", "")).split()) for a in published]
    # The service keeps a wire dateline at the head of the body (some Superdesk parsers cut it).
    bodies += [_LEAD_DATELINE.sub("", body, count=1) for body in bodies]
    return any(
        (starts is None or _fingerprint(body[: starts[0]]) == starts)
        and (contains is None or (_contains(body, contains) and "endash" not in body))
        for body in bodies
    )


def _fingerprint(text: str) -> Fingerprint:
    return len(text), hashlib.sha256(text.encode()).hexdigest()[:16]


def _contains(body: str, expected: Fingerprint) -> bool:
    """Whether some window of the body has the expected text's fingerprint."""
    size = expected[0]
    return any(_fingerprint(body[start : start + size]) == expected for start in range(len(body) - size + 1))


def _headline_ok(name: str, published: list[dict[str, object]]) -> bool | None:
    expected = HEADLINES.get(name)
    if expected is None:
        return None
    return any(_fingerprint(" ".join(str(a.get("headline", "")).split())) == expected for a in published)


async def _eval_superdesk(samples: list[tuple[str, bytes]], *, verbose: bool) -> None:
    settings = Settings()
    settings = settings.model_copy(
        update={
            "dedupe": settings.dedupe.model_copy(update={"backend": DedupeBackend.MEMORY}),
            "pipeline": settings.pipeline.model_copy(update={"stage": Stage.INGEST}),
        }
    )
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    zoned: list[tuple[str, bytes, list[dict[str, object]]]] = []
    for name, raw in samples:
        kind = family(raw)
        published, dead = await _run_one(raw, name, settings)
        if any(a.get("source") in ZONES for a in published):
            zoned.append((name, raw, published))
        row = rows[kind]
        row["files"] += 1
        text = name not in NON_TEXT
        row["text"] += text
        row["published"] += bool(published)
        row["text_published"] += bool(published) and text
        ok = _headline_ok(name, published)
        if ok is not None:
            row["asserted"] += 1
            row["headline_ok"] += ok
        body_ok = _body_ok(name, published)
        if body_ok is not None:
            row["body_asserted"] += 1
            row["body_ok"] += body_ok
        reasons[kind].update(dead)
        if verbose:
            headline = str(published[0].get("headline", ""))[:60] if published else "-"
            marks = {None: " ", True: "+", False: "X"}
            mark = marks[ok] + marks[body_ok]
            dead_text = ",".join(dead) or "-"
            print(f"{mark} {kind:<13} {name[:44]:<44} {len(published)} {dead_text:<22} {headline}")
    header = (
        f"{'format':<14} {'files':>5} {'published':>9} {'text pub':>9} {'headline':>9} {'body':>7}"
        "  dead-letter reasons"
    )
    print()
    print("Superdesk agency samples (one `wire-ingest process` call per file)")
    print(header)
    print("-" * len(header))
    total: Counter[str] = Counter()
    for kind, row in sorted(rows.items(), key=lambda kv: -kv[1]["files"]):
        total.update(row)
        failed = ", ".join(f"{r} x{n}" for r, n in reasons[kind].most_common()) or "-"
        print(
            f"{kind:<14} {row['files']:>5} {row['published']:>9}"
            f" {row['text_published']:>4}/{row['text']:<4}"
            f" {row['headline_ok']:>4}/{row['asserted']:<4}"
            f" {row['body_ok']:>3}/{row['body_asserted']:<3}  {failed}"
        )
    print("-" * len(header))
    print(
        f"{'total':<14} {total['files']:>5} {total['published']:>9}"
        f" {total['text_published']:>4}/{total['text']:<4} {total['headline_ok']:>4}/{total['asserted']:<4}"
        f" {total['body_ok']:>3}/{total['body_asserted']:<3}"
    )
    await _eval_zones(zoned, settings)


async def _eval_zones(zoned: list[tuple[str, bytes, list[dict[str, object]]]], settings: Settings) -> None:
    """firstcreated of the zone-less sources' files without and with `pipeline.timezone_by_source`."""
    pipeline = settings.pipeline.model_copy(update={"timezone_by_source": ZONES})
    with_zones = settings.model_copy(update={"pipeline": pipeline})
    print()
    print(f"Time zones: firstcreated (UTC) without and with pipeline.timezone_by_source = {ZONES}")
    header = f"{'file':<40} {'no zone':<21} {'with zone':<21} {'Superdesk':<21} flags with zone"
    print(header)
    print("-" * len(header))
    matches = asserted = 0
    for name, raw, before in zoned:
        after, _ = await _run_one(raw, name, with_zones)
        first_before = str(before[0].get("firstcreated")) if before else "-"
        first_after = str(after[0].get("firstcreated")) if after else "-"
        expected = FIRSTCREATED_ASSERTED.get(name)
        if expected is not None:
            asserted += 1
            matches += first_after == expected
        flags = after[0].get("date_flags") if after else None
        flag_text = ",".join(str(f) for f in flags) if isinstance(flags, list) else "-"
        mark = " " if expected is None else ("+" if first_after == expected else "X")
        print(f"{mark}{name[:39]:<39} {first_before:<21} {first_after:<21} {expected or '':<21} {flag_text}")
    print("-" * len(header))
    print(f"firstcreated as Superdesk's tests assert: {matches}/{asserted}")


if __name__ == "__main__":
    sys.exit(main())
