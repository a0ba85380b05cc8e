"""`make bench`: every figure measured the same way each run, beside the limit it is judged against.

Sections (all by default; `--only` picks some): stages (in process, no
broker), kafka (raw aiokafka passthrough limit, the Quix Streams passthrough
peer and the service at saturation, and latency at an offered rate), workers
(the service with pipeline.workers 0, 1 and 2: records/s and CPU per record,
shell and workers apart), eos (exactly-once vs at-least-once on the mock
cluster), scale (one vs two instances), state (dedupe memory and lookups).
Prints a table and writes everything as JSON under results/ (not committed).
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tools.bench import report
from tools.bench.records import bench_records
from tools.corpus import default_shared_dir

SECTIONS = ("stages", "kafka", "workers", "eos", "scale", "state")
WORKER_COUNTS = (0, 1, 2)
KAFKA_RUNS = ("passthrough", "quix", "service")
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Plan:
    stage_records: int
    stage_warmup: int
    stage_reps: int
    kafka_records: int
    kafka_warmup: int
    kafka_reps: int
    latency_seconds: float
    eos_records: int
    eos_reps: int
    scale_records: int
    scale_reps: int
    state_sizes: tuple[int, ...]
    state_lookups: int


FULL = Plan(2000, 400, 3, 6000, 1000, 3, 8.0, 1200, 3, 3000, 1, (100_000, 1_000_000), 2000)
QUICK = Plan(400, 100, 2, 800, 200, 1, 3.0, 300, 1, 600, 1, (20_000,), 300)


def _has_quix() -> bool:
    """The peer row needs the `bench` extra (`make bench` installs it in its own venv)."""
    if importlib.util.find_spec("quixstreams") is not None:
        return True
    print("note: no Quix Streams peer row (install the bench extra: `make bench` does)")
    return False


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def run(sections: list[str], plan: Plan, shared: Path, out_dir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": _commit(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "plan": plan.__dict__,
    }
    with tempfile.TemporaryDirectory(prefix="wire-ingest-bench-") as tmp:
        state_dir = Path(tmp)
        if "stages" in sections:
            from tools.bench.stages import run_stages  # noqa: PLC0415 - each section imports what it needs

            records, results["text"] = bench_records(plan.stage_records, shared)
            results["stages"] = [r.__dict__ for r in run_stages(records, plan.stage_reps, plan.stage_warmup)]
            report.stages(results)
        if "kafka" in sections or "scale" in sections or "workers" in sections:
            from service.harness import TansuBroker  # noqa: PLC0415
            from tools.bench.kafka_runs import at_offered_rate, saturation  # noqa: PLC0415

            records, results["text"] = bench_records(max(plan.kafka_records, plan.scale_records), shared)
            with TansuBroker() as broker:
                if "kafka" in sections:
                    kafka = saturation(
                        broker.bootstrap_servers,
                        records[: plan.kafka_records],
                        repetitions=plan.kafka_reps,
                        warmup=plan.kafka_warmup,
                        state_dir=state_dir,
                        kinds=("passthrough", "quix", "service")
                        if _has_quix()
                        else ("passthrough", "service"),
                    )
                    results["kafka"] = kafka
                    saturated = kafka["service"]["records_per_s"].median
                    results["latency"] = {}
                    for label, kind, share in (
                        ("limit@half", "passthrough", 0.5),
                        ("pipeline@half", "service", 0.5),
                        ("pipeline@saturation", "service", 1.0),
                    ):
                        rate = saturated * share
                        count = min(len(records), plan.kafka_warmup // 4 + int(rate * plan.latency_seconds))
                        results["latency"][label] = at_offered_rate(
                            broker.bootstrap_servers,
                            kind,
                            records[:count],
                            rate=rate,
                            warmup=plan.kafka_warmup // 4,
                            state_dir=state_dir,
                        )
                    report.kafka(results)
                if "workers" in sections:
                    kinds = ["passthrough", *(f"service:w{count}" for count in WORKER_COUNTS)]
                    results["workers"] = saturation(
                        broker.bootstrap_servers,
                        records[: plan.kafka_records],
                        repetitions=plan.kafka_reps,
                        warmup=plan.kafka_warmup,
                        state_dir=state_dir,
                        kinds=kinds,
                        sections={f"service:w{n}": {"pipeline": {"workers": n}} for n in WORKER_COUNTS},
                    )
                    report.workers(results)
                if "scale" in sections:
                    from tools.bench.scale import scale  # noqa: PLC0415

                    results["scale"] = scale(
                        broker.bootstrap_servers,
                        records[: plan.scale_records],
                        plan.scale_reps,
                        plan.scale_records // 8,
                        state_dir,
                    )
                    report.scale(results)
        if "eos" in sections:
            from tools.bench.eos import exactly_once  # noqa: PLC0415

            records, results["text"] = bench_records(plan.eos_records, shared)
            results["eos"] = exactly_once(records, plan.eos_reps, plan.eos_records // 5, state_dir)
            report.eos(results)
        if "state" in sections:
            from tools.bench.state import state  # noqa: PLC0415

            results["state"] = state(plan.state_sizes, ("memory", "sqlite"), plan.state_lookups)
            report.state(results)
    report.targets(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    print(f"\nwritten: {path}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a small run: a smoke check, not a measurement")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}"
    )
    parser.add_argument(
        "--shared", type=Path, default=default_shared_dir(), help="where eval/reuters21578 lives"
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "results", help="folder for the JSON results")
    parser.add_argument(
        "--profile", choices=("core", "service"), help="profile instead of measuring (pyinstrument)"
    )
    args = parser.parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # sections print as they finish, also into a file
    if args.profile:
        from tools.bench.profile import profile  # noqa: PLC0415

        plan = QUICK if args.quick else FULL
        profile(args.profile, plan.stage_records, plan.stage_warmup, args.shared, args.out)
        return 0
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections: {', '.join(unknown)}")
    run(sections, QUICK if args.quick else FULL, args.shared, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
