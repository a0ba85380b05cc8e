"""Run the full hostile corpus (>= 10,000 items, six 10 MB bodies) through `wire-ingest run` on Tansu.

Usage: python tools/hostile_corpus.py [--items 10000] [--big-bodies 6] [--seed 13]
       [--bootstrap-servers HOST:PORT]

Starts a Tansu broker unless --bootstrap-servers (or KAFKA_BOOTSTRAP_SERVERS) names one,
prints a table of where each family ended (dead-letter reasons, canonical, duplicates),
peak RSS of the service process, and writes results/faults/hostile_full.json. Exits 1 if
any item was lost, doubled, ended as an invalid event, leaked the XXE secret, or if the
service crashed or left a partition short of its end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.harness import TansuBroker
from tests.faults.harness import record_figures
from tests.faults.hostile import HostileRun, run_hostile


def table(run: HostileRun) -> str:
    """Families down, fates across: one row per family, counts of items."""
    columns = sorted({fate for counts in run.by_family.values() for fate in counts})
    width = max(len(name) for name in run.by_family) + 2
    lines = [" " * width + " ".join(f"{c.removeprefix('dlq:'):>18}" for c in columns) + f"{'items':>8}"]
    lines.append(" " * width + " ".join(f"{'(dlq)' if c.startswith('dlq:') else '':>18}" for c in columns))
    for name, counts in sorted(run.by_family.items()):
        cells = " ".join(f"{counts.get(c, 0) or '':>18}" for c in columns)
        lines.append(f"{name:<{width}}{cells}{run.families[name]:>8}")
    totals = " ".join(f"{sum(c.get(col, 0) for c in run.by_family.values()):>18}" for col in columns)
    lines.append(f"{'total':<{width}}{totals}{run.items:>8}")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    external = args.bootstrap_servers or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    with tempfile.TemporaryDirectory(prefix="hostile-") as workdir:
        run_id = "hostile" + uuid.uuid4().hex[:8]
        if external:
            run = await run_hostile(
                external, Path(workdir), run_id, args.items, big_bodies=args.big_bodies, seed=args.seed
            )
        else:
            with TansuBroker() as broker:
                run = await run_hostile(
                    broker.bootstrap_servers,
                    Path(workdir),
                    run_id,
                    args.items,
                    big_bodies=args.big_bodies,
                    seed=args.seed,
                    deadline_seconds=3600,
                )
    print(table(run))
    figures = run.figures()
    print(
        f"\nitems {run.items} ({figures['bytes_in_mb']} MB) in {figures['seconds']} s; "
        f"ended {figures['ended']}; peak RSS of the service {figures['peak_rss_mb']} MB; "
        f"exit code on SIGTERM {run.exit_code}"
    )
    record_figures("hostile_full", figures)
    problems = run.problems()
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--big-bodies", type=int, default=6)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--bootstrap-servers", default=None)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
