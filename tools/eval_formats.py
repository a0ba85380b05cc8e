"""Parse + normalize every file under ../shared/eval/formats/ and report, per format folder,
how many parsed and why the others did not.

Usage: .venv/bin/python tools/eval_formats.py [--shared DIR] [--bench SECONDS]

`--bench` also measures parse+normalize throughput (items/s, one core) over the
files that parsed. Exits 0 with "skipped: ..." when the evaluation folder is absent.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

from service import ids
from service.errors import RecordError
from service.models import RecordMeta
from service.normalize import normalize
from service.parse import parse

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
    args = parser.parse_args(argv)
    root = args.shared / "eval" / "formats"
    if not root.is_dir():
        print(f"skipped: {root} not found")
        return 0
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
    if args.bench > 0 and parsed_raw:
        count = 0
        size = 0
        start = time.perf_counter()
        while time.perf_counter() - start < args.bench:
            for raw in parsed_raw:
                for item in parse(raw):
                    normalize(item, RECORD, raw_sha256=ids.sha256_hex(raw))
                    count += 1
                size += len(raw)
        elapsed = time.perf_counter() - start
        print(f"throughput: {count / elapsed:,.0f} items/s, {size / elapsed / 1e6:.1f} MB/s (one core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
