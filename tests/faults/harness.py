"""Moving parts of the fault tests: the service as a real subprocess, a steady feeder, an output tail.

The service runs as `wire-ingest run` in its own process (so it can be killed with SIGKILL),
configured only through WIRE_INGEST_ environment variables, exactly as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from service.harness import MockCluster
from service.settings import ENV_PREFIX, Settings
from tests.integration.kafka_helpers import settings_data

from .corpus import InputItem

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS = REPO_ROOT / "results" / "faults"
WIRE_INGEST = Path(sys.executable).with_name("wire-ingest")


def fault_config(
    bootstrap_servers: str, unique: str, tmp_path: Path, **sections: dict[str, Any]
) -> dict[str, Any]:
    """Settings data for one test: the integration defaults, a faster heartbeat, smaller
    batches and metrics on an ephemeral port."""
    data = settings_data(
        bootstrap_servers,
        unique,
        tmp_path,
        kafka={"client_id": f"fault-{unique}", "heartbeat_interval_ms": 1000},
        pipeline={"max_batch_records": 100},
        observability={"http_port": 0, "log_level": "INFO", "log_format": "json"},
    )
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return data


def mock_topics(cluster: MockCluster, settings: Settings, leader: int | None = None) -> None:
    """Create every topic through the mock API (it has no CreateTopics), optionally on one leader."""
    topics = settings.topics
    for name in topics.all():
        cluster.create_topic(name, topics.partitions, 1)
        if leader is not None:
            for partition in range(topics.partitions):
                cluster.set_partition_leader(name, partition, leader)


def mock_config(
    cluster: MockCluster, unique: str, tmp_path: Path, **sections: dict[str, Any]
) -> dict[str, Any]:
    # The mock cluster answers slower than a real broker: shorter timeouts keep a failed request short.
    kafka = {"request_timeout_ms": 10_000, **sections.pop("kafka", {})}
    return fault_config(cluster.bootstrap_servers, unique, tmp_path, kafka=kafka, **sections)


def settings_of(data: dict[str, Any]) -> Settings:
    return Settings.model_validate(data)


def environment(data: dict[str, Any]) -> dict[str, str]:
    """The WIRE_INGEST_ variables that give a subprocess these settings (and nothing inherited)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    for section, values in data.items():
        for name, value in values.items():
            text = value if isinstance(value, str) else json.dumps(value)
            env[f"{ENV_PREFIX}{section.upper()}__{name.upper()}"] = text
    return env


def peak_rss_bytes(pid: int) -> int | None:
    """VmHWM: the most resident memory the process ever had (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


class ServiceProcess:
    """One `wire-ingest run` subprocess; logs to a file; its peak RSS is watched until it ends."""

    def __init__(self, data: dict[str, Any], log_path: Path, args: Sequence[str] = ()) -> None:
        self.env = environment(data)
        self.log_path = log_path
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None
        self.peak_rss = 0
        self.started_at = 0.0
        self._watcher: threading.Thread | None = None

    def start(self) -> ServiceProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(WIRE_INGEST), "run", *self.args], env=self.env, stdout=log, stderr=log, cwd=REPO_ROOT
        )
        log.close()
        self.started_at = time.monotonic()
        self._watcher = threading.Thread(target=self._watch, args=(self.process,), daemon=True)
        self._watcher.start()
        return self

    def _watch(self, process: subprocess.Popen[bytes]) -> None:
        while process.poll() is None:
            rss = peak_rss_bytes(process.pid)
            if rss is not None:
                self.peak_rss = max(self.peak_rss, rss)
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no drain, no commit, no close."""
        if self.alive():
            assert self.process is not None
            rss = peak_rss_bytes(self.process.pid)
            self.peak_rss = max(self.peak_rss, rss or 0)
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM: the service drains the batch in progress, commits and exits."""
        assert self.process is not None
        if self.alive():
            rss = peak_rss_bytes(self.process.pid)
            self.peak_rss = max(self.peak_rss, rss or 0)
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    async def wait_exit(self, within: float) -> int:
        assert self.process is not None
        return await asyncio.to_thread(self.process.wait, within)

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    events.append(value)
        return events

    async def wait_for_log(self, event: str, within: float = 60.0, since: int = 0) -> dict[str, Any]:
        """The first log event named `event` (after the first `since` events); fails if the process dies."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for entry in self.log_events()[since:]:
                if entry.get("event") == event:
                    return entry
            if not self.alive():
                code = self.process.returncode if self.process else None
                raise RuntimeError(f"service exited ({code}) before {event}")
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no {event!r} in {self.log_path} within {within:.0f}s")


def producer_for(settings: Settings) -> AIOKafkaProducer:
    kafka = settings.kafka
    return AIOKafkaProducer(
        **kafka.client_kwargs(),
        acks="all",
        enable_idempotence=kafka.enable_idempotence,
        max_request_size=kafka.max_request_size,
        linger_ms=2,
    )


async def produce_items(settings: Settings, items: Iterable[InputItem]) -> None:
    """Write items to the raw topic as fast as the broker takes them."""
    producer = producer_for(settings)
    await producer.start()
    try:
        futures = [
            await producer.send(settings.topics.raw, item.value, key=item.key.encode()) for item in items
        ]
        for future in futures:
            await future
    finally:
        await producer.stop()


