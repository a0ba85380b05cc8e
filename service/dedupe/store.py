"""What the deduplicator needs from a state backend: reads, one atomic write, housekeeping.

Backends do I/O only; every decision is taken in `decide`. Writes are
optimistic: `commit` applies a `Write` only if what the decision was based on
is still true (event unclaimed, item latest unchanged, no new story in the
article's bands) and returns False otherwise, so the caller decides again.
That is what keeps two instances from both publishing one story as new.

Retention (issue 11, item 7). A decision must come out the same every time its Kafka
record is delivered, and a redelivered record's decision is answered by one piece of
state only: the recorded event (`decide_by_record` reads it before anything else; items
and stories are read only for a record never decided). So the rule is about event
records alone:

    An event record leaves the store only when (1) it is outside the dedupe window and
    (2) every Kafka offset whose decision it answers is committed: the record that
    claimed it, and every later record answered by it as a redelivery (a *hold*, taken
    atomically with the check that the event record is still there).

"Committed" is what the shell reports through `committed(positions)` after each Kafka
commit (positions are the next offsets to read, per topic partition); a partition never
reported is never committed, so its event records stay. The rule needs no clock shared
between partitions and no knowledge of which instance owns what: Kafka offsets are the
same for every instance, and an instance reports only the partitions it committed, so
Redis shared by several instances releases a hold once whichever instance owned the
partition committed past it. Items and stories keep following the window alone: losing
them can change a *first* decision of a lagging partition (a record older than the
window's end is compared with less), never a repeated one.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, TypeVar

from .decide import Candidate, Claim, ItemState, RecordedEvent, Snapshot
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

    async def hold(self, event_id: str, claim: Claim) -> bool:
        """Keep the event's record until `claim`'s offset is committed; False if it is gone already."""
        ...

    async def committed(self, positions: Mapping[tuple[str, int], int]) -> None:
        """Offsets below each (topic, partition)'s position are committed: release their holds."""
        ...

    def size(self) -> int:
        """Story signatures held (cheap; may lag a shared store slightly)."""
        ...

    async def close(self) -> None: ...


_T = TypeVar("_T")


class InProcessConflicts(ABC):
    """The optimistic-write check shared by the stores one process owns (memory, SQLite).

    Bumping `_generation` whenever a story enters or leaves the index lets `commit`
    skip the second band lookup: nothing interleaves between `candidates` and the
    `commit` that follows it unless an await let another decision write, so an
    unchanged generation proves the band check would find the same stories. (The
    Redis store cannot rely on this; other instances write too.)
    """

    def __init__(self) -> None:
        self._generation = 0
        self._last_lookup: tuple[tuple[int, ...], int, frozenset[str]] = ((), -1, frozenset())

    @abstractmethod
    def _event(self, event_id: str) -> RecordedEvent | None: ...

    # A decision needs three to four store calls. For a store in this process they run as
    # plain calls inside one `run_local` (for SQLite: one hop to its thread per decision,
    # not one per call); the async methods of DedupeStore are for callers outside it.

    @abstractmethod
    async def run_local(self, work: Callable[[], _T]) -> _T:
        """Run `work`, which may call the *_now methods, where the store's calls must run."""

    def batch(self) -> AbstractContextManager[None]:
        """Within `run_local`: the decisions taken inside are recorded together on leaving, or
        (when leaving raises) none of them is. A store whose every write is final at once
        records each as it comes."""
        return contextlib.nullcontext()

    def snapshot_now(self, event_id: str, item_key: str) -> Snapshot:
        return Snapshot(self._event(event_id), self._item(item_key))

    @abstractmethod
    def commit_now(self, write: Write) -> bool: ...

    @abstractmethod
    def hold_now(self, event_id: str, claim: Claim) -> bool: ...

    @abstractmethod
    def _item(self, item_key: str) -> ItemState | None: ...

    @abstractmethod
    def _stories_in(self, band_keys: tuple[int, ...]) -> list[Candidate]: ...

    async def candidates(self, band_keys: tuple[int, ...]) -> list[Candidate]:
        return self.candidates_now(band_keys)

    def candidates_now(self, band_keys: tuple[int, ...]) -> list[Candidate]:
        # The cache is one slot for the whole store, not per caller: equal keys at an equal
        # generation find equal stories, so whichever decision filled it, a commit that
        # sees its own keys and generation there may trust it; any other commit looks again.
        # Lookups and commits must not overlap (SQLite runs both on its one thread).
        found = self._stories_in(band_keys)
        self._last_lookup = (band_keys, self._generation, frozenset(c.event_id for c in found))
        return found

    def _conflict(self, write: Write) -> bool:
        if self._event(write.event.event_id) is not None:
            return True
        current = self._item(write.item_key)
        if (current.event_id if current else None) != write.expected_item_event:
            return True
        if write.checked_bands:
            keys, generation, found = self._last_lookup
            if generation != self._generation or keys != write.checked_bands:
                found = frozenset(c.event_id for c in self._stories_in(write.checked_bands))
            return not found <= write.seen_stories
        return False
