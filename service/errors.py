"""One root exception and one list of stable dead-letter reason codes.

Every permanent failure of a record ends on the dead-letter topic with one of
these codes. The codes are part of the contract with operators (dashboards,
alerts and `wire-ingest dlq` filter on them): add new ones, never rename.
"""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    """Machine-readable reason why a raw item could not be published."""

    UNSUPPORTED_FORMAT = "unsupported_format"
    MALFORMED_JSON = "malformed_json"
    MALFORMED_XML = "malformed_xml"
    FORBIDDEN_XML = "forbidden_xml"  # DTDs, entity expansion, external entities
    INVALID_ENCODING = "invalid_encoding"
    OVERSIZE = "oversize"
    TOO_COMPLEX = "too_complex"  # e.g. HTML with more tags than any article page has
    EMPTY_ITEM = "empty_item"  # no headline and no body
    WRONG_TYPE = "wrong_type"  # JSON field of the wrong type
    INVALID_DATE = "invalid_date"
    INVALID_ENVELOPE = "invalid_envelope"
    SCHEMA_VIOLATION = "schema_violation"  # output failed its own model validation
    DEDUPE_UNAVAILABLE = "dedupe_unavailable"
    # Per-record budgets (issue 11): one record never costs more than itself.
    PROCESSING_TIMEOUT = "processing_timeout"  # a worker ran past pipeline.record_timeout_seconds
    TOO_LARGE = "too_large"  # processing needed more memory than pipeline.worker_memory_mb
    TOO_MANY_ITEMS = "too_many_items"  # items past pipeline.max_items_per_record were not processed
    OUTPUT_TOO_LARGE = "output_too_large"  # an event would exceed pipeline.max_message_bytes
    WORKER_CRASHED = "worker_crashed"  # the worker process died on this record twice
    INTERNAL_ERROR = "internal_error"  # a bug: any exception we did not foresee
    NOT_AN_ARTICLE = "not_an_article"  # packages, link-only wrappers, attachments: no story of their own
    NON_TEXT_ITEM = "non_text_item"  # a picture, video, audio or graphic item: no story text to publish
    LINKS_ONLY = "links_only"  # an API wrapper whose item only links to its text (AP Media API renditions)


class WireIngestError(Exception):
    """Root of every error this service raises on purpose."""


class RecordError(WireIngestError):
    """A single record cannot be processed; it goes to the dead-letter topic."""

    def __init__(self, reason: ReasonCode, message: str, *, item_index: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.item_index = item_index

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason.value!r}, {self.message!r})"

    def __reduce__(self) -> tuple[object, ...]:
        # Failures travel from worker processes in pickles; the default would pass only `message`.
        return (type(self), (self.reason, self.message), {"item_index": self.item_index})


class ParseError(RecordError):
    """The raw bytes are not a wire item we can read."""


class NormalizeError(RecordError):
    """The item was read but cannot become a valid canonical article."""


class ConfigError(WireIngestError):
    """Settings or a data file (e.g. the leader registry) are invalid."""


class StoreUnavailableError(WireIngestError):
    """A shared store (e.g. Redis) cannot be reached; retriable, never a dead letter by itself."""


class WorkerLostError(WireIngestError):
    """A worker process died or was killed while it held a record (see `service.workers`)."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class MissingExtraError(WireIngestError):
    """A command needs a package from an optional extra that is not installed (e.g. `demo`)."""
