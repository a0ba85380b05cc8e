"""Parse and normalize cost per format on the benchmark's ~3 KB items, in process, one core.

    .venv/bin/python -m tools.profile_parse [--count 800] [--repeat 5] [--profile parse|normalize|both]

Items come from `tools.bench.records` (Reuters-21578 text when ../shared/eval is there, else the
generated stories), so the figures match the benchmark's parse+normalize stage. For each format
it prints the best-of-`repeat` µs per item for parse and for normalize, then the mix's items/s.
`--profile` runs the whole mix under cProfile and prints the top functions by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from service.ids import sha256_hex
from service.models import ParsedItem, RecordMeta
from service.normalize import normalize
from service.parse import parse
from tools.bench.records import bench_records


def _best(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def _parse_all(values: list[bytes]) -> None:
    for value in values:
        parse(value)


def _normalize_all(parsed: list[tuple[ParsedItem, str]], meta: RecordMeta) -> None:
    for item, digest in parsed:
        normalize(item, meta, raw_sha256=digest)


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--count", type=int, default=800)
    options.add_argument("--repeat", type=int, default=5)
    options.add_argument("--shared", type=Path, default=None)
    options.add_argument("--profile", choices=("parse", "normalize", "both"), default=None)
    options.add_argument("--top", type=int, default=30)
    options.add_argument("--formats", default="", help="comma-separated formats to keep (default: all)")
    args = options.parse_args(argv)

    records, origin = bench_records(args.count, shared=args.shared)
    if args.formats:
        records = [r for r in records if r.wire_format in args.formats.split(",")]
    meta = RecordMeta(topic="wire.raw", partition=0, offset=0, timestamp=datetime.now(UTC))
    by_format: dict[str, list[bytes]] = defaultdict(list)
    for record in records:
        by_format[record.wire_format].append(record.value)
    print(f"{len(records)} records from {origin}, best of {args.repeat}")
    print(f"{'format':<12}{'bytes':>7}{'parse µs':>10}{'normalize µs':>14}{'total µs':>10}")
    total_seconds = 0.0
    for wire_format, values in sorted(by_format.items()):
        parsed: list[tuple[ParsedItem, str]] = [
            (item, sha256_hex(value)) for value in values for item in parse(value)
        ]
        _normalize_all(parsed, meta)  # warm-up: the language model loads on first use
        parse_s = _best(partial(_parse_all, values), args.repeat)
        norm_s = _best(partial(_normalize_all, parsed, meta), args.repeat)
        total_seconds += parse_s + norm_s
        size = sum(len(v) for v in values) // len(values)
        parse_us, norm_us = parse_s / len(values) * 1e6, norm_s / len(parsed) * 1e6
        print(f"{wire_format:<12}{size:>7}{parse_us:>10.1f}{norm_us:>14.1f}{parse_us + norm_us:>10.1f}")
    per_item = total_seconds / len(records) * 1e6
    print(f"mix: {len(records) / total_seconds:,.0f} items/s ({per_item:.1f} µs/item)")

    if args.profile:
        values = [r.value for r in records]
        parsed_all = [(i, sha256_hex(v)) for v in values for i in parse(v)]
        profiler = cProfile.Profile()
        profiler.enable()
        if args.profile in ("parse", "both"):
            for value in values:
                parse(value)
        if args.profile in ("normalize", "both"):
            for item, digest in parsed_all:
                normalize(item, meta, raw_sha256=digest)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
