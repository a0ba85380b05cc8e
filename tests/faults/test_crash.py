"""Crash: SIGKILL the service at random points under a steady input stream, restart it each time."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from service.topics import create_topics
from tests.conftest import Broker

from .checker import check
from .corpus import make_inputs
from .harness import Feeder, OutputTail, ServiceProcess, fault_config, record_figures, settings_of

pytestmark = pytest.mark.integration

ITEMS = 900
KILLS = 4


async def test_kill_9_at_random_points_loses_and_doubles_nothing(
    kafka: Broker, unique: str, tmp_path: Path
) -> None:
    """Four SIGKILLs mid-stream: every item ends exactly once (redelivered copies carry the same event_id)."""
    rng = random.Random(unique)
    data = fault_config(kafka.bootstrap_servers, unique, tmp_path)
    settings = settings_of(data)
    await create_topics(settings)
    items = make_inputs(unique, ITEMS, seed=rng.randrange(1 << 30))
    # Slow enough that the stream outlasts four kill-and-restart cycles (~13 s each).
    feeder = Feeder(settings, items, rate=15.0)
    recoveries: list[float] = []
    kill_points: list[int] = []
    peak_rss = 0
    async with OutputTail(settings, settings.topics.outputs()) as tail:
        feeding = asyncio.create_task(feeder.run())
        service = ServiceProcess(data, tmp_path / "service-0.log").start()
        try:
            for _ in range(KILLS):
                # A random point: some number of input items accounted for after the instance
                # came back, capped at the corpus size (a fast service may finish it before
                # the last kill, which then lands on an idle instance).
                target = min(len(tail.sources) + rng.randint(10, 60), ITEMS)
                await tail.wait_until(lambda t, n=target: len(t.sources) >= n, within=120)
                kill_points.append(len(tail.sources))
                service.kill()
                peak_rss = max(peak_rss, service.peak_rss)
                restarted = time.time()
                service = ServiceProcess(data, tmp_path / f"service-{len(kill_points)}.log").start()
                # Back when the new process produces; or nothing was left to do when it died.
                await tail.wait_until(
                    lambda t, w=restarted: (
                        t.first_produced_after(w) is not None
                        or (feeder.done.is_set() and len(t.sources) >= feeder.sent)
                    ),
                    within=120,
                )
                resumed = tail.first_produced_after(restarted)
                if resumed is not None:
                    recoveries.append(round(resumed - restarted, 2))
            await feeding
            await tail.wait_until(lambda t: len(t.sources) >= feeder.sent, within=180)
            # SIGTERM only once it runs, so the signal meets the service's handler, not Python's default.
            await service.wait_for_log("service_started", within=60)
            assert service.terminate() == 0
            peak_rss = max(peak_rss, service.peak_rss)
        finally:
            service.kill()
            feeding.cancel()

    report = await check(settings, items)
    record_figures(
        "crash",
        {
            **report.summary(),
            "kills": KILLS,
            "kill_points_processed": kill_points,
            "recovery_seconds": recoveries,
            "peak_rss_mb": round(peak_rss / 2**20, 1),
        },
    )
    assert report.problems(allow_redeliveries=True) == []
    assert report.inputs == ITEMS
