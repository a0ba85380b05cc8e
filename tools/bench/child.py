"""Measurements that run in a child process of their own: the raw passthroughs and the service.

A fresh process per run keeps runs from sharing heap or caches, lets the
load generator run on the other core, and makes its peak RSS the run's own.
Both report the same thing per input record: when its outputs were
acknowledged and its offsets committed (`perf_counter`), and its end-to-end
latency (Kafka record timestamp -> acknowledged and committed, wall clock).
For the service these come from its own end-to-end histogram, recorded
observation by observation instead of bucketed.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import queue
import resource
import time
from dataclasses import dataclass, fields
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import CollectorRegistry, Histogram

from service.app import run_service
from service.observability import Health, Metrics, configure_logging
from service.settings import Settings
from service.shell import RunLimits, make_producer

_CONTEXT = multiprocessing.get_context("spawn")
_ready: Event | None = None  # set in the child when its consumer has partitions
_cpu_at_ready = 0.0  # the child's CPU seconds when it got partitions: start-up, left out of per-record CPU
_launched = 0.0  # the parent's time.time() just before it started this process
_startup_s = float("nan")  # process start -> ready (partitions assigned; the service's workers up too)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mib() -> float:
    """This process's own peak RSS. Not `ru_maxrss`: a spawned child keeps, across exec, the
    peak of the forked copy of its parent (the bench, records loaded), so every child that stays
    smaller would report the parent's figure. The kernel's high-water mark starts anew at exec."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # no procfs: an upper bound


def _signal_ready() -> None:
    global _cpu_at_ready, _startup_s  # noqa: PLW0603 - set once, when the run starts consuming
    if _ready is not None and not _ready.is_set():
        _cpu_at_ready = _cpu_seconds()
        _startup_s = time.time() - _launched
        _ready.set()


