"""`wire-ingest process`: the pipeline's code path offline, from files to JSON lines.

Each file is one raw item (bytes as they are; `-` reads one item from
stdin). The items share one in-memory dedupe state, in the order given. Every
message the service would publish is written to stdout as one JSON object:
`{"topic": ..., "key": ..., "headers": {...}, "value": <the event as JSON>}`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from .app import build_pipeline
from .models import RecordMeta
from .route import Outbound
from .settings import DedupeBackend, Settings

FILE_TOPIC = "file"


def outbound_as_json(message: Outbound) -> dict[str, Any]:
    return {
        "topic": message.topic,
        "key": message.key.decode("utf-8", "replace") if message.key is not None else None,
        "headers": {name: value.decode("utf-8", "replace") for name, value in message.headers},
        "value": orjson.loads(message.value),
    }


def _read(path: str) -> tuple[bytes, datetime]:
    if path == "-":
        return sys.stdin.buffer.read(), datetime.now(UTC)
    file = Path(path)
    return file.read_bytes(), datetime.fromtimestamp(file.stat().st_mtime, tz=UTC)


async def process_files(paths: Iterable[str], settings: Settings, out: IO[bytes]) -> int:
    """Run every file through the pipeline; returns how many messages were written."""
    # One file at a time in this process: a worker pool would only add its start-up time.
    settings = settings.model_copy(
        update={
            "dedupe": settings.dedupe.model_copy(update={"backend": DedupeBackend.MEMORY}),
            "pipeline": settings.pipeline.model_copy(update={"workers": 0}),
        }
    )
    written = 0
    async with build_pipeline(settings) as pipeline:
        for offset, path in enumerate(paths):
            raw, timestamp = _read(path)
            record = RecordMeta(
                topic=FILE_TOPIC,
                partition=0,
                offset=offset,
                timestamp=timestamp,
                key=None,
                headers=(("file", Path(path).name.encode()),) if path != "-" else (),
            )
            result = await pipeline.process_raw(raw, record)
            for message in result.outbound:
                out.write(orjson.dumps(outbound_as_json(message)) + b"\n")
                written += 1
    out.flush()
    return written
