"""Runs on a broker: saturation throughput, latency at an offered rate, exactly-once vs at-least-once.

Saturation: the raw topic is filled first, then each run (limit or pipeline,
alternating, in a fresh process, with a fresh consumer group and output
topics) drains it; the rate counts records committed after the warm-up
records, over the time from the warm-up's last commit to the last commit.

Offered rate: a fresh topic; the run starts and joins its group first, then
this process produces at a fixed rate (each record stamped when sent) while
the run consumes; latency is each record's timestamp -> its outputs
acknowledged and its offset committed, warm-up records left out.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from service.settings import Settings
from service.topics import create_topics
from tools.bench.child import ChildRun
from tools.bench.records import BenchRecord
from tools.bench.stats import Summary, latency_summary

Samples = Sequence[tuple[float, float]]


def run_config(bootstrap: str, raw_topic: str, state_dir: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    """Settings for one run: its own group, output topics and dedupe file; the given raw topic."""
    unique = uuid.uuid4().hex[:8]
    config: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "group_id": f"bench-{unique}",
            "client_id": f"bench-{unique}",
            # Tansu answers a JoinGroup after half the session timeout (10 s -> 5 s, 6 s -> 3 s,
            # measured), a wait of the broker's that would swamp the start-up figure; 3 s keeps
            # it at 1.5 s for every run alike. (Apache Kafka instead waits
            # group.initial.rebalance.delay.ms, 3 s by default, for a new group.)
            "session_timeout_ms": 3_000,
            "heartbeat_interval_ms": 1_000,
        },
        "topics": {
            "raw": raw_topic,
            "canonical": f"bench-canonical-{unique}",
            "enriched": f"bench-enriched-{unique}",
            "duplicates": f"bench-duplicates-{unique}",
            "dlq": f"bench-dlq-{unique}",
        },
        "dedupe": {"backend": "sqlite", "sqlite_path": str(state_dir / f"dedupe-{unique}.sqlite3")},
        "pipeline": {"transactional_id": f"bench-tx-{unique}"},
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    return config


async def _producer(settings: Settings, linger_ms: int) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        **settings.kafka.client_kwargs(),
        linger_ms=linger_ms,
        max_request_size=settings.kafka.max_request_size,
    )
    await producer.start()
    return producer


async def prefill(settings: Settings, records: Sequence[BenchRecord]) -> None:
    producer = await _producer(settings, linger_ms=20)
    try:
        futures = [await producer.send(settings.topics.raw, r.value, key=r.key) for r in records]
        for future in futures:
            await future
    finally:
        await producer.stop()


async def offered_load(settings: Settings, records: Sequence[BenchRecord], rate: float) -> float:
    """Produce at `rate` records/s, each stamped when sent; returns the rate actually offered."""
    producer = await _producer(settings, linger_ms=0)
    futures = []
    try:
        started = time.perf_counter()
        for index, record in enumerate(records):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the load generator, not waiting for a result
            stamp = int(time.time() * 1000)
            futures.append(
                await producer.send(settings.topics.raw, record.value, key=record.key, timestamp_ms=stamp)
            )
        elapsed = time.perf_counter() - started
        for future in futures:
            await future
    finally:
        await producer.stop()
    return len(records) / elapsed if elapsed > 0 else float("nan")


def commit_rate(samples: Samples, warmup: int) -> float:
    """Records committed per second after the warm-up records."""
    times = sorted(t for t, _ in samples)
    if len(times) <= warmup + 1:
        return float("nan")
    start = times[warmup - 1] if warmup > 0 else times[0]
    return (len(times) - warmup) / (times[-1] - start) if times[-1] > start else float("nan")


def saturation(
    bootstrap: str,
    records: Sequence[BenchRecord],
    *,
    repetitions: int,
    warmup: int,
    state_dir: Path,
    kinds: Sequence[str] = ("passthrough", "service"),
    sections: dict[str, dict[str, Any]] | None = None,
    create: Callable[[Settings], None] | None = None,
) -> dict[str, Any]:
    """Saturation throughput of each kind of run over the same prefilled records."""
    raw_topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    base = Settings.model_validate(run_config(bootstrap, raw_topic, state_dir))
    (create or _create)(base)
    asyncio.run(prefill(base, records))
    rates: dict[str, list[float]] = {kind: [] for kind in kinds}
    rss: dict[str, list[float]] = {kind: [] for kind in kinds}
    shell_cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
    worker_cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
    startup: dict[str, list[float]] = {kind: [] for kind in kinds}
    per_cpu_s: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(repetitions):
        for kind in kinds:
            label = kind.partition(":")[0]
            config = run_config(bootstrap, raw_topic, state_dir, **(sections or {}).get(kind, {}))
            settings = Settings.model_validate(config)
            (create or _create)(settings)
            result = ChildRun(label, config, len(records)).start().result()
            rates[kind].append(commit_rate(result["samples"], warmup))
            rss[kind].append(result["peak_rss_mib"])
            shell_cpu[kind].append(1000 * result["shell_cpu_s"] / len(records))
            worker_cpu[kind].append(1000 * result["worker_cpu_s"] / len(records))
            startup[kind].append(result["startup_s"])
            # All the run's CPU after start-up (its process with librdkafka's threads, plus the
            # service's worker processes), warm-up records included: the cost of a record.
            per_cpu_s[kind].append(len(records) / (result["shell_cpu_s"] + result["worker_cpu_s"]))
    return {
        kind: {
            "records_per_s": Summary.of(rates[kind]),
            "peak_rss_mib": Summary.of(rss[kind]),
            "shell_cpu_ms_per_record": Summary.of(shell_cpu[kind]),
            "worker_cpu_ms_per_record": Summary.of(worker_cpu[kind]),
            "startup_s": Summary.of(startup[kind]),
            "records_per_cpu_s": Summary.of(per_cpu_s[kind]),
        }
        for kind in kinds
    }


def _create(settings: Settings) -> None:
    asyncio.run(create_topics(settings))


def at_offered_rate(
    bootstrap: str, kind: str, records: Sequence[BenchRecord], *, rate: float, warmup: int, state_dir: Path
) -> dict[str, Any]:
    """Latency of one run while records arrive at `rate` records/s."""
    raw_topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    config = run_config(bootstrap, raw_topic, state_dir)
    settings = Settings.model_validate(config)
    _create(settings)
    child = ChildRun(kind, config, len(records)).start()
    child.wait_ready()
    offered = asyncio.run(offered_load(settings, records, rate))
    result = child.result()
    latencies = [latency for _, latency in sorted(result["samples"])[warmup:]]
    return {
        "target_rate": rate,
        "offered_rate": offered,
        "committed_rate": commit_rate(result["samples"], warmup),
        "latency": latency_summary(latencies),
        "peak_rss_mib": result["peak_rss_mib"],
        "records_per_round": len(records) / result["rounds"] if result["rounds"] else float("nan"),
        "shell_cpu_ms_per_record": 1000 * result["shell_cpu_s"] / len(records),
    }
