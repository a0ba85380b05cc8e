"""Metrics, structured logs and the health/metrics HTTP endpoint.

Metric names follow Prometheus conventions (base units, `_total` counters,
labels rather than near-duplicate names); deploy/ dashboards and alert rules
query exactly these names, and a test keeps the two in step.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeVar, cast
from wsgiref.simple_server import WSGIRequestHandler, make_server

import structlog
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    make_wsgi_app,
)
from prometheus_client.exposition import ThreadingWSGIServer

from . import __version__

M = TypeVar("M", Counter, Gauge, Histogram)
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """Every metric the service exports; one instance per registry (tests use their own)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        ns = "wire_ingest"
        self.build_info = Info(f"{ns}_build", "Version of the running service.", registry=registry)
        self.build_info.info({"version": __version__})
        self.records_consumed = Counter(
            f"{ns}_records_consumed_total", "Kafka records consumed.", ["topic"], registry=registry
        )
        self.bytes_consumed = Counter(
            f"{ns}_consumed_bytes_total", "Bytes of record values consumed.", ["topic"], registry=registry
        )
        self.messages_produced = Counter(
            f"{ns}_messages_produced_total",
            "Messages produced and acknowledged, by topic.",
            ["topic"],
            registry=registry,
        )
        self.outcomes = Counter(
            f"{ns}_outcomes_total",
            "What became of each item: kind is published|update|kill|duplicate|dead_letter; "
            "reason is the dedupe relation or the dead-letter reason code.",
            ["kind", "reason"],
            registry=registry,
        )
        self.items_by_source = Counter(
            f"{ns}_items_total",
            "Items read, by source and wire format.",
            ["source", "format"],
            registry=registry,
        )
        self.source_last_item = Gauge(
            f"{ns}_source_last_item_timestamp_seconds",
            "Unix time of the last item seen from each source (freshness: time() - this).",
            ["source"],
            registry=registry,
        )
        self.stage_latency = Histogram(
            f"{ns}_stage_duration_seconds",
            "Time spent in each pipeline stage per record.",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.end_to_end_latency = Histogram(
            f"{ns}_end_to_end_latency_seconds",
            "Kafka record timestamp of the input to acknowledgement of its outputs.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            f"{ns}_batch_records",
            "Records per processed batch.",
            buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
            registry=registry,
        )
        self.consumer_lag = Gauge(
            f"{ns}_consumer_lag_records",
            "Records between the committed position and the end of each partition.",
            ["topic", "partition"],
            registry=registry,
        )
        self.consumer_lag_seconds = Gauge(
            f"{ns}_consumer_lag_seconds",
            "Age of the last processed record's timestamp when it was processed, per partition.",
            ["topic", "partition"],
            registry=registry,
        )
        self.in_flight = Gauge(
            f"{ns}_in_flight_records",
            "Records taken from Kafka whose outputs are not yet acknowledged.",
            registry=registry,
        )
        self.rebalances = Counter(
            f"{ns}_rebalances_total", "Partition assignments and revocations.", ["event"], registry=registry
        )
        self.assigned_partitions = Gauge(
            f"{ns}_assigned_partitions", "Partitions currently assigned to this instance.", registry=registry
        )
        self.commits = Counter(f"{ns}_commits_total", "Offset commits.", ["result"], registry=registry)
        self.dedupe_state_stories = Gauge(
            f"{ns}_dedupe_state_stories", "Stories held in the dedupe window.", registry=registry
        )
        self.dedupe_store_errors = Counter(
            f"{ns}_dedupe_store_errors_total",
            "Dedupe store calls that failed and were retried (the partition waits meanwhile).",
            registry=registry,
        )
        self.enrich_coverage = Counter(
            f"{ns}_enriched_entities_total",
            "Entities attached by enrichment: kind is country|leader.",
            ["kind"],
            registry=registry,
        )
        self.enriched_without_entities = Counter(
            f"{ns}_enriched_without_entities_total",
            "Enriched articles with no country (kind=country) or no leader (kind=leader).",
            ["kind"],
            registry=registry,
        )
        self.workers = Gauge(
            f"{ns}_workers", "Worker processes ready or busy (0 with pipeline.workers=0).", registry=registry
        )
        self.worker_restarts = Counter(
            f"{ns}_worker_restarts_total",
            "Workers killed and replaced: cause is timeout (a record ran past its budget) or crash.",
            ["cause"],
            registry=registry,
        )
        self.worker_cpu = Counter(
            f"{ns}_worker_cpu_seconds_total",
            "CPU seconds the worker processes spent on records (process_cpu_* covers the shell only).",
            registry=registry,
        )
        self.worker_peak_rss = Gauge(
            f"{ns}_worker_peak_rss_bytes",
            "The largest resident size any worker process reached (process_* covers the shell only).",
            registry=registry,
        )
        self.retries = Counter(
            f"{ns}_retries_total",
            "Waits before retrying an error that can heal: cause is store|produce|poll.",
            ["cause"],
            registry=registry,
        )
        self.held_partitions = Gauge(
            f"{ns}_held_partitions",
            "Partitions paused until a store error heals (their records wait on the broker).",
            registry=registry,
        )
        self.last_progress = Gauge(
            f"{ns}_last_progress_timestamp_seconds",
            "Unix time of the last committed batch (or idle poll): the loop is alive.",
            registry=registry,
        )
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}

    def child(self, metric: M, *labels: str) -> M:
        """`metric.labels(*labels)`, looked up once: `labels()` validates and locks on every call,
        which the per-record path pays several times per record. Not for metrics whose label
        sets are removed (consumer lag): a removed child would keep counting unseen."""
        found: M | None = self._children.get((metric, labels))
        if found is None:
            found = self._children[metric, labels] = metric.labels(*labels)
        return found


