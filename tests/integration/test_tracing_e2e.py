"""Tracing on a real broker: a raw record's W3C trace is continued through every stage and
handed on to downstream consumers in each output message's `traceparent` header.

The spans land in the SDK's in-memory exporter. With `pipeline.workers=0` every span is made
in this process; with a worker, the record and stage spans are made (and exported) in the
worker, and the shell's spans show that the context crossed the process boundary.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from service.app import run_service
from service.observability import Metrics
from service.settings import Settings, TracingSettings
from service.shell import RunLimits
from service.tracing import setup_tracing
from tests.conftest import SAMPLES, Broker
from tests.integration.kafka_helpers import create, read_all, settings_for

pytestmark = pytest.mark.integration

SEED = SAMPLES / "xinhua_xi_aliyev_samarkand.txt"
UPSTREAM_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
UPSTREAM_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{UPSTREAM_TRACE}-{UPSTREAM_SPAN}-01"


async def _run_traced(settings: Settings) -> InMemorySpanExporter:
    await create(settings)
    producer = AIOKafkaProducer(**settings.kafka.client_kwargs())
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topics.raw, SEED.read_bytes(), key=b"k", headers=[("traceparent", TRACEPARENT.encode())]
        )
    finally:
        await producer.stop()
    exporter = InMemorySpanExporter()
    tracing = setup_tracing(TracingSettings(enabled=True), exporter=exporter)
    await run_service(
        settings,
        limits=RunLimits(max_records=1),
        metrics=Metrics(CollectorRegistry()),
        serve_http=False,
        install_signal_handlers=False,
        tracing=tracing,
    )
    tracing.shutdown()
    return exporter


def _traceparent(record: object) -> str:
    return dict(record.headers)["traceparent"].decode()  # type: ignore[attr-defined]


async def test_a_raw_records_trace_runs_through_every_stage_to_the_outputs(
    kafka: Broker, unique: str, tmp_path: Path
) -> None:
    """In process: record span continues the upstream trace, a child per stage, outputs carry it on."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path, pipeline={"workers": 0})
    exporter = await _run_traced(settings)
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert {"record", "parse", "normalize", "fingerprint", "enrich", "dedupe", "produce"} <= set(spans)
    assert {span.context.trace_id for span in spans.values()} == {int(UPSTREAM_TRACE, 16)}
    record = spans["record"]
    assert record.parent is not None and record.parent.span_id == int(UPSTREAM_SPAN, 16)
    for stage in ("parse", "normalize", "fingerprint", "enrich", "dedupe", "produce"):
        assert spans[stage].parent is not None and spans[stage].parent.span_id == record.context.span_id, (
            stage
        )
    assert spans["dedupe"].attributes["wire_ingest.outcome"] == "published"
    assert spans["record"].attributes["wire_ingest.source"] == "Xinhua"

    for topic in (settings.topics.canonical, settings.topics.enriched):
        [message] = await read_all(settings, topic, expected=1)
        _, trace_id, parent_span, _ = _traceparent(message).split("-")
        # A downstream consumer extracting this joins the same trace, under our dedupe span.
        assert trace_id == UPSTREAM_TRACE
        assert int(parent_span, 16) == spans["dedupe"].context.span_id


async def test_the_trace_crosses_into_the_worker_and_back(kafka: Broker, unique: str, tmp_path: Path) -> None:
    """With a worker, the shell's spans hang under the record span the worker made, in the upstream trace."""
    settings = settings_for(
        kafka.bootstrap_servers,
        unique,
        tmp_path,
        pipeline={"workers": 1},
        # The worker sets up its own exporter from the settings; console keeps it off the network.
        tracing={"enabled": True, "exporter": "console"},
    )
    exporter = await _run_traced(settings)
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert {"dedupe", "produce"} <= set(spans)
    assert "parse" not in spans  # made in the worker, exported there
    record_span_id = spans["dedupe"].parent.span_id  # type: ignore[union-attr]
    assert spans["dedupe"].context.trace_id == int(UPSTREAM_TRACE, 16)
    assert record_span_id not in (0, int(UPSTREAM_SPAN, 16))  # a span made in the worker
    assert spans["produce"].parent.span_id == record_span_id  # type: ignore[union-attr]
    [message] = await read_all(settings, settings.topics.canonical, expected=1)
    assert _traceparent(message).split("-")[1] == UPSTREAM_TRACE
