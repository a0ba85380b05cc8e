"""OpenTelemetry tracing: one span per record, a child span per stage, W3C context in and out.

A raw record that carries a W3C `traceparent` header continues that trace (its span is a
child of the upstream producer's span); otherwise the record starts a new trace. Every
message published for the record carries the `traceparent` of the span that produced it,
so a downstream service that extracts it joins the same trace.

Off by default (`tracing.enabled`): `setup_tracing` then returns `NO_TRACING`, whose methods
do nothing and return shared objects, and the OpenTelemetry packages are not even imported.

Across a process boundary the context travels as a `Carrier`, a small dict of the W3C
headers (`traceparent`, `tracestate`): `extract()` it from the raw record in the consuming
process, send it with the record to the worker, open the record span there with
`span(..., parent=carrier)`; send `carrier()` back with the results to parent the produce
span. Each process calls `setup_tracing` itself (the SDK's export thread does not survive a
fork).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Final, Literal, Protocol

from .settings import TracingSettings

if TYPE_CHECKING:  # only with tracing on is OpenTelemetry imported
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
# Longer values are not W3C trace context (traceparent is 55 characters, tracestate at most
# 32 members of 256); a hostile header is dropped instead of parsed.
_MAX_HEADER_BYTES: Final = 8192
INSTRUMENTATION_NAME: Final = "wire-ingest"
ATTRIBUTE_PREFIX: Final = "wire_ingest."
Carrier = dict[str, str]
SpanKind = Literal["internal", "consumer", "producer"]


class SpanScope(Protocol):
    """What the code inside a span sees: a way to add attributes as it learns them."""

    def set(self, **attributes: object) -> None: ...


class _NoSpan:
    """The span handle when tracing is off: a shared, stateless no-op."""

    __slots__ = ()

    def set(self, **attributes: object) -> None:
        return None

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


_NO_SPAN: Final = _NoSpan()


class Tracing:
    """Tracing turned off; also the interface `ActiveTracing` implements."""

    enabled: bool = False

    def extract(self, headers: Iterable[tuple[str, bytes]]) -> Carrier | None:
        """The W3C trace context of a raw record's headers, to carry with the record."""
        return None

    def span(
        self, name: str, *, parent: Carrier | None = None, kind: SpanKind = "internal", **attributes: object
    ) -> AbstractContextManager[SpanScope]:
        """A context manager for one span, a child of a carried `parent` or else of the current span.

        An empty carrier (`{}`) starts a new trace whatever span is current: the record span
        takes `extract(headers) or {}`.

        Attributes (also `set()` on the span) named without a dot get the `wire_ingest.`
        prefix: source, format, outcome, reason; None values are left out.
        """
        return _NO_SPAN

    def carrier(self) -> Carrier | None:
        """The current span's context as W3C headers, to send to another process."""
        return None

    def inject(self, headers: tuple[tuple[str, bytes], ...]) -> tuple[tuple[str, bytes], ...]:
        """`headers` plus the current span's `traceparent` (and `tracestate`)."""
        return headers

    def shutdown(self) -> None:
        """Export what is buffered and stop the exporter."""


NO_TRACING: Final = Tracing()


def _attributes(attributes: dict[str, object]) -> dict[str, str | bool | int | float]:
    """Span attributes: a name without a dot gets the `wire_ingest.` prefix; None values are left out."""
    return {
        (name if "." in name else ATTRIBUTE_PREFIX + name): (
            value if isinstance(value, str | bool | int | float) else str(value)
        )
        for name, value in attributes.items()
        if value is not None
    }


class SpanHandle:
    """One open span: `set(outcome=..., reason=...)` adds attributes as the stage learns them."""

    __slots__ = ("_span",)

    def __init__(self, span: Span) -> None:
        self._span = span

    def set(self, **attributes: object) -> None:
        """Add attributes (named as for `Tracing.span`).

        A dead-letter outcome also marks the span as an error, so trace views flag it.
        """
        self._span.set_attributes(_attributes(attributes))
        if attributes.get("outcome") == "dead_letter":
            from opentelemetry.trace import Status, StatusCode  # noqa: PLC0415 - loaded already when on

            self._span.set_status(Status(StatusCode.ERROR, str(attributes.get("reason") or "dead_letter")))


class ActiveTracing(Tracing):
    """Tracing turned on: spans through an SDK tracer provider of its own (not the global one)."""

    enabled = True

    def __init__(self, provider: TracerProvider) -> None:
        from opentelemetry.trace.propagation.tracecontext import (  # noqa: PLC0415
            TraceContextTextMapPropagator,
        )

        self._provider = provider
        self._tracer: Tracer = provider.get_tracer(INSTRUMENTATION_NAME)
        self._propagator = TraceContextTextMapPropagator()

    def extract(self, headers: Iterable[tuple[str, bytes]]) -> Carrier | None:
        carrier: Carrier = {}
        for name, value in headers:
            key = name.lower()
            if key in (TRACEPARENT, TRACESTATE) and len(value) <= _MAX_HEADER_BYTES:
                carrier[key] = value.decode("ascii", "replace")
        return carrier if TRACEPARENT in carrier else None

    @contextmanager
    def _span(
        self, name: str, parent: Carrier | None, kind: SpanKind, attributes: dict[str, object]
    ) -> Iterator[SpanHandle]:
        from opentelemetry.trace import SpanKind as OtelKind  # noqa: PLC0415

        # An invalid traceparent extracts to an empty context: the record starts a new trace.
        context = self._propagator.extract(parent) if parent is not None else None
        with self._tracer.start_as_current_span(
            name,
            context=context,
            kind=OtelKind[kind.upper()],
            attributes=_attributes(attributes),
        ) as span:
            handle = SpanHandle(span)
            if attributes.get("outcome") == "dead_letter":
                handle.set(outcome="dead_letter", reason=attributes.get("reason"))
            yield handle

    def span(
        self, name: str, *, parent: Carrier | None = None, kind: SpanKind = "internal", **attributes: object
    ) -> AbstractContextManager[SpanScope]:
        return self._span(name, parent, kind, attributes)

    def carrier(self) -> Carrier | None:
        carrier: Carrier = {}
        self._propagator.inject(carrier)
        return carrier or None

    def inject(self, headers: tuple[tuple[str, bytes], ...]) -> tuple[tuple[str, bytes], ...]:
        carrier = self.carrier()
        if not carrier:
            return headers
        kept = tuple((name, value) for name, value in headers if name not in (TRACEPARENT, TRACESTATE))
        return kept + tuple((name, value.encode("ascii")) for name, value in carrier.items())

    def shutdown(self) -> None:
        self._provider.shutdown()


def setup_tracing(settings: TracingSettings, exporter: SpanExporter | None = None) -> Tracing:
    """`NO_TRACING` when off; else a tracer provider exporting to `exporter` or the configured one.

    A given exporter (tests: the SDK's InMemorySpanExporter) gets every span synchronously;
    the configured OTLP or console exporter gets them in batches from a background thread.
    """
    if not settings.enabled:
        return NO_TRACING
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415 - only when tracing is on
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased  # noqa: PLC0415

    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.service_name}),
        sampler=ParentBased(TraceIdRatioBased(settings.sampler_ratio)),
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif settings.exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
    return ActiveTracing(provider)
