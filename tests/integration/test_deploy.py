"""A real Prometheus scraping a running service: the dashboard's queries return data, the rules load.

The service runs in-process on the test broker, fed the bundled samples plus one broken record;
Prometheus (Debian's `prometheus` binary) runs on a free loopback port with a 1 s scrape
interval, the deploy/ scrape job pointed at the service, and deploy/'s alert rules. Waiting is
driven by the scrapes themselves (a collector in the service's registry notes each one), not by
sleeping.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

from service.app import run_service
from service.observability import Health, Metrics
from service.settings import Settings
from tests.conftest import SAMPLES, Broker
from tests.deploy_support import (
    ALERT_RULES,
    PROMETHEUS_CONFIG,
    SCRAPE_JOB,
    all_values,
    dashboard_queries,
    load_dashboard,
    load_yaml,
    require_binary,
    substitute,
)
from tests.integration.kafka_helpers import create, produce, settings_for

pytestmark = pytest.mark.integration

BROKEN_RECORD = b"<?xml version='1.0'?><newsItem><contentMeta><headline>cut off"
DEADLINE_SECONDS = 120
# Panels whose queries must show activity, not just a series: the test feeds the service in two
# waves so that counters exist before they move and rate() sees the second wave.
ACTIVE_PANELS = {
    "Items/s",
    "Dead-letter share",
    "Consumed by topic",
    "Produced by topic",
    "Outcomes by kind and reason",
    "Dead letters by reason",
    "End-to-end latency",
    "Per-stage latency",
    "Dedupe relations",
    "Enrichment coverage",
    "Entities attached",
    "Time since last item, per source",
    "Items by source and format",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ScrapeWatch:
    """Counts scrapes of the service's /metrics from the HTTP threads and wakes the test on each."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self.count = 0
        self._changed = asyncio.Event()

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        # The test reading its own registry is not a scrape.
        if threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self._bump)
        return []

    def _bump(self) -> None:
        self.count += 1
        self._changed.set()

    async def next_scrape(self) -> int:
        self._changed.clear()
        await self._changed.wait()
        return self.count


def _prometheus_config(metrics_port: int) -> dict[str, Any]:
    """deploy/'s config with the wire-ingest job pointed at the loopback service, scraping every second."""
    config: dict[str, Any] = load_yaml(PROMETHEUS_CONFIG)
    [job] = [job for job in config["scrape_configs"] if job["job_name"] == SCRAPE_JOB]
    job.pop("dns_sd_configs")
    job["static_configs"] = [{"targets": [f"127.0.0.1:{metrics_port}"]}]
    job["scrape_interval"] = "1s"
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(ALERT_RULES)]
    config["scrape_configs"] = [job]
    return config


async def _api(port: int, path: str, **params: str) -> Any:
    url = f"http://127.0.0.1:{port}/api/v1/{path}?{urllib.parse.urlencode(params)}"

    def get() -> Any:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)

    body = await asyncio.to_thread(get)
    assert body["status"] == "success", body
    return body["data"]


async def _processed(settings: Settings, metrics: Metrics, watch: ScrapeWatch, records: int) -> None:
    """Return once the service has consumed `records` and Prometheus has stored a scrape showing it.

    Checked at each scrape: the scrape after the one that saw the final counts carries them,
    and the one after that starts only once it has been stored.
    """
    registry = metrics.registry
    while True:
        await watch.next_scrape()
        consumed = registry.get_sample_value(
            "wire_ingest_records_consumed_total", {"topic": settings.topics.raw}
        )
        if consumed == records and registry.get_sample_value("wire_ingest_in_flight_records") == 0:
            break
    done = watch.count
    while await watch.next_scrape() < done + 2:
        pass


async def test_real_prometheus_answers_the_dashboard_queries(
    kafka: Broker, unique: str, tmp_path: Path
) -> None:
    """Every dashboard query returns data from a Prometheus scraping the running service; all rules load."""
    prometheus_bin = require_binary("prometheus")
    metrics_port, prometheus_port = _free_port(), _free_port()
    settings = settings_for(
        kafka.bootstrap_servers,
        unique,
        tmp_path,
        observability={"http_host": "127.0.0.1", "http_port": metrics_port},
    )
    samples = [path.read_bytes() for path in sorted(SAMPLES.iterdir()) if path.is_file()]
    assert len(samples) >= 6, f"expected the bundled samples in {SAMPLES}"
    # Wave two brings new stories, redeliveries of wave one (same sources again) and another dead
    # letter, so each series exists before it moves.
    half = len(samples) // 2
    waves = [[*samples[:half], BROKEN_RECORD], [*samples[half:], *samples[:half], BROKEN_RECORD + b" again"]]
    await create(settings)

    metrics = Metrics(CollectorRegistry())
    watch = ScrapeWatch(asyncio.get_running_loop())
    metrics.registry.register(watch)
    stop = asyncio.Event()
    service = asyncio.create_task(
        run_service(
            settings,
            stop=stop,
            metrics=metrics,
            health=Health(),
            serve_http=True,
            install_signal_handlers=False,
        )
    )
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(_prometheus_config(metrics_port)), encoding="utf-8")
    log_file = tmp_path / "prometheus.log"
    with log_file.open("wb") as log:
        prometheus = await asyncio.create_subprocess_exec(
            prometheus_bin,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        produced = 0
        for wave in waves:
            await produce(settings, wave)
            produced += len(wave)
            await asyncio.wait_for(_processed(settings, metrics, watch, produced), DEADLINE_SECONDS)

        [target] = (await _api(prometheus_port, "targets"))["activeTargets"]
        assert target["labels"]["job"] == SCRAPE_JOB and target["health"] == "up", target

        dashboard = load_dashboard()
        values = all_values(dashboard)
        missing: list[str] = []
        seen_panels: set[str] = set()
        for query in dashboard_queries(dashboard):
            seen_panels.add(query.panel)
            data = await _api(prometheus_port, "query", query=substitute(query.expr, values))
            finite = [
                value for value in (float(s["value"][1]) for s in data["result"]) if math.isfinite(value)
            ]
            if not finite or (query.panel in ACTIVE_PANELS and not any(finite)):
                missing.append(f"{query.panel} [{query.ref_id}]: {query.expr} -> {data['result']}")
        assert seen_panels >= ACTIVE_PANELS, f"panels renamed? {ACTIVE_PANELS - seen_panels}"
        assert not missing, "dashboard queries without data:\n" + "\n".join(missing)

        instances = await _api(
            prometheus_port, "label/instance/values", **{"match[]": "wire_ingest_build_info"}
        )
        assert instances == [f"127.0.0.1:{metrics_port}"]

        groups = (await _api(prometheus_port, "rules"))["groups"]
        loaded = {rule["name"] for group in groups for rule in group["rules"]}
        expected = {
            rule.get("alert") or rule["record"]
            for g in load_yaml(ALERT_RULES)["groups"]
            for rule in g["rules"]
        }
        assert loaded == expected
        broken = [
            (rule["name"], rule.get("lastError"))
            for g in groups
            for rule in g["rules"]
            if rule["health"] == "err"
        ]
        assert not broken
    except BaseException:
        print(log_file.read_text(encoding="utf-8", errors="replace")[-4000:])
        raise
    finally:
        prometheus.terminate()
        await asyncio.wait_for(prometheus.wait(), 30)
        stop.set()
        await asyncio.wait_for(service, 60)
