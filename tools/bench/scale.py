"""Scale: one vs two `wire-ingest run` processes in one consumer group, configured by environment.

The instances start first and the records are produced once every partition
is assigned (so no record is processed before the group settles). Each
instance stops after being idle. Rates come from the outputs themselves: every
input item yields one message on the canonical, duplicates or dead-letter
topic whose lineage names its input partition and offset, and whose Kafka
timestamp is when the service produced it; an instance's rate is the records
of its partitions over the span of their timestamps, warm-up offsets left out.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import IO, Any

import orjson
import redis
from aiokafka import AIOKafkaConsumer, TopicPartition

from service.settings import Settings
from service.topics import create_topics
from tools.bench.kafka_runs import prefill, run_config
from tools.bench.records import BenchRecord
from tools.bench.stats import Summary

PARTITIONS = 4
_IDLE_SECONDS = 3.0
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def _env(config: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRE_INGEST_")}
    for section, values in config.items():
        for name, value in values.items():
            env[f"WIRE_INGEST_{section.upper()}__{name.upper()}"] = str(value)
    env.update(
        WIRE_INGEST_OBSERVABILITY__HTTP_PORT="0",
        WIRE_INGEST_OBSERVABILITY__LOG_LEVEL="INFO",
        WIRE_INGEST_OBSERVABILITY__LOG_FORMAT="json",
    )
    return env


def _own_state(config: dict[str, Any], instance: int) -> dict[str, Any]:
    if config["dedupe"]["backend"] != "sqlite":
        return config
    path = Path(config["dedupe"]["sqlite_path"])
    return {
        **config,
        "dedupe": {**config["dedupe"], "sqlite_path": str(path.with_stem(f"{path.stem}-{instance}"))},
    }


class _Instance:
    """One service process; a thread follows its log for partition assignments."""

    def __init__(self, env: dict[str, str], changed: threading.Condition) -> None:
        command = [
            str(Path(sys.executable).with_name("wire-ingest")),
            "run",
            "--idle-seconds",
            str(_IDLE_SECONDS),
        ]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.partitions: set[int] = set()
        self.owned: set[int] = set()  # the partitions it held when the load started
        self._changed = changed
        self._thread = threading.Thread(target=self._follow, args=(self.process.stderr,), daemon=True)
        self._thread.start()

    def _follow(self, stream: IO[bytes] | None) -> None:
        assert stream is not None
        for line in stream:
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(event, dict) or event.get("event") not in (
                "partitions_assigned",
                "partitions_revoked",
            ):
                continue
            with self._changed:
                parts = {int(p.rsplit("-", 1)[1]) for p in event.get("partitions", [])}
                if event["event"] == "partitions_assigned":
                    self.partitions = parts
                else:
                    self.partitions -= parts
                self._changed.notify_all()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=30)


async def _output_times(settings: Settings, expected: int) -> dict[int, list[tuple[int, float]]]:
    """(input offset, output timestamp) per input partition, from canonical, duplicates and DLQ."""
    topics = settings.topics
    consumer = AIOKafkaConsumer(**settings.kafka.client_kwargs(), enable_auto_commit=False)
    await consumer.start()
    found: dict[int, list[tuple[int, float]]] = defaultdict(list)
    try:
        assignment = [
            TopicPartition(t, p)
            for t in (topics.canonical, topics.duplicates, topics.dlq)
            for p in range(PARTITIONS)
        ]
        consumer.assign(assignment)
        await consumer.seek_to_beginning(*assignment)
        seen, idle = 0, 0
        while seen < expected and idle < 20:
            batch = await consumer.getmany(timeout_ms=200)
            idle = 0 if batch else idle + 1
            for records in batch.values():
                for record in records:
                    value = orjson.loads(record.value or b"{}")
                    lineage = value.get("lineage") or {}
                    partition = lineage.get("partition", value.get("source_partition"))
                    offset = lineage.get("offset", value.get("source_offset"))
                    if partition is not None and offset is not None:
                        found[int(partition)].append((int(offset), record.timestamp / 1000))
                        seen += 1
    finally:
        await consumer.stop()
    return found


def _rate(times: dict[int, list[tuple[int, float]]], partitions: set[int], warmup: int) -> float:
    kept = [stamp for p in partitions for offset, stamp in times.get(p, []) if offset >= warmup]
    if len(kept) < 2 or max(kept) <= min(kept):
        return float("nan")
    return len(kept) / (max(kept) - min(kept))


def scale_run(
    bootstrap: str,
    records: list[BenchRecord],
    instances: int,
    *,
    warmup: int,
    state_dir: Path,
    redis_url: str | None,
) -> dict[str, Any]:
    config = run_config(bootstrap, f"bench-raw-{uuid.uuid4().hex[:8]}", state_dir)
    config["topics"]["partitions"] = PARTITIONS
    if redis_url is not None:
        # Instances of one group share dedupe state; SQLite is one instance per file.
        config["dedupe"] = {
            "backend": "redis",
            "redis_url": redis_url,
            "redis_key_prefix": f"bench-{uuid.uuid4().hex[:8]}:",
        }
    settings = Settings.model_validate(config)
    asyncio.run(create_topics(settings))
    changed = threading.Condition()
    running = [_Instance(_env(_own_state(config, n)), changed) for n in range(instances)]
    try:
        with changed:
            settled = changed.wait_for(
                lambda: (
                    all(i.partitions for i in running)
                    and sum(len(i.partitions) for i in running) == PARTITIONS
                ),
                timeout=90,
            )
        if not settled:
            raise RuntimeError(f"{instances} instance(s) did not settle on {PARTITIONS} partitions")
        for instance in running:
            instance.owned = set(instance.partitions)
        started = time.perf_counter()
        asyncio.run(prefill(settings, records))
        for instance in running:
            instance.process.wait(timeout=900)
        wall = time.perf_counter() - started
    finally:
        for instance in running:
            instance.stop()
    times = asyncio.run(_output_times(settings, len(records)))
    if redis_url is not None:
        _drop_keys(redis_url, config["dedupe"]["redis_key_prefix"])
    per_partition_warmup = warmup // PARTITIONS
    each = [_rate(times, i.owned, per_partition_warmup) for i in running]
    total = _rate(times, set(range(PARTITIONS)), per_partition_warmup)
    return {"instances": instances, "records_per_s_each": each, "records_per_s_total": total, "wall_s": wall}


def reachable_redis(url: str = DEFAULT_REDIS_URL) -> str | None:
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        return None
    finally:
        client.close()
    return url


def _drop_keys(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    finally:
        client.close()


def scale(
    bootstrap: str, records: list[BenchRecord], repetitions: int, warmup: int, state_dir: Path
) -> dict[str, Any]:
    """One and two instances, `repetitions` times each: per-instance and total records/s."""
    redis_url = reachable_redis()
    out: dict[str, Any] = {
        "dedupe_backend": "redis" if redis_url else "sqlite (one file per instance, not shared)"
    }
    for instances in (1, 2):
        runs = [
            scale_run(bootstrap, records, instances, warmup=warmup, state_dir=state_dir, redis_url=redis_url)
            for _ in range(repetitions)
        ]
        out[str(instances)] = {
            "records_per_s_total": Summary.of([r["records_per_s_total"] for r in runs]),
            "records_per_s_each": Summary.of([rate for r in runs for rate in r["records_per_s_each"]]),
            "runs": runs,
        }
    return out
