"""Slow downstream: the brokers that take the service's output answer seconds late while input keeps coming.

On librdkafka's mock cluster the raw topic is led by one broker and every output topic by
another, whose round-trip time is raised to seconds for a stretch (`rd_kafka_mock_broker_set_rtt`).
The service must wait for its acknowledgements instead of reading ahead: records taken into
processing but not yet delivered never exceed one batch, the backlog piles up on the broker
(consumer lag grows) and drains once the output is fast again, and resident memory stays near
what the same process used before the slowdown.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.harness import MockCluster

from .checker import check
from .corpus import make_inputs
from .harness import Feeder, OutputTail, ServiceProcess, mock_config, mock_topics, record_figures, settings_of

pytestmark = pytest.mark.integration

INPUT_BROKER, OUTPUT_BROKER = 1, 2
ITEMS = 2000  # at most: the stream is stopped once the slowdown is over (~500 items)
RATE = 25.0
BATCH = 20
SLOW_RTT_MS = 3000
SLOW_SECONDS = 12.0  # how long the output stays slow: the fault being injected, not a wait


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def scrape(port: int) -> dict[str, float]:
    """The service's own metrics, summed over labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[sample.name] = values.get(sample.name, 0.0) + sample.value
    return values


@dataclass
class Sample:
    at: float
    phase: str
    sent: int
    consumed: float
    in_flight: float
    rss: int


@dataclass
class Sampler:
    """Samples the input sent, the service's consumed/in-flight counts and its RSS, twice a second."""

    service: ServiceProcess
    feeder: Feeder
    port: int
    phase: str = "before"
    samples: list[Sample] = field(default_factory=list)
    stopped: bool = False  # set before the service is stopped: its HTTP server goes first

    async def run(self) -> None:
        while not self.stopped and self.service.alive():
            try:
                metrics = await asyncio.to_thread(scrape, self.port)
                rss = rss_bytes(self.service.pid)
            except OSError:
                # The test stopped the service while it was being sampled: the series ends there.
                # Failing to sample a service that should be running is an error.
                if self.stopped or not self.service.alive():
                    return
                raise
            self.samples.append(
                Sample(
                    time.monotonic(),
                    self.phase,
                    self.feeder.sent,
                    metrics.get("wire_ingest_records_consumed_total", 0.0),
                    metrics.get("wire_ingest_in_flight_records", 0.0),
                    rss,
                )
            )
            await asyncio.sleep(0.5)  # the sampling period of a measurement, not a wait for a condition

    def backlog(self, phase: str) -> list[float]:
        return [s.sent - s.consumed for s in self.samples if s.phase == phase]

    def peak_rss(self, phase: str) -> int:
        return max(s.rss for s in self.samples if s.phase == phase)


async def test_slow_output_brokers_keep_memory_bounded_and_the_backlog_on_the_broker(
    own_cluster: MockCluster, unique: str, tmp_path: Path
) -> None:
    """Output brokers 3 s slow for 12 s: backlog grows then drains, one batch in flight, RSS near baseline."""
    data = mock_config(own_cluster, unique, tmp_path, pipeline={"max_batch_records": BATCH})
    settings = settings_of(data)
    mock_topics(own_cluster, settings)
    for topic in settings.topics.all():
        broker = INPUT_BROKER if topic == settings.topics.raw else OUTPUT_BROKER
        for partition in range(settings.topics.partitions):
            own_cluster.set_partition_leader(topic, partition, broker)
    items = make_inputs(unique, ITEMS, seed=31)
    feeder = Feeder(settings, items, rate=RATE)
    service = ServiceProcess(data, tmp_path / "service.log")
    async with OutputTail(settings, settings.topics.outputs()) as tail:
        service.start()
        port = int((await service.wait_for_log("http_endpoint_started", within=60))["port"])
        sampler = Sampler(service, feeder, port)
        sampling = asyncio.create_task(sampler.run())
        feeding = asyncio.create_task(feeder.run())
        try:
            await tail.wait_until(lambda t: len(t.sources) >= 150, within=120)
            sampler.phase = "slow"
            own_cluster.set_rtt(OUTPUT_BROKER, SLOW_RTT_MS)
            try:
                await asyncio.sleep(SLOW_SECONDS)
            finally:
                own_cluster.set_rtt(OUTPUT_BROKER, 0)
            sampler.phase = "after"
            fast_again = time.monotonic()
            assert not feeder.done.is_set(), "the stream ended during the slowdown: raise ITEMS"
            feeder.stop()
            await feeding
            await tail.wait_until(lambda t: len(t.sources) >= feeder.sent, within=180)
            drained_seconds = time.monotonic() - fast_again
            sampler.stopped = True
            await sampling
            assert service.terminate() == 0
        finally:
            sampler.stopped = True
            service.kill()
            feeding.cancel()
            await sampling

    report = await check(settings, feeder.items_sent)
    before, slow, after = (sampler.backlog(phase) for phase in ("before", "slow", "after"))
    baseline_rss = sampler.peak_rss("before")
    slow_rss = max(sampler.peak_rss("slow"), sampler.peak_rss("after"))
    max_in_flight = max(s.in_flight for s in sampler.samples)
    record_figures(
        "slow_downstream",
        {
            **report.summary(),
            "slow_rtt_ms": SLOW_RTT_MS,
            "slow_seconds": SLOW_SECONDS,
            "feed_rate_per_second": RATE,
            "backlog_records_max_before": max(before),
            "backlog_records_max_while_slow": max(slow),
            "backlog_records_at_end": after[-1],
            "drained_seconds": round(drained_seconds, 2),
            "max_in_flight_records": max_in_flight,
            "rss_mb_peak_before": round(baseline_rss / 2**20, 1),
            "rss_mb_peak_while_slow_and_after": round(slow_rss / 2**20, 1),
            "peak_rss_mb_process": round(service.peak_rss / 2**20, 1),
        },
    )
    assert report.problems(allow_redeliveries=True) == []
    # The service paused instead of reading ahead: the backlog stayed on the broker and grew...
    assert max(slow) > max(before) + 2 * BATCH
    # ...never more than one batch was taken in without being delivered...
    assert max_in_flight <= BATCH
    # ...and memory stayed near what the process needed before the slowdown (a generous bound
    # relative to the baseline, not a measurement).
    assert slow_rss < baseline_rss * 1.5
