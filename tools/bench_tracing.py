"""What tracing costs per record, off and on, against what the pipeline costs per record.

Times the calls the pipeline and shell make for one record (extract the upstream context,
a record span, four stage spans with attributes, a traceparent on two outbound messages,
the carrier back, a produce span) with tracing off (`NO_TRACING`) and on (a real SDK tracer
provider whose exporter drops the spans, so only the SDK's own work is measured), and the
pipeline's `process_raw` over the bundled samples (in-memory dedupe; after the first round
the items are redeliveries, the cheapest path, which makes the percentages an upper bound).
CPU time of this process, not wall time: the figures hold on a shared machine.

    .venv/bin/python tools/bench_tracing.py [--records 20000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from service.app import build_pipeline
from service.demo import sample_files
from service.models import RecordMeta
from service.observability import configure_logging
from service.settings import DedupeBackend, Settings, TracingSettings
from service.tracing import NO_TRACING, TRACEPARENT, Tracing, setup_tracing

UPSTREAM = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
HEADERS = (("source", b"Xinhua"), (TRACEPARENT, UPSTREAM))
OUTBOUND = (("content-type", b"application/json"), ("ce_id", b"x"))


class _Drop(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _one_record(tracing: Tracing) -> None:
    carrier = tracing.extract(HEADERS) or {}
    with tracing.span("record", parent=carrier, kind="consumer", source="Xinhua", format="ninjs") as record:
        for stage in ("parse", "normalize", "dedupe", "enrich"):
            with tracing.span(stage) as span:
                span.set(outcome="published", reason="new")
        tracing.inject(OUTBOUND)
        tracing.inject(OUTBOUND)
        back = tracing.carrier()
        record.set(outcome="published")
    with tracing.span("produce", parent=back, kind="producer"):
        pass


def _per_record_us(tracing: Tracing, records: int) -> float:
    started = time.process_time()
    for _ in range(records):
        _one_record(tracing)
    return (time.process_time() - started) / records * 1e6


async def _pipeline_per_record_us(rounds: int) -> float:
    settings = Settings()
    settings = settings.model_copy(
        update={"dedupe": settings.dedupe.model_copy(update={"backend": DedupeBackend.MEMORY})}
    )
    raws = [path.read_bytes() for path in sample_files()]
    async with build_pipeline(settings) as pipeline:
        started = time.process_time()
        for round_ in range(rounds):
            for offset, raw in enumerate(raws):
                meta = RecordMeta(
                    topic="bench",
                    partition=0,
                    offset=round_ * len(raws) + offset,
                    timestamp=datetime.now(UTC),
                )
                await pipeline.process_raw(raw, meta)
        return (time.process_time() - started) / (rounds * len(raws)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    configure_logging("ERROR", "console")  # not the malformed sample's dead-letter warning per round
    on = setup_tracing(TracingSettings(enabled=True), _Drop())
    _per_record_us(NO_TRACING, 1000)  # warm up
    _per_record_us(on, 1000)
    off_us = min(_per_record_us(NO_TRACING, args.records) for _ in range(3))
    on_us = min(_per_record_us(on, args.records) for _ in range(3))
    pipeline_us = asyncio.run(_pipeline_per_record_us(args.rounds))
    print(f"pipeline.process_raw: {pipeline_us:9.1f} us/record (samples, in-memory dedupe)")
    print(f"tracing off:          {off_us:9.2f} us/record  = {off_us / pipeline_us:.3%} of the pipeline")
    print(f"tracing on (SDK):     {on_us:9.2f} us/record  = {on_us / pipeline_us:.2%} of the pipeline")
    on.shutdown()


if __name__ == "__main__":
    main()
