"""Composition root: builds the stages from settings and runs the service.

The only place that wires the pipeline together; the CLI, the demo, the
benchmark and the integration tests all go through `build_pipeline` and
`run_service`, so they exercise the same code path as production.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from prometheus_client import CollectorRegistry

from .dedupe import open_deduplicator
from .enrich import load_enricher
from .observability import Health, HttpEndpoint, Metrics
from .pipeline import Pipeline
from .settings import DedupeBackend, Settings, Stage
from .shell import RunLimits, RunSummary, Service
from .tracing import Tracing, setup_tracing
from .workers import WorkerPool

log = structlog.get_logger("wire_ingest.app")


@asynccontextmanager
async def build_pipeline(
    settings: Settings, metrics: Metrics | None = None, tracing: Tracing | None = None
) -> AsyncIterator[Pipeline]:
    """The pipeline with its dedupe store opened, its workers started (or its enricher loaded);
    closes them on exit. Tracing is set up from the settings unless given (tests give theirs)."""
    metrics = metrics or Metrics(CollectorRegistry())
    own_tracing = tracing is None
    tracing = setup_tracing(settings.tracing) if tracing is None else tracing
    needs_enricher = settings.pipeline.stage in (Stage.ALL, Stage.ENRICH)
    # With workers, each worker loads its own enricher; this one serves `Pipeline.process_canonical`.
    enricher = load_enricher(settings.enrich) if needs_enricher and settings.pipeline.workers == 0 else None
    dedupe = settings.dedupe
    if settings.pipeline.stage == Stage.ENRICH:
        # The enrich stage decides nothing; keep it from opening (or creating) a shared store.
        dedupe = dedupe.model_copy(update={"backend": DedupeBackend.MEMORY})
    deduplicator = await open_deduplicator(dedupe)
    pool: WorkerPool | None = None
    try:
        if settings.pipeline.workers > 0:
            pool = WorkerPool(settings, metrics)
            pool.start()  # in the background, while the consumer joins its group
        yield Pipeline(settings, deduplicator, enricher, metrics, pool, tracing=tracing)
    finally:
        if pool is not None:
            await pool.close()
        await deduplicator.close()
        if own_tracing:
            tracing.shutdown()


async def run_service(
    settings: Settings,
    *,
    limits: RunLimits | None = None,
    stop: asyncio.Event | None = None,
    metrics: Metrics | None = None,
    health: Health | None = None,
    serve_http: bool = True,
    install_signal_handlers: bool = True,
    tracing: Tracing | None = None,
) -> RunSummary:
    """Run one stage until stopped (SIGTERM/SIGINT, `stop`, or `limits`)."""
    stop = stop or asyncio.Event()
    metrics = metrics or Metrics()
    health = health or Health()
    health.heartbeat()
    endpoint: HttpEndpoint | None = None
    if serve_http:
        endpoint = HttpEndpoint(
            settings.observability.http_host, settings.observability.http_port, metrics, health
        )
        endpoint.start()
        log.info("http_endpoint_started", host=settings.observability.http_host, port=endpoint.port)
    loop = asyncio.get_running_loop()
    if install_signal_handlers:
        for signum in (signal.SIGTERM, signal.SIGINT):
            # The handler only sets a flag; the loop drains the batch in progress and commits.
            loop.add_signal_handler(signum, stop.set)
    try:
        async with build_pipeline(settings, metrics, tracing) as pipeline:
            service = Service(settings, pipeline, metrics, health)
            return await service.run(stop, limits)
    finally:
        if install_signal_handlers:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
        if endpoint is not None:
            endpoint.stop()
