"""The printed tables: medians with their spread, and ratios to the limit they are judged against."""

from __future__ import annotations

from typing import Any

from tools.bench.stats import Summary, ratio

# The targets of issue 12 ("five times cheaper per item").
TARGET_CORE_ITEMS_PER_S = 4000
TARGET_PIPELINE_SHARE = 0.25
TARGET_TWO_WORKERS_GAIN = 1.4
TARGET_P99_MS = 50.0
TARGET_STARTUP_S = 3.0
TARGET_DEDUPE_BYTES = 1024
CEILING_CORES = (8, 16)


def _title(text: str) -> None:
    print(f"\n== {text}")


def _row(name: str, summary: Summary, unit: str, extra: str = "") -> None:
    print(
        f"  {name:<26} {summary.median:>10.0f} {unit:<10} ±{summary.spread_pct:>4.1f}%"
        f"  n={len(summary.runs)}  {extra}"
    )


def stages(results: dict[str, Any]) -> None:
    _title(f"stages in process, one core (text: {results.get('text')}; median, ± half the min..max range)")
    for stage in results["stages"]:
        _row(stage["name"], stage["items_per_s"], "items/s", f"({stage['items']} items per run)")


def kafka(results: dict[str, Any]) -> None:
    runs = results["kafka"]
    limit = runs["passthrough"]["records_per_s"].median
    _title(
        "Tansu broker, saturation (records committed per second after warm-up;"
        " records per CPU-second of the run after start-up)"
    )
    limit_run = runs["passthrough"]["records_per_s"]
    _row("limit: raw passthrough", limit_run, "records/s", _per_cpu(runs, "passthrough"))
    if "quix" in runs:
        quix = runs["quix"]["records_per_s"]
        _row("peer: Quix passthrough", quix, "records/s", _per_cpu(runs, "quix", limit))
    pipeline = runs["service"]["records_per_s"]
    _row("pipeline (service)", pipeline, "records/s", _per_cpu(runs, "service", limit))
    print(
        f"  peak RSS: pipeline {runs['service']['peak_rss_mib'].median:.0f} MiB, "
        f"limit {runs['passthrough']['peak_rss_mib'].median:.0f} MiB"
    )
    _title("end-to-end latency: record timestamp -> outputs acknowledged and offsets committed")
    for label, run in results["latency"].items():
        lat = run["latency"]
        print(
            f"  {label:<20} offered {run['offered_rate']:>7.0f}/s"
            f"  committed {run['committed_rate']:>7.0f}/s  "
            f"p50 {lat['p50_ms']:>7.1f} ms  p99 {lat['p99_ms']:>7.1f} ms  max {lat['max_ms']:>7.1f} ms  "
            f"(n={lat['samples']:.0f})"
            + (
                f"  {run['records_per_round']:.1f} records/round, "
                f"shell {run['shell_cpu_ms_per_record']:.2f} ms CPU/record"
                if run["records_per_round"] == run["records_per_round"]  # NaN for the passthrough
                else ""
            )
        )


def _per_cpu(runs: dict[str, Any], kind: str, limit: float | None = None) -> str:
    """A saturation row's tail: its share of the limit's records/s, and its records per CPU-second."""
    run = runs[kind]
    share = "= 1.00" if limit is None else f"= {ratio(run['records_per_s'].median, limit):.3f} of the limit"
    return f"{share}; {run['records_per_cpu_s'].median:>7.0f} records/CPU-s"


def workers(results: dict[str, Any]) -> None:
    runs = results["workers"]
    limit = runs["passthrough"]["records_per_s"].median
    _title("worker processes (pipeline.workers), Tansu, saturation; CPU per record after start-up")
    for kind, run in runs.items():
        rate = run["records_per_s"]
        shell = run["shell_cpu_ms_per_record"].median
        worker = run["worker_cpu_ms_per_record"].median
        label = "raw passthrough" if kind == "passthrough" else f"service, workers={kind.split(':w')[1]}"
        _row(
            label,
            rate,
            "records/s",
            f"= {ratio(rate.median, limit):.3f} of the limit; CPU/record: shell {shell:.2f} ms"
            f" + workers {worker:.2f} ms; peak RSS (shell) {run['peak_rss_mib'].median:.0f} MiB"
            f"; start-up to ready {run['startup_s'].median:.1f} s",
        )
    one = runs.get("service:w1")
    if one is not None:
        for cores in CEILING_CORES:
            print(f"  ceiling on {cores} cores (one instance): {ceiling(one, cores):>7.0f} records/s")


