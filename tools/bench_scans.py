"""Parse time per doubling of the input for each scan attack, and for a growing real-looking RSS feed.

Usage: python tools/bench_scans.py [--sizes 32,64,128,256] [--only unclosed_script,...] [--repeat 3]
       [--give-up 20]

Each attack of `tests.faults.hostile.SCAN_ATTACKS` is built at each size (KB) and run
through `service.parse.parse`; the table shows the best-of-`repeat` CPU seconds of this
process and the factor over the previous size: x2 per doubling is linear, x4 quadratic. An
attack stops growing once one size takes more than `--give-up` seconds (old code). The feed
rows time parse + normalize of an RSS feed of 250 to 2,000 items of ~1.3 KB each.
The figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.errors import ParseError
from service.models import RecordMeta
from service.normalize import normalize
from service.parse import parse
from tests.faults.hostile import SCAN_ATTACKS, WORDS

RECORD = RecordMeta(topic="wire.raw", partition=0, offset=0, timestamp=datetime(2024, 5, 1, tzinfo=UTC))


def feed(items: int, seed: int = 3) -> bytes:
    """An RSS feed of `items` items, each a title and four HTML paragraphs of 30 words."""
    rng = random.Random(seed)

    def sentence(words: int) -> str:
        return " ".join(rng.choices(WORDS, k=words)).capitalize() + "."

    body = "".join(
        f"<item><title>{sentence(8)}</title><link>https://wire.example/{i}</link><guid>g-{i}</guid>"
        "<pubDate>Fri, 16 Sep 2022 13:20:00 +0500</pubDate><category>SCO</category><description><![CDATA["
        + "".join(f"<p>{sentence(30)}</p>" for _ in range(4))
        + "]]></description></item>"
        for i in range(items)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>{body}</channel></rss>'.encode()
    )


def _outcome(raw: bytes, with_normalize: bool) -> str:
    try:
        items = parse(raw)
    except ParseError as error:
        return str(error.reason)
    if with_normalize:
        for item in items:
            normalize(item, RECORD, raw_sha256="0" * 64)
    return f"{len(items)} item(s)"


def _best(run: Callable[[], str], repeat: int) -> tuple[float, str]:
    best, outcome = float("inf"), ""
    for _ in range(repeat):
        started = time.process_time()
        outcome = run()
        best = min(best, time.process_time() - started)
    return best, outcome


def _row(name: str, size: str, seconds: float, previous: float | None, outcome: str) -> None:
    factor = f"x{seconds / previous:5.1f}" if previous else " " * 6
    print(f"{name:<22}{size:>10}{seconds:>10.3f}  {factor}  {outcome}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="32,64,128,256", help="KB, comma-separated")
    parser.add_argument("--only", default="", help="attacks to run (default: all), and/or 'feed'")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--give-up", type=float, default=20.0, help="seconds; larger sizes are skipped")
    args = parser.parse_args()
    sizes = [int(kb) for kb in args.sizes.split(",")]
    chosen = [n for n in args.only.split(",") if n] or [*SCAN_ATTACKS, "feed"]
    _outcome(feed(20), with_normalize=True)  # loads the language model and warms the caches
    print(f"{'input':<22}{'size':>10}{'cpu s':>10}  {'x/2x':>6}  outcome")
    for name in chosen:
        if name == "feed":
            continue
        previous: float | None = None
        for kb in sizes:
            raw = SCAN_ATTACKS[name](kb * 1024)
            # One run only when the previous size was slow: the figure is plain enough.
            repeat = args.repeat if (previous or 0) < 1 else 1
            seconds, outcome = _best(partial(_outcome, raw, False), repeat)
            _row(name, f"{kb} KB", seconds, previous, outcome)
            previous = seconds
            if seconds > args.give_up:
                break
    if "feed" in chosen:
        previous = None
        for items in (250, 500, 1000, 2000):
            raw = feed(items)
            seconds, outcome = _best(partial(_outcome, raw, True), args.repeat)
            _row("rss parse+normalize", f"{items} it", seconds, previous, f"{outcome}, {len(raw) // 1024} KB")
            previous = seconds
    return 0


if __name__ == "__main__":
    sys.exit(main())