class RecordingHistogram(Histogram):
    """The end-to-end histogram, keeping every observation with the time it was made."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.samples: list[tuple[float, float]] = []

    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        self.samples.append((time.perf_counter(), amount))
        super().observe(amount, exemplar)


class RecordingMetrics(Metrics):
    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        old = self.end_to_end_latency
        self.end_to_end_latency = RecordingHistogram(
            "wire_ingest_end_to_end_latency_seconds", old._documentation, registry=None
        )


class SignallingHealth(Health):
    """Health that tells the parent when the service is ready (partitions assigned and worker
    processes up, as /readyz says): the load may start."""

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        # Not while __init__ is still setting the fields is_ready() reads.
        watched = name in ("assigned_partitions", "workers_ready", "connected")
        if watched and all(f.name in vars(self) for f in fields(Health)) and self.is_ready():
            _signal_ready()


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if assigned:
            _signal_ready()


async def passthrough(settings: Settings, out_topic: str, total: int) -> list[tuple[float, float]]:
    """The limit: consume raw, produce every record unchanged, await acks, commit; same client settings."""
    kafka = settings.kafka
    consumer = AIOKafkaConsumer(
        **kafka.client_kwargs(),
        group_id=kafka.group_id,
        enable_auto_commit=False,
        auto_offset_reset=kafka.auto_offset_reset,
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        max_poll_interval_ms=kafka.max_poll_interval_ms,
        fetch_max_bytes=kafka.fetch_max_bytes,
        max_partition_fetch_bytes=kafka.max_partition_fetch_bytes,
        fetch_max_wait_ms=kafka.fetch_max_wait_ms,
    )
    producer = make_producer(settings)
    samples: list[tuple[float, float]] = []
    await producer.start()
    await consumer.start()
    try:
        consumer.subscribe([settings.topics.raw], listener=_Listener())
        while len(samples) < total:
            batch = await consumer.getmany(
                timeout_ms=settings.pipeline.poll_timeout_ms,
                max_records=min(settings.pipeline.max_batch_records, total - len(samples)),
            )
            if not batch:
                continue
            futures = []
            for records in batch.values():
                for record in records:
                    headers = list(record.headers or ())
                    futures.append(
                        await producer.send(out_topic, record.value, key=record.key, headers=headers)
                    )
            for future in futures:
                await future
            await consumer.commit({tp: OffsetAndMetadata(rs[-1].offset + 1, "") for tp, rs in batch.items()})
            now, clock = time.time(), time.perf_counter()
            samples.extend(
                (clock, max(0.0, now - record.timestamp / 1000)) for rs in batch.values() for record in rs
            )
    finally:
        await consumer.stop()
        await producer.stop()
    return samples


async def service(settings: Settings, total: int) -> tuple[list[tuple[float, float]], float, int]:
    """The real service code path, bounded to `total` records; its samples, its workers' CPU
    seconds and how many rounds (produce-and-commit round trips) it took."""
    metrics = RecordingMetrics(CollectorRegistry())
    summary = await run_service(
        settings,
        limits=RunLimits(max_records=total),
        metrics=metrics,
        health=SignallingHealth(),
        serve_http=False,
        install_signal_handlers=False,
    )
    histogram = metrics.end_to_end_latency
    assert isinstance(histogram, RecordingHistogram)
    return histogram.samples, float(metrics.worker_cpu._value.get()), summary.batches


def _main(
    kind: str, config: dict[str, Any], total: int, ready: Event, results: Any, *, launched: float
) -> None:
    # The one way the rebalance callback reaches the parent's event and the launch time.
    global _ready, _launched
    _ready, _launched = ready, launched
    configure_logging("WARNING", "json")
    settings = Settings.model_validate(config)
    started = time.perf_counter()
    worker_cpu_s = 0.0
    rounds = 0
    if kind == "passthrough":
        samples = asyncio.run(passthrough(settings, settings.topics.canonical, total))
    elif kind == "quix":
        from tools.bench.quix import quix_passthrough  # noqa: PLC0415 - only this run loads Quix

        samples = quix_passthrough(settings, settings.topics.canonical, total, _signal_ready)
    else:
        samples, worker_cpu_s, rounds = asyncio.run(service(settings, total))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    results.put(
        {
            "samples": samples,
            "peak_rss_mib": _peak_rss_mib(),
            "wall_s": time.perf_counter() - started,
            # The shell's own CPU after start-up, and what its workers spent on records.
            "shell_cpu_s": usage.ru_utime + usage.ru_stime - _cpu_at_ready,
            "worker_cpu_s": worker_cpu_s,
            "rounds": rounds,  # the service's; 0 for the passthroughs
            # Interpreter start, imports, settings, worker pool, group join: until partitions are assigned.
            "startup_s": _startup_s,
            "startup_cpu_s": _cpu_at_ready,
        }
    )


@dataclass
class ChildRun:
    """One measurement in a spawned process: start it, wait until it consumes, collect its samples."""

    kind: str  # "passthrough", "quix" (tools/bench/quix.py) or "service"
    config: dict[str, Any]
    total: int

    def __post_init__(self) -> None:
        self.ready = _CONTEXT.Event()
        self._results = _CONTEXT.Queue()
        # Not a daemon: the service starts worker processes of its own (`result` kills a stray run).

    def start(self) -> ChildRun:
        self._process = _CONTEXT.Process(
            target=_main,
            args=(self.kind, self.config, self.total, self.ready, self._results),
            kwargs={"launched": time.time()},
        )
        self._process.start()
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        if not self.ready.wait(timeout):
            raise RuntimeError(f"{self.kind} run got no partitions within {timeout:.0f}s")

    def result(self, timeout: float = 900.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    result: dict[str, Any] = self._results.get(timeout=1.0)
                    return result
                except queue.Empty:
                    if not self._process.is_alive():
                        last: dict[str, Any] = self._results.get(timeout=2.0)  # a result still in the pipe
                        return last
            raise RuntimeError(f"{self.kind} run timed out after {timeout:.0f}s")
        except queue.Empty as error:
            raise RuntimeError(
                f"{self.kind} run gave no result (exit code {self._process.exitcode})"
            ) from error
        finally:
            self._process.join(timeout=30)
            if self._process.is_alive():
                self._process.kill()
