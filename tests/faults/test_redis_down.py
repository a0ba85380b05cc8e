"""Redis down with the Redis dedupe backend: the service pauses and retries, it never publishes unchecked.

Chosen behaviour (service.shell, service.partitions, DedupeSettings.unavailable_retry_seconds):
a record whose dedupe check cannot reach the store is held, with its partition (rewound and
paused), and retried with backoff until the store answers; the dedupe_store_errors_total
metric counts the attempts and each one logs `dedupe_store_unavailable`. No event that
needs the store (canonical, enriched, duplicates) is published from the moment Redis goes
away until it is back; a record that fails before the dedupe stage needs no store, so its
dead letter may go out meanwhile. Copies of items seen before the outage still end on the
duplicates topic.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from service.harness import free_port
from service.topics import create_topics
from tests.conftest import Broker

from .checker import check
from .corpus import InputItem, make_inputs
from .harness import OutputTail, ServiceProcess, fault_config, produce_items, record_figures, settings_of

pytestmark = pytest.mark.integration


class RedisServer:
    """A redis-server of the test's own on a free port; its append-only file keeps state across restarts."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is required (make services installs it)"
        options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always"]
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), *options, "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 20
        while True:
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # polling for the server to accept connections
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: redis flushes the append-only file and exits
            self.process.wait(timeout=20)
        self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _resends(items: list[InputItem], run: str, count: int) -> list[InputItem]:
    goods = [item for item in items if item.kind == "good"][:count]
    return [
        InputItem(f"{run}-resend-{i:04d}", "resend", item.group, item.value) for i, item in enumerate(goods)
    ]


def _produced(tail: OutputTail, topics: Iterable[str], start: float, end: float) -> int:
    """Messages on `topics` that the service produced after `start` and before `end`."""
    return sum(1 for topic in topics for stamp in tail.topic_stamps.get(topic, ()) if start < stamp < end)


async def test_redis_down_pauses_and_publishes_nothing_unchecked(
    kafka: Broker, redis_server: RedisServer, unique: str, tmp_path: Path
) -> None:
    """While Redis is down nothing is published; after it is back, copies of earlier items are duplicates."""
    data = fault_config(
        kafka.bootstrap_servers,
        unique,
        tmp_path,
        dedupe={"backend": "redis", "redis_url": f"redis://127.0.0.1:{redis_server.port}/0"},
    )
    settings = settings_of(data)
    await create_topics(settings)
    before = make_inputs(unique, 120, seed=3)
    during = _resends(before, unique, 30) + make_inputs(f"{unique}-b", 60, seed=4)
    items = before + during
    service = ServiceProcess(data, tmp_path / "service.log")
    async with OutputTail(settings, settings.topics.outputs()) as tail:
        await produce_items(settings, before)
        service.start()
        try:
            await tail.wait_until(lambda t: len(t.sources) >= len(before), within=120)
            redis_server.stop()
            down_at = time.time()
            await produce_items(settings, during)
            # Held, not idle: the service tried (and logged) several times while Redis was away.
            seen = len(service.log_events())
            for _ in range(3):
                await service.wait_for_log("dedupe_store_unavailable", within=60, since=seen)
                seen = len(service.log_events())
            # Until the restart begins nothing can answer the service. Once redis-server is
            # spawned the service may get through before this test's own ping does (it polls
            # every 50 ms), so a publish between the two is not one made while Redis was down.
            restart_at = time.time()
            redis_server.start()
            up_at = time.time()
            await tail.wait_until(lambda t: t.first_produced_after(restart_at) is not None, within=120)
            recovery = (tail.first_produced_after(restart_at) or restart_at) - restart_at
            await tail.wait_until(lambda t: len(t.sources) >= len(items), within=120)
            checked_topics = (settings.topics.canonical, settings.topics.enriched, settings.topics.duplicates)
            published_while_down = _produced(tail, checked_topics, down_at, restart_at)
            published_while_restarting = _produced(tail, checked_topics, restart_at, up_at)
            dead_letters_while_down = _produced(tail, [settings.topics.dlq], down_at, restart_at)
            assert service.terminate() == 0
        finally:
            service.kill()

    report = await check(settings, items)
    attempts = sum(1 for e in service.log_events() if e.get("event") == "dedupe_store_unavailable")
    resend_keys = {item.key for item in during if item.kind == "resend"}
    record_figures(
        "redis_down",
        {
            **report.summary(),
            "outage_seconds": round(restart_at - down_at, 2),
            "restart_seconds": round(up_at - restart_at, 2),
            "published_while_down": published_while_down,
            "published_while_restarting": published_while_restarting,
            "dead_letters_while_down": dead_letters_while_down,
            "dedupe_retry_attempts": attempts,
            "resends_during_outage": len(resend_keys),
            "recovery_seconds": round(recovery, 2),
        },
    )
    assert published_while_down == 0
    assert report.problems(allow_redeliveries=True) == []
    # Each resend during the outage is a duplicate of its original, which was published before.
    assert report.destinations["duplicates"] >= len(resend_keys)
