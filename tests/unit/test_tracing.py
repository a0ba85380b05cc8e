"""service/tracing.py with the SDK's in-memory exporter: W3C context in, spans per stage, context out."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from service.settings import Settings, TracingSettings
from service.tracing import NO_TRACING, TRACEPARENT, Carrier, Tracing, setup_tracing

UPSTREAM_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
UPSTREAM_SPAN = "00f067aa0ba902b7"
UPSTREAM = f"00-{UPSTREAM_TRACE}-{UPSTREAM_SPAN}-01"
ON = TracingSettings(enabled=True)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracing(exporter: InMemorySpanExporter) -> Tracing:
    return setup_tracing(ON, exporter)


def _hex(value: int, width: int) -> str:
    return f"{value:0{width}x}"


def _trace_record(tracing: Tracing, headers: tuple[tuple[str, bytes], ...]) -> tuple[tuple[str, bytes], ...]:
    """What the pipeline will do for one record: a record span, stage spans, headers out."""
    carrier = tracing.extract(headers) or {}
    with tracing.span("record", parent=carrier, kind="consumer", source="Xinhua") as record:
        with tracing.span("parse", format="ninjs"):
            pass
        with tracing.span("dedupe") as dedupe:
            dedupe.set(outcome="published", reason="new")
        outbound = tracing.inject((("content-type", b"application/json"),))
        record.set(outcome="published")
    return outbound


def test_off_by_default_and_then_a_no_op(exporter: InMemorySpanExporter) -> None:
    """Default settings give NO_TRACING: no context read, one shared no-op span, headers untouched."""
    assert Settings().tracing.enabled is False
    tracing = setup_tracing(Settings().tracing, exporter)
    assert tracing is NO_TRACING
    headers = ((TRACEPARENT, UPSTREAM.encode()),)
    assert tracing.extract(headers) is None
    assert tracing.span("parse") is tracing.span("dedupe", outcome="x")
    assert tracing.inject(headers) is headers
    assert tracing.carrier() is None
    _trace_record(tracing, headers)
    assert exporter.get_finished_spans() == ()


def test_off_does_not_import_opentelemetry() -> None:
    """With tracing off, the OpenTelemetry packages are never imported (start-up and memory)."""
    code = (
        "import sys; from service.settings import TracingSettings; from service import tracing; "
        "t = tracing.setup_tracing(TracingSettings()); "
        "t.span('parse').__enter__().set(outcome='x'); t.extract([('traceparent', b'x')]); "
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_upstream_traceparent_is_continued_not_restarted(
    tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    """The record span is a child of the raw record's traceparent; stage spans are children of it."""
    _trace_record(tracing, (("source", b"x"), (TRACEPARENT, UPSTREAM.encode())))
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"record", "parse", "dedupe"}
    record = spans["record"]
    assert _hex(record.context.trace_id, 32) == UPSTREAM_TRACE
    assert record.parent is not None and _hex(record.parent.span_id, 16) == UPSTREAM_SPAN
    assert record.parent.is_remote
    assert record.kind is SpanKind.CONSUMER
    for stage in ("parse", "dedupe"):
        assert spans[stage].context.trace_id == record.context.trace_id
        assert spans[stage].parent is not None and spans[stage].parent.span_id == record.context.span_id


def test_stage_attributes(tracing: Tracing, exporter: InMemorySpanExporter) -> None:
    """source, format, outcome and reason land as wire_ingest.* attributes on their spans."""
    _trace_record(tracing, ())
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert spans["record"].attributes == {"wire_ingest.source": "Xinhua", "wire_ingest.outcome": "published"}
    assert spans["parse"].attributes == {"wire_ingest.format": "ninjs"}
    assert spans["dedupe"].attributes == {"wire_ingest.outcome": "published", "wire_ingest.reason": "new"}


