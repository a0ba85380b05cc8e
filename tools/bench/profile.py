"""Profiles with pyinstrument: the core pipeline in process, and the service loop on a Tansu broker.

`python tools/bench.py --profile core` (or `service`) writes the call tree as
text and HTML under results/; warm-up records run before the profiler starts.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from prometheus_client import CollectorRegistry
from pyinstrument import Profiler

from service.app import run_service
from service.enrich import load_enricher
from service.harness import TansuBroker
from service.observability import Metrics, configure_logging
from service.settings import Settings
from service.shell import RunLimits
from service.topics import create_topics
from tools.bench.kafka_runs import prefill, run_config
from tools.bench.records import bench_records
from tools.bench.stages import bench_settings, core_pipeline

_INTERVAL = 0.0005


def _profile_core(records: int, warmup: int, shared: Path) -> Profiler:
    data, _ = bench_records(records + warmup, shared)
    settings = bench_settings()
    enricher = load_enricher(settings.enrich)
    core_pipeline(data[:warmup], 0, settings, enricher)
    profiler = Profiler(interval=_INTERVAL)
    with profiler:
        core_pipeline(data, warmup, settings, enricher)
    return profiler


def _profile_service(records: int, warmup: int, shared: Path) -> Profiler:
    data, _ = bench_records(records + warmup, shared)
    configure_logging("WARNING", "json")
    profiler = Profiler(interval=_INTERVAL, async_mode="enabled")
    with TansuBroker() as broker, tempfile.TemporaryDirectory(prefix="wire-ingest-profile-") as tmp:
        settings = Settings.model_validate(
            run_config(broker.bootstrap_servers, "bench-raw-profile", Path(tmp))
        )

        async def main() -> None:
            await create_topics(settings)
            await prefill(settings, data)
            metrics = Metrics(CollectorRegistry())
            limits = RunLimits(max_records=len(data))
            # The whole run is profiled (group join and warm-up included): the shares, not the total, matter.
            with profiler:
                await run_service(
                    settings, limits=limits, metrics=metrics, serve_http=False, install_signal_handlers=False
                )

        asyncio.run(main())
    return profiler


def profile(what: str, records: int, warmup: int, shared: Path, out_dir: Path) -> Path:
    profiler = (_profile_core if what == "core" else _profile_service)(records, warmup, shared)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = out_dir / f"profile-{what}.txt"
    text.write_text(profiler.output_text(unicode=False, color=False))
    (out_dir / f"profile-{what}.html").write_text(profiler.output_html())
    print(profiler.output_text(unicode=False, color=False))
    return text
