"""Generate `schemas/` from the models: JSON Schemas per topic value and an AsyncAPI 3.0 document.

Run `make schemas` (python -m service.schema_export) after changing a model;
`tests/unit/test_schemas.py` fails while the committed files differ.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .models import SCHEMA_VERSION, CanonicalArticle, DeadLetter, EnrichedArticle, Envelope
from .route import CE_SOURCE_ENRICH, CE_SOURCE_INGEST, CE_SPECVERSION, CE_TYPES
from .settings import TopicSettings

SCHEMA_FILES: dict[str, type[BaseModel]] = {
    "canonical-article.schema.json": CanonicalArticle,
    "enriched-article.schema.json": EnrichedArticle,
    "dead-letter.schema.json": DeadLetter,
    "envelope.schema.json": Envelope,
}

_COMMON_HEADERS: dict[str, dict[str, Any]] = {
    "content-type": {"type": "string", "const": "application/json"},
    "schema-version": {"type": "string", "description": "Version of the value's schema (major.minor)."},
    "event-type": {"type": "string", "enum": ["canonical", "duplicate", "enriched", "dead_letter"]},
    "event-id": {"type": "string", "description": "The event_id of the value (absent on dead letters)."},
    "source": {"type": "string", "description": "The agency or feed the item came from."},
    # CloudEvents 1.0, Kafka protocol binding, binary content mode (content-type above is the
    # event's datacontenttype; the value is its data).
    "ce_specversion": {"type": "string", "const": CE_SPECVERSION},
    "ce_id": {"type": "string", "description": "CloudEvents id: the event_id (dead letters: below)."},
    "ce_source": {"type": "string", "description": "CloudEvents source: the stage that produced the event."},
    "ce_type": {"type": "string", "description": "CloudEvents type, one per event kind."},
    "ce_time": {
        "type": "string",
        "format": "date-time",
        "description": "CloudEvents time: versioncreated (dead letters: the raw record's timestamp).",
    },
    "ce_subject": {"type": "string", "description": "CloudEvents subject: the story_id."},
    "traceparent": {
        "type": "string",
        "description": "W3C Trace Context of the span that produced the message (only with tracing on).",
    },
}
_REQUIRED_HEADERS = ["content-type", "schema-version", "event-type", "ce_specversion", "ce_id", "ce_source"]


def _cloud_event(kind: str, source: str, **overrides: dict[str, Any]) -> dict[str, Any]:
    """The ce_* headers that are fixed for one kind of message."""
    return {
        "event-type": {"type": "string", "const": kind},
        "ce_type": {**_COMMON_HEADERS["ce_type"], "const": CE_TYPES[kind]},
        "ce_source": {**_COMMON_HEADERS["ce_source"], "const": source},
        **overrides,
    }


def _json_schema(model: type[BaseModel], filename: str) -> dict[str, Any]:
    schema = model.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": filename,
        "x-schema-version": SCHEMA_VERSION,
        **schema,
    }


def _channel(topic: str, message: str, description: str) -> dict[str, Any]:
    return {
        "address": topic,
        "description": description,
        "messages": {message: {"$ref": f"#/components/messages/{message}"}},
    }


def _asyncapi() -> dict[str, Any]:
    topics = TopicSettings()
    story_key = {"type": "string", "description": "story_id: all versions of a story share one partition."}
    raw_key = {"type": "string", "description": "As the producer of the raw item chose it (may be absent)."}

    def message(
        name: str, schema_file: str | None, summary: str, extra_headers: dict[str, Any]
    ) -> dict[str, Any]:
        payload: dict[str, Any] = (
            {"$ref": f"./{schema_file}"}
            if schema_file
            else {
                "type": "string",
                "format": "binary",
                "description": "Raw wire bytes in any supported format.",
            }
        )
        headers: dict[str, Any] = {"type": "object", "properties": {**_COMMON_HEADERS, **extra_headers}}
        if schema_file:
            headers["required"] = [*_REQUIRED_HEADERS, "ce_type"]
        return {
            "name": name,
            "summary": summary,
            "contentType": "application/json" if schema_file else "application/octet-stream",
            "headers": headers,
            "payload": payload,
            "bindings": {"kafka": {"key": raw_key if name in ("RawWireItem", "DeadLetter") else story_key}},
        }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "wire-ingest",
            "version": SCHEMA_VERSION,
            "description": (
                "Raw news wire items in; canonical, enriched, duplicate and dead-letter events out. "
                "Topic names are the defaults; every one is configurable (WIRE_INGEST_TOPICS__*)."
            ),
        },
        "defaultContentType": "application/json",
        "channels": {
            "raw": _channel(
                topics.raw, "RawWireItem", "Raw wire items: ninjs, NewsML-G2, NITF, RSS/Atom, pages."
            ),
            "canonical": _channel(
                topics.canonical, "CanonicalArticle", "New stories, updates/corrections and kills."
            ),
            "enriched": _channel(
                topics.enriched, "EnrichedArticle", "Canonical articles with countries and leaders."
            ),
            "duplicates": _channel(
                topics.duplicates, "DuplicateArticle", "Redeliveries, stale versions and near-duplicates."
            ),
            "dlq": _channel(
                topics.dlq, "DeadLetter", "Items that could not be published, with reason and bytes."
            ),
        },
        "operations": {
            "consumeRaw": {"action": "receive", "channel": {"$ref": "#/channels/raw"}},
            **{
                f"publish{name.capitalize()}": {"action": "send", "channel": {"$ref": f"#/channels/{name}"}}
                for name in ("canonical", "enriched", "duplicates", "dlq")
            },
        },
        "components": {
            "messages": {
                "RawWireItem": message(
                    "RawWireItem",
                    None,
                    "Input: one raw wire item (or a feed/newsMessage with several).",
                    {
                        "source": {"type": "string", "description": "Optional: selects a per-source parser."},
                        "wire-ingest-redriven": {"type": "string", "description": "Set by `dlq redrive`."},
                    },
                ),
                "CanonicalArticle": message(
                    "CanonicalArticle",
                    "canonical-article.schema.json",
                    "A normalized article event.",
                    _cloud_event("canonical", CE_SOURCE_INGEST),
                ),
                "EnrichedArticle": message(
                    "EnrichedArticle",
                    "enriched-article.schema.json",
                    "An enriched article event.",
                    _cloud_event("enriched", CE_SOURCE_ENRICH),
                ),
                "DuplicateArticle": message(
                    "DuplicateArticle",
                    "canonical-article.schema.json",
                    "A canonical article whose dedupe.relation is redelivery, stale or near_duplicate.",
                    _cloud_event("duplicate", CE_SOURCE_INGEST),
                ),
                "DeadLetter": message(
                    "DeadLetter",
                    "dead-letter.schema.json",
                    "A raw record that could not be published.",
                    {
                        "dlq-reason": {"type": "string", "description": "Stable reason code (ReasonCode)."},
                        "dlq-stage": {"type": "string"},
                        **_cloud_event(
                            "dead_letter",
                            CE_SOURCE_INGEST,
                            ce_source={
                                **_COMMON_HEADERS["ce_source"],
                                "enum": [CE_SOURCE_INGEST, CE_SOURCE_ENRICH],
                            },
                            ce_id={
                                "type": "string",
                                "description": (
                                    "The raw record's topic/partition/offset, plus /item_index for one "
                                    "item of a multi-item document: stable across redeliveries."
                                ),
                            },
                            ce_subject={"type": "string", "description": "The raw record's coordinates."},
                        ),
                    },
                ),
            }
        },
    }


def render_schemas() -> dict[str, str]:
    """File name -> file content for everything under schemas/ that is generated."""
    rendered = {
        filename: json.dumps(_json_schema(model, filename), indent=2, sort_keys=True) + "\n"
        for filename, model in SCHEMA_FILES.items()
    }
    rendered["asyncapi.json"] = json.dumps(_asyncapi(), indent=2) + "\n"
    return rendered


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("schemas")
    target.mkdir(parents=True, exist_ok=True)
    for filename, content in render_schemas().items():
        (target / filename).write_text(content, encoding="utf-8")
        print(f"wrote {target / filename}")


if __name__ == "__main__":
    main()