@dataclass
class Feeder:
    """A steady input stream: `rate` items per second to the raw topic, in order, until all are
    sent or `stop()` is called.

    A test whose fault phase must happen while the stream runs gives it more items than it
    needs and stops it after the phase: how long the phase takes on a loaded machine then
    cannot end the stream early. `items_sent` is what to account for.
    """

    settings: Settings
    items: list[InputItem]
    rate: float = 200.0
    sent: int = 0
    retried: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def items_sent(self) -> list[InputItem]:
        return self.items[: self.sent]

    def stop(self) -> None:
        """No item is sent after the one being sent now, if any."""
        self.stopping.set()

    async def run(self) -> None:
        producer = producer_for(self.settings)
        await producer.start()
        try:
            started = time.monotonic()
            for index, item in enumerate(self.items):
                # Pace the stream: item i leaves at started + i / rate.
                delay = started + index / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self.stopping.is_set():
                    break
                while True:
                    try:
                        await producer.send_and_wait(
                            self.settings.topics.raw, item.value, key=item.key.encode()
                        )
                        break
                    except KafkaError:
                        # The broker may be down on purpose: keep the item and try again.
                        self.retried += 1
                        await asyncio.sleep(0.2)
                self.sent += 1
        finally:
            await producer.stop()
            self.done.set()


class OutputTail:
    """Follows the output topics while a test runs: message counts and arrival times, for recovery times."""

    def __init__(
        self,
        settings: Settings,
        topics: Sequence[str],
        isolation_level: str = "read_uncommitted",
        *,
        check_crcs: bool = True,
    ) -> None:
        self.settings = settings
        self.check_crcs = check_crcs
        self.last_error: KafkaError | None = None
        self.topics = list(topics)
        self.isolation_level = isolation_level
        self.counts: Counter[str] = Counter()
        # Raw (partition, offset) of every record with an output on canonical/duplicates/dlq.
        self.sources: set[tuple[int, int]] = set()
        self.arrivals: list[float] = []  # monotonic arrival time of each message
        self.stamps: list[float] = []  # each message's own timestamp (producer wall clock, seconds)
        self.topic_stamps: dict[str, list[float]] = {}  # the same, per output topic
        # Output timestamps per raw partition they came from (canonical/duplicates/dlq only).
        self.partition_stamps: dict[int, list[float]] = {}
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @property
    def total(self) -> int:
        return len(self.arrivals)

    async def __aenter__(self) -> OutputTail:
        kafka = self.settings.kafka
        self._consumer = AIOKafkaConsumer(
            **kafka.client_kwargs(),
            enable_auto_commit=False,
            isolation_level=self.isolation_level,
            check_crcs=self.check_crcs,
            fetch_max_bytes=kafka.fetch_max_bytes,
            max_partition_fetch_bytes=kafka.max_partition_fetch_bytes,
        )
        await self._consumer.start()
        assignment: list[TopicPartition] = []
        for topic in self.topics:
            partitions = self._consumer.partitions_for_topic(topic)
            while not partitions:
                await self._consumer._client.force_metadata_update()
                partitions = self._consumer.partitions_for_topic(topic)
            assignment += [TopicPartition(topic, p) for p in sorted(partitions)]
        self._consumer.assign(assignment)
        await self._consumer.seek_to_beginning(*assignment)
        self._task = asyncio.create_task(self._follow())
        return self

    async def _follow(self) -> None:
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=200)
            except KafkaError as error:
                self.last_error = error
                await asyncio.sleep(0.2)  # the broker is down on purpose; keep following
                continue
            now = time.monotonic()
            for tp, records in batch.items():
                self.counts[tp.topic] += len(records)
                self.arrivals.extend([now] * len(records))
                self.stamps.extend(record.timestamp / 1000 for record in records)
                self.topic_stamps.setdefault(tp.topic, []).extend(r.timestamp / 1000 for r in records)
                if tp.topic != self.settings.topics.enriched:
                    for record in records:
                        source = source_of(record.value or b"{}")
                        self.sources.add(source)
                        self.partition_stamps.setdefault(source[0], []).append(record.timestamp / 1000)
            if batch:
                self._changed.set()

    async def wait_until(self, condition: Callable[[OutputTail], bool], within: float) -> None:
        deadline = time.monotonic() + within
        while not condition(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                counts = dict(self.counts)
                raise TimeoutError(
                    f"output tail: condition not met in {within:.0f}s "
                    f"(counts {counts}, last error {self.last_error!r})"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 1.0))

    def first_produced_after(self, wall_time: float) -> float | None:
        """Wall-clock time of the earliest output produced after `wall_time` (None if none yet).

        Record timestamps are set by the producing service, so this does not depend on how
        fast the tail itself reads, and a killed process cannot have produced after it died.
        """
        return min((t for t in self.stamps if t > wall_time), default=None)

    def every_partition_produced_after(self, wall_time: float, partitions: Iterable[int]) -> float | None:
        """Wall-clock time by which output from every raw partition was produced after `wall_time`.

        None while some partition has produced nothing since: the moment all of them are being
        worked on again, e.g. after the member that owned some of them was killed.
        """
        latest = wall_time
        for partition in partitions:
            after = [t for t in self.partition_stamps.get(partition, ()) if t > wall_time]
            if not after:
                return None
            latest = max(latest, min(after))
        return latest

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # The mock cluster can time out the reader's last fetch, and aiokafka's fetcher then ends
        # cancelled; what the tail read is what counts.
        with contextlib.suppress(KafkaError, asyncio.CancelledError):
            await self._consumer.stop()


def source_of(value: bytes) -> tuple[int, int]:
    """The raw (partition, offset) an output message came from."""
    data = orjson.loads(value)
    if "lineage" in data:
        return data["lineage"]["partition"], data["lineage"]["offset"]
    return data["source_partition"], data["source_offset"]


def record_figures(name: str, figures: dict[str, Any]) -> None:
    """Keep a test's measured figures under results/faults/ and print them (shown with pytest -s)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    print(f"\n[{name}] {json.dumps(figures, sort_keys=True)}")