def test_without_traceparent_a_record_starts_a_trace(
    tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    """No header: the record span is a root."""
    _trace_record(tracing, (("source", b"x"),))
    record = next(span for span in exporter.get_finished_spans() if span.name == "record")
    assert record.parent is None


def test_empty_carrier_starts_a_trace_inside_another_span(
    tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    """`parent={}` (a record without traceparent) is a root even when a span is current; None is a child."""
    with tracing.span("batch"):
        with tracing.span("record", parent={}):
            pass
        with tracing.span("child"):
            pass
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert spans["record"].parent is None
    assert spans["child"].parent is not None
    assert spans["child"].parent.span_id == spans["batch"].context.span_id


@pytest.mark.parametrize(
    "value",
    [b"garbage", b"00-" + b"0" * 32 + b"-" + b"0" * 16 + b"-01", b"\xff\xfe", b"00-" + b"a" * 9000],
    ids=["garbage", "all-zero ids", "not ascii", "oversized"],
)
def test_bad_traceparent_starts_a_new_trace(
    tracing: Tracing, exporter: InMemorySpanExporter, value: bytes
) -> None:
    """A malformed upstream header never fails the record: its span starts a new trace."""
    outbound = _trace_record(tracing, ((TRACEPARENT, value),))
    record = next(span for span in exporter.get_finished_spans() if span.name == "record")
    assert record.parent is None
    assert dict(outbound)[TRACEPARENT] != value


def test_outbound_traceparent_lets_a_downstream_join(
    tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    """The injected traceparent names the span that produced the message; a consumer's span links to it."""
    outbound = _trace_record(tracing, ((TRACEPARENT, UPSTREAM.encode()),))
    assert dict(outbound)["content-type"] == b"application/json"
    record = next(span for span in exporter.get_finished_spans() if span.name == "record")
    version, trace_id, span_id, flags = dict(outbound)[TRACEPARENT].decode().split("-")
    assert (version, trace_id, flags) == ("00", UPSTREAM_TRACE, "01")
    assert span_id == _hex(record.context.span_id, 16)

    downstream_spans = InMemorySpanExporter()
    downstream = setup_tracing(TracingSettings(enabled=True, service_name="downstream"), downstream_spans)
    with downstream.span("consume", parent=downstream.extract(outbound), kind="consumer"):
        pass
    [joined] = downstream_spans.get_finished_spans()
    assert _hex(joined.context.trace_id, 32) == UPSTREAM_TRACE
    assert joined.parent is not None and joined.parent.span_id == record.context.span_id
    assert joined.resource.attributes["service.name"] == "downstream"


def test_inject_replaces_a_traceparent_already_there(tracing: Tracing) -> None:
    """A message built from a record that carried one gets ours, not two."""
    with tracing.span("record"):
        headers = tracing.inject(((TRACEPARENT, UPSTREAM.encode()), ("a", b"1")))
    assert [name for name, _ in headers].count(TRACEPARENT) == 1
    assert dict(headers)[TRACEPARENT] != UPSTREAM.encode()


def test_dead_letter_outcome_marks_the_span_as_an_error(
    tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    """A record that ends on the DLQ shows as an error with its reason, whether set at start or later."""
    with tracing.span("parse", outcome="dead_letter", reason="malformed_xml"):
        pass
    with tracing.span("enrich") as enrich:
        enrich.set(outcome="dead_letter", reason="internal_error")
    parse, enrich_span = exporter.get_finished_spans()
    assert parse.status.status_code is StatusCode.ERROR
    assert parse.status.description == "malformed_xml"
    assert enrich_span.status.description == "internal_error"


def test_sampler_ratio_zero_keeps_only_traces_sampled_upstream(exporter: InMemorySpanExporter) -> None:
    """Ratio 0 records no new trace, but a record whose upstream trace is sampled is still traced."""
    tracing = setup_tracing(TracingSettings(enabled=True, sampler_ratio=0.0), exporter)
    outbound = _trace_record(tracing, ())
    assert exporter.get_finished_spans() == ()
    flags = int(dict(outbound)[TRACEPARENT].decode().rsplit("-", 1)[1], 16)
    assert flags & 1 == 0  # still propagated, with the sampled flag clear
    _trace_record(tracing, ((TRACEPARENT, UPSTREAM.encode()),))
    assert len(exporter.get_finished_spans()) == 3


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """One variable turns tracing on; the OTLP endpoint and sampler are settings too."""
    monkeypatch.setenv("WIRE_INGEST_TRACING__ENABLED", "true")
    monkeypatch.setenv("WIRE_INGEST_TRACING__OTLP_ENDPOINT", "http://jaeger:4318/v1/traces")
    monkeypatch.setenv("WIRE_INGEST_TRACING__SAMPLER_RATIO", "0.25")
    settings = Settings().tracing
    assert (settings.enabled, settings.otlp_endpoint, settings.sampler_ratio) == (
        True,
        "http://jaeger:4318/v1/traces",
        0.25,
    )
    monkeypatch.setenv("WIRE_INGEST_TRACING__SAMPLER_RATIO", "1.5")
    with pytest.raises(ValueError, match="less than or equal to 1"):
        Settings()


def test_configured_otlp_exporter_posts_spans_to_the_endpoint() -> None:
    """Without a test exporter, spans go over OTLP/HTTP (protobuf) to `otlp_endpoint` on shutdown."""
    received: list[tuple[str, str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}/v1/traces"
        tracing = setup_tracing(TracingSettings(enabled=True, otlp_endpoint=endpoint))
        with tracing.span("record", source="Xinhua"):
            pass
        tracing.shutdown()  # flushes the batch
    finally:
        server.shutdown()
        thread.join()
    [(path, content_type, body)] = received
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    assert b"wire_ingest.source" in body and b"Xinhua" in body


# ---------------------------------------------------------------- across a process boundary


def _worker(carrier: Carrier) -> tuple[str, str, Carrier | None]:
    """A worker process: its own setup, the record span parented on the carried context."""
    exporter = InMemorySpanExporter()
    tracing = setup_tracing(ON, exporter)
    with tracing.span("record", parent=carrier, kind="consumer"):
        back = tracing.carrier()
    [span] = exporter.get_finished_spans()
    assert span.parent is not None
    return _hex(span.context.trace_id, 32), _hex(span.parent.span_id, 16), back


def test_context_crosses_a_process_boundary_as_a_carrier(
    tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    """Extract in the consumer, trace the record in a spawned worker, parent produce on its carrier."""
    carrier = tracing.extract(((TRACEPARENT, UPSTREAM.encode()),))
    assert carrier == {TRACEPARENT: UPSTREAM}
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        trace_id, parent_id, back = pool.apply(_worker, (carrier,))
    assert (trace_id, parent_id) == (UPSTREAM_TRACE, UPSTREAM_SPAN)
    assert back is not None
    with tracing.span("produce", parent=back, kind="producer"):
        pass
    [produce] = exporter.get_finished_spans()
    assert _hex(produce.context.trace_id, 32) == UPSTREAM_TRACE
    assert produce.parent is not None
    assert _hex(produce.parent.span_id, 16) == back[TRACEPARENT].split("-")[2]
