"""What the deduplicator needs from a state backend: reads, one atomic write, housekeeping.

Backends do I/O only; every decision is taken in `decide`. Writes are
optimistic: `commit` applies a `Write` only if what the decision was based on
is still true (event unclaimed, item latest unchanged, no new story in the
article's bands) and returns False otherwise, so the caller decides again.
That is what keeps two instances from both publishing one story as new.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .decide import Candidate, ItemState, RecordedEvent, Snapshot
from .minhash import Signature


@dataclass(frozen=True, slots=True)
class StoryEntry:
    """A signature to index under the article's band keys."""

    event_id: str
    story_id: str
    signature: Signature
    band_keys: tuple[int, ...]
    versioncreated: float
    numbers: bytes = b""  # facts.number_mask of the text


@dataclass(frozen=True, slots=True)
class Write:
    event: RecordedEvent
    item_key: str
    expected_item_event: str | None  # the item's latest event_id the decision saw (None: unknown item)
    item: ItemState | None  # the item's new latest version; None leaves it unchanged
    story: StoryEntry | None
    # For content decisions: the band keys looked up and the stories found in
    # them. A story added to those bands since then invalidates the decision.
    checked_bands: tuple[int, ...] = ()
    seen_stories: frozenset[str] = frozenset()


class DedupeStore(Protocol):
    async def snapshot(self, event_id: str, item_key: str) -> Snapshot:
        """The recorded decision for the event and the item's latest version, if any."""
        ...

    async def candidates(self, band_keys: tuple[int, ...]) -> list[Candidate]:
        """Stories sharing at least one band key, oldest first, each once."""
        ...

    async def commit(self, write: Write) -> bool:
        """Apply the write atomically if its preconditions still hold; False on a conflict."""
        ...

    def size(self) -> int:
        """Story signatures held (cheap; may lag a shared store slightly)."""
        ...

    async def close(self) -> None: ...
