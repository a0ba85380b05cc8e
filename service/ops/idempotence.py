"""What makes a replay idempotent: knowing which outputs were already published.

Raw replays ask the dedupe state: an event ID with a recorded decision was
processed before, so its messages are withheld unless the run is forced.
Dead letters carry no event ID; they are recognised by the raw record and
item they came from, against the letters already on the target DLQ.
Enrich-only replays and re-enrichment look at the target enriched topic.

The deduplicator wrappers speak the pipeline's `DeduplicatorLike` protocol,
so the pipeline runs unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import orjson

from ..dedupe.decide import Candidate, Claim, Snapshot, item_key
from ..dedupe.deduplicator import Deduplicator, Fingerprint
from ..dedupe.store import DedupeStore, Write
from ..models import CanonicalArticle
from ..route import HEADER_REPLAY, Outbound

HEADER_EVENT_ID = "event-id"

LetterKey = tuple[str, int, int, int | None]
"""A dead letter's origin: source topic, partition, offset and item index."""


class ReadOnlyStore:
    """A dedupe store whose writes succeed without writing: `--dry-run` decides but records nothing."""

    def __init__(self, inner: DedupeStore) -> None:
        self._inner = inner

    async def snapshot(self, event_id: str, item_key: str) -> Snapshot:
        return await self._inner.snapshot(event_id, item_key)

    async def candidates(self, band_keys: tuple[int, ...]) -> list[Candidate]:
        return await self._inner.candidates(band_keys)

    async def commit(self, write: Write) -> bool:
        _ = write
        return True

    async def hold(self, event_id: str, claim: Claim) -> bool:
        _ = event_id, claim
        return True

    async def committed(self, positions: Mapping[tuple[str, int], int]) -> None:
        _ = positions

    def size(self) -> int:
        return self._inner.size()

    async def close(self) -> None:
        await self._inner.close()


@dataclass
class PriorAwareDeduplicator:
    """The real deduplicator, noting which events had a decision recorded before this run."""

    inner: Deduplicator
    prior: set[str] = field(default_factory=set)

    async def decide(self, article: CanonicalArticle, known: Fingerprint | None = None) -> CanonicalArticle:
        snapshot = await self.inner.store.snapshot(article.event_id, item_key(article))
        if snapshot.recorded is not None:
            self.prior.add(article.event_id)
        return await self.inner.decide(article, known)

    async def committed(self, positions: Mapping[tuple[str, int], int]) -> None:
        await self.inner.committed(positions)

    def state_size(self) -> int:
        return self.inner.state_size()

    async def close(self) -> None:
        await self.inner.close()


class NoDeduplicator:
    """For the enrich-only pipeline, which never calls the dedupe stage."""

    async def decide(self, article: CanonicalArticle, known: Fingerprint | None = None) -> CanonicalArticle:
        return article

    async def committed(self, positions: Mapping[tuple[str, int], int]) -> None:
        return None

    def state_size(self) -> int:
        return 0

    async def close(self) -> None:
        return None


def header(message: Outbound, name: str) -> str | None:
    for key, value in message.headers:
        if key == name:
            return value.decode("utf-8", "replace")
    return None


def letter_key(value: bytes) -> LetterKey | None:
    """The origin of a dead letter from its JSON value (None when it is not one)."""
    try:
        letter = orjson.loads(value)
        return (
            str(letter["source_topic"]),
            int(letter["source_partition"]),
            int(letter["source_offset"]),
            letter.get("item_index"),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Known:
    """Outputs already published: event IDs and dead-letter origins."""

    event_ids: frozenset[str] = frozenset()
    letters: frozenset[LetterKey] = frozenset()


def is_known(message: Outbound, known: Known, dlq_topic: str) -> bool:
    """Whether publishing this message again would repeat an output already published."""
    if message.topic == dlq_topic:
        key = letter_key(message.value)
        return key is not None and key in known.letters
    event_id = header(message, HEADER_EVENT_ID)
    return event_id is not None and event_id in known.event_ids


def mark_replay(message: Outbound) -> Outbound:
    """The message with a replay header, and `lineage.replay` set when it is an event.

    The raw pipeline sets `lineage.replay` itself (the replay tool feeds it the
    header); the enrich-only path does not read headers, so it is set here.
    """
    value = message.value
    if header(message, HEADER_EVENT_ID) is not None:
        event = orjson.loads(value)
        lineage = event.get("lineage")
        if isinstance(lineage, dict) and not lineage.get("replay"):
            lineage["replay"] = True
            value = orjson.dumps(event)
    headers = message.headers
    if not any(key == HEADER_REPLAY for key, _ in headers):
        headers = (*headers, (HEADER_REPLAY, b"1"))
    return Outbound(topic=message.topic, key=message.key, value=value, headers=headers)


def enriched_versions(values: Iterable[bytes]) -> dict[str, set[str]]:
    """event_id -> registry versions it was already published with, from enriched-topic values."""
    found: dict[str, set[str]] = {}
    for value in values:
        try:
            event = orjson.loads(value)
            found.setdefault(str(event["event_id"]), set()).add(str(event.get("registry_version", "")))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue
    return found