# ---------------------------------------------------------------- health


@dataclass
class Health:
    """What /healthz and /readyz answer; written by the event loop, read by the HTTP thread."""

    started_at: float = field(default_factory=time.time)
    last_loop_heartbeat: float = 0.0
    connected: bool = False
    assigned_partitions: int = 0
    stale_after_seconds: float = 60.0
    # Waiting for an error that can heal: partitions held for the dedupe store, a delivery
    # being retried. The process is alive (do not restart it) but not doing its job.
    held_partitions: int = 0
    delivery_retrying: bool = False
    # False while the worker processes start (the enricher loads): records would only queue.
    workers_ready: bool = True

    def heartbeat(self) -> None:
        self.last_loop_heartbeat = time.time()

    def is_alive(self) -> bool:
        return time.time() - self.last_loop_heartbeat < self.stale_after_seconds

    def is_ready(self) -> bool:
        return (
            self.connected
            and self.assigned_partitions > 0
            and self.workers_ready
            and self.is_alive()
            and not self.held_partitions
            and not self.delivery_retrying
        )


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Access logs would drown the structured logs; Prometheus scrapes every few seconds."""


def _app(
    metrics_app: Callable[..., Iterable[bytes]], health: Health
) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path in ("/healthz", "/readyz"):
            ok = health.is_alive() if path == "/healthz" else health.is_ready()
            status = "200 OK" if ok else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n" if ok else b"not ok\n"]
        return metrics_app(environ, start_response)

    return app


class HttpEndpoint:
    """Serves /metrics, /healthz and /readyz from a daemon thread (prometheus-client's own server)."""

    def __init__(self, host: str, port: int, metrics: Metrics, health: Health) -> None:
        self._server = make_server(
            host,
            port,
            _app(make_wsgi_app(metrics.registry), health),
            ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-endpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# ---------------------------------------------------------------- logging


class _CurrentStderr:
    """Writes to whatever sys.stderr is now, not the stream that was current at configuration.

    Loggers are cached on first use; holding on to a replaced stream (a test runner's
    capture, a closed pipe) would make logging fail with "I/O operation on closed file".
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Configure structlog once: JSON lines for machines, a console renderer for people.

    Logs go to stderr so that `wire-ingest process` can keep stdout for its output.
    Libraries that log through the standard library (aiokafka, redis, asyncio) are
    rendered by the same processors, so with `json` every line on stderr is JSON.
    """
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, _CurrentStderr())),
        cache_logger_on_first_use=True,
    )
    # Standard-library records: the logger's name is kept, the rest reads like our own lines.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(cast(TextIO, _CurrentStderr()))
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    # Libraries' warnings and errors; their info lines would drown ours.
    root.setLevel(max(logging.WARNING, logging.getLevelName(level)))
