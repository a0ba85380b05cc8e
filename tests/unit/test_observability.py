"""The metrics/health endpoint: /metrics, /healthz and /readyz answer from the service's state."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import structlog
from prometheus_client import CollectorRegistry

from service.observability import Health, HttpEndpoint, Metrics, configure_logging


@pytest.fixture
def endpoint() -> Iterator[tuple[HttpEndpoint, Health, Metrics]]:
    metrics = Metrics(CollectorRegistry())
    health = Health()
    server = HttpEndpoint("127.0.0.1", 0, metrics, health)
    server.start()
    yield server, health, metrics
    server.stop()


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_health_follows_the_loop_heartbeat(endpoint: tuple[HttpEndpoint, Health, Metrics]) -> None:
    """/healthz is 503 until the consume loop beats, 200 after, and 503 again once the beat is stale."""
    server, health, _ = endpoint
    assert _get(server.port, "/healthz")[0] == 503
    health.heartbeat()
    assert _get(server.port, "/healthz") == (200, "ok\n")
    health.last_loop_heartbeat -= health.stale_after_seconds + 1
    assert _get(server.port, "/healthz")[0] == 503


def test_ready_needs_a_connection_and_partitions(endpoint: tuple[HttpEndpoint, Health, Metrics]) -> None:
    """/readyz is 200 only when connected with at least one partition assigned."""
    server, health, _ = endpoint
    health.heartbeat()
    assert _get(server.port, "/readyz")[0] == 503
    health.connected = True
    assert _get(server.port, "/readyz")[0] == 503
    health.assigned_partitions = 2
    assert _get(server.port, "/readyz")[0] == 200


def test_metrics_are_exposed_in_prometheus_format(endpoint: tuple[HttpEndpoint, Health, Metrics]) -> None:
    """/metrics serves the service's registry, counters with _total and the build info."""
    server, _, metrics = endpoint
    metrics.outcomes.labels("dead_letter", "malformed_xml").inc()
    status, body = _get(server.port, "/metrics")
    assert status == 200
    assert 'wire_ingest_outcomes_total{kind="dead_letter",reason="malformed_xml"} 1.0' in body
    assert "wire_ingest_build_info{" in body


def test_every_log_line_is_json_library_warnings_included(capsys: pytest.CaptureFixture[str]) -> None:
    """With log_format=json, aiokafka's (standard-library) warnings are JSON lines like ours."""
    configure_logging("INFO", "json")
    logging.getLogger("aiokafka.consumer.group_coordinator").warning("Heartbeat failed for group %s", "g1")
    logging.getLogger("aiokafka").info("too chatty to keep")
    structlog.get_logger("wire_ingest.test").info("ours", value=1)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert [line["event"] for line in lines] == ["Heartbeat failed for group g1", "ours"]
    assert lines[0]["logger"] == "aiokafka.consumer.group_coordinator"
    assert lines[0]["level"] == "warning"
    assert lines[1]["value"] == 1


def test_bound_children_count_into_the_labelled_series() -> None:
    """A child looked up once through Metrics.child counts into the same series as labels()."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    first = metrics.child(metrics.outcomes, "published", "new")
    assert metrics.child(metrics.outcomes, "published", "new") is first
    first.inc()
    metrics.outcomes.labels("published", "new").inc()
    value = registry.get_sample_value("wire_ingest_outcomes_total", {"kind": "published", "reason": "new"})
    assert value == 2
    assert metrics.child(metrics.outcomes, "duplicate", "new") is not first


def test_waiting_for_an_error_to_heal_is_alive_but_not_ready() -> None:
    """Held partitions or a delivery being retried: /healthz stays up (no restart), /readyz goes down."""
    health = Health(connected=True, assigned_partitions=3)
    health.heartbeat()
    assert health.is_ready()
    health.held_partitions = 1
    assert health.is_alive() and not health.is_ready()
    health.held_partitions = 0
    health.delivery_retrying = True
    assert health.is_alive() and not health.is_ready()


def test_not_ready_while_the_worker_processes_start() -> None:
    """Partitions assigned but the workers still loading: /readyz waits for them, /healthz is up."""
    health = Health(connected=True, assigned_partitions=3, workers_ready=False)
    health.heartbeat()
    assert health.is_alive() and not health.is_ready()
    health.workers_ready = True
    assert health.is_ready()