def ceiling(run: dict[str, Any], cores: int) -> float:
    """Records/s one instance reaches on `cores` cores, from its CPU per record: the shell is one
    event loop (one core at most), the workers share the other cores."""
    shell = run["shell_cpu_ms_per_record"].median
    worker = run["worker_cpu_ms_per_record"].median
    return min(
        1000 / shell if shell > 0 else float("inf"),
        (cores - 1) * 1000 / worker if worker > 0 else float("inf"),
    )


def scale(results: dict[str, Any]) -> None:
    runs = results["scale"]
    _title(f"scale: instances in one consumer group (dedupe: {runs['dedupe_backend']})")
    one = runs["1"]["records_per_s_total"].median
    for count in ("1", "2"):
        total = runs[count]["records_per_s_total"]
        each = runs[count]["records_per_s_each"]
        print(
            f"  {count} instance(s): total {total.median:>7.0f} records/s (x{ratio(total.median, one):.2f}), "
            f"each {', '.join(f'{r:.0f}' for r in each.runs)} records/s"
        )


def eos(results: dict[str, Any]) -> None:
    runs = results["eos"]
    alo, eos_run = runs.values()
    _title("delivery on librdkafka's mock cluster (compare the two modes with each other only)")
    _row("at-least-once", alo["records_per_s"], "records/s", "= 1.00")
    _row(
        "exactly-once",
        eos_run["records_per_s"],
        "records/s",
        f"= {ratio(eos_run['records_per_s'].median, alo['records_per_s'].median):.3f} of at-least-once",
    )


def state(results: dict[str, Any]) -> None:
    _title("dedupe state (tools/bench_dedupe.py): bytes per story and rates")
    for row in results["state"]:
        disk = row.get("disk_bytes_per_story")
        print(
            f"  {row['backend']:<7} {row['stories']:>9} stories"
            f"  RAM {row['ram_bytes_per_story']:>6.0f} B/story"
            + (f"  disk {disk:>5.0f} B/story" if disk is not None else "")
            + f"  decide {row['decides_per_s']:>6.0f}/s  band lookups {row['band_lookups_per_s']:>7.0f}/s"
        )


def targets(results: dict[str, Any]) -> None:
    lines = []
    for stage in results.get("stages", []):
        if stage["name"] == "core pipeline":
            value = stage["items_per_s"].median
            lines.append(
                (
                    f"core pipeline >= {TARGET_CORE_ITEMS_PER_S:,} items/s/core",
                    f"{value:.0f}",
                    value >= TARGET_CORE_ITEMS_PER_S,
                )
            )
    if "kafka" in results:
        p99 = results["latency"]["pipeline@half"]["latency"]["p99_ms"]
        lines.append(
            (f"p99 < {TARGET_P99_MS:.0f} ms at half saturation", f"{p99:.0f} ms", p99 < TARGET_P99_MS)
        )
    if "workers" in results:
        runs = results["workers"]
        limit = runs["passthrough"]["records_per_s"].median
        one = runs["service:w1"]["records_per_s"].median
        share = ratio(one, limit)
        lines.append(
            (
                f"service (1 worker) >= {100 * TARGET_PIPELINE_SHARE:.0f}% of raw passthrough",
                f"{100 * share:.1f}%",
                share >= TARGET_PIPELINE_SHARE,
            )
        )
        gain = ratio(runs["service:w2"]["records_per_s"].median, one)
        lines.append(
            (
                f"2 workers >= {TARGET_TWO_WORKERS_GAIN}x 1 worker",
                f"x{gain:.2f}",
                gain >= TARGET_TWO_WORKERS_GAIN,
            )
        )
        startup = runs["service:w1"]["startup_s"].median
        lines.append(
            (
                f"start-up to ready <= {TARGET_STARTUP_S:.0f} s (1 worker)",
                f"{startup:.1f} s",
                startup <= TARGET_STARTUP_S,
            )
        )
    for row in results.get("state", []):
        value = row["ram_bytes_per_story"]
        lines.append(
            (
                f"dedupe <= 1 KB/story ({row['backend']}, {row['stories']})",
                f"{value:.0f} B",
                value <= TARGET_DEDUPE_BYTES,
            )
        )
    if lines:
        _title("targets")
        for name, value, met in lines:
            print(f"  {name:<48} {value:>10}  {'met' if met else 'NOT met'}")
