"""Deduplication: redeliveries, versions, kills and near-duplicates across feeds.

`open_deduplicator(settings)` picks the state backend (memory, SQLite file or
Redis); `Deduplicator.decide(article)` returns the article with its story,
links and the reason for the decision, and records that decision.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..settings import DedupeBackend, DedupeSettings
from .deduplicator import Deduplicator
from .memory import MemoryStore
from .sqlite import SqliteStore
from .store import DedupeStore

if TYPE_CHECKING:
    from .redis_store import RedisStore

_DAY = 86_400.0


async def open_store(settings: DedupeSettings) -> DedupeStore:
    window = settings.window_days * _DAY
    if settings.backend is DedupeBackend.MEMORY:
        return MemoryStore(window_seconds=window, max_stories=settings.max_stories)
    if settings.backend is DedupeBackend.SQLITE:
        # Loading the band index of a large file takes seconds: not on the event loop.
        return await asyncio.to_thread(SqliteStore.open, settings)
    # Imported only for this backend: redis (and the OpenTelemetry SDK it pulls in) took ~0.1 s
    # of every start-up, on the path to joining the consumer group and to starting the workers.
    from .redis_store import RedisStore  # noqa: PLC0415

    return await RedisStore.open(settings)


async def open_deduplicator(settings: DedupeSettings) -> Deduplicator:
    """A deduplicator on the backend the settings name, with its state loaded."""
    return Deduplicator(await open_store(settings), settings)


def __getattr__(name: str) -> Any:
    """`RedisStore`, imported when first asked for (see `open_store`)."""
    if name == "RedisStore":
        from .redis_store import RedisStore  # noqa: PLC0415

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DedupeStore",
    "Deduplicator",
    "MemoryStore",
    "RedisStore",
    "SqliteStore",
    "open_deduplicator",
    "open_store",
]
