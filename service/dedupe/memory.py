"""In-process state for `wire-ingest process` and tests; lost on exit."""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from .decide import Candidate, ItemState, RecordedEvent, Snapshot
from .housekeeping import Watermark
from .index import BandIndex
from .store import Write


class MemoryStore:
    def __init__(self, *, window_seconds: float, max_stories: int) -> None:
        self._events: dict[str, RecordedEvent] = {}
        self._items: dict[str, ItemState] = {}
        self._stories: dict[int, Candidate] = {}
        self._index = BandIndex()
        self._next_slot = 0
        self._max_stories = max_stories
        self._watermark = Watermark(window_seconds)
        # (versioncreated, key) per table; entries whose row changed or left are skipped when popped.
        self._event_heap: list[tuple[float, str]] = []
        self._item_heap: list[tuple[float, str]] = []
        self._story_heap: list[tuple[float, int]] = []
        # Bumped whenever a story enters or leaves the index. Nothing interleaves
        # between a `candidates` call and the `commit` that follows it unless an
        # await in between let another decision write, so an unchanged
        # generation proves the band check at commit would find the same stories.
        self._generation = 0
        self._last_lookup: tuple[tuple[int, ...], int, frozenset[str]] = ((), -1, frozenset())

    async def snapshot(self, event_id: str, item_key: str) -> Snapshot:
        return Snapshot(self._events.get(event_id), self._items.get(item_key))

    async def candidates(self, band_keys: tuple[int, ...]) -> list[Candidate]:
        found = self._stories_in(band_keys)
        self._last_lookup = (band_keys, self._generation, frozenset(c.event_id for c in found))
        return found

    def _conflict(self, write: Write) -> bool:
        if write.event.event_id in self._events:
            return True
        current = self._items.get(write.item_key)
        if (current.event_id if current else None) != write.expected_item_event:
            return True
        if write.checked_bands:
            keys, generation, found = self._last_lookup
            if generation != self._generation or keys != write.checked_bands:
                found = frozenset(c.event_id for c in self._stories_in(write.checked_bands))
            return not found <= write.seen_stories
        return False

    def _stories_in(self, band_keys: tuple[int, ...]) -> list[Candidate]:
        return [self._stories[slot] for slot in self._index.lookup(band_keys) if slot in self._stories]

    async def commit(self, write: Write) -> bool:
        if self._conflict(write):
            return False
        self._apply(write)
        if self._watermark.due() or len(self._stories) > self._max_stories:
            self.evict()
        return True

    def bulk_insert(self, writes: Iterable[Write]) -> None:
        """Apply many writes without conflict checks (warm-up, benchmarks)."""
        for write in writes:
            self._apply(write)
        self.evict()

    def _apply(self, write: Write) -> None:
        event = write.event
        self._events[event.event_id] = event
        heapq.heappush(self._event_heap, (event.versioncreated, event.event_id))
        if write.item is not None:
            self._items[write.item_key] = write.item
            heapq.heappush(self._item_heap, (write.item.versioncreated, write.item_key))
        if write.story is not None:
            story = write.story
            slot = self._next_slot
            self._next_slot += 1
            self._stories[slot] = Candidate(story.event_id, story.story_id, story.signature)
            heapq.heappush(self._story_heap, (story.versioncreated, slot))
            self._index.add(story.band_keys, slot)
            self._generation += 1
        self._watermark.observe(event.versioncreated)

    def evict(self) -> None:
        """Drop what fell out of the time window, then the oldest stories beyond max_stories."""
        cutoff = self._watermark.cutoff
        removed: list[int] = []
        while self._story_heap and (
            self._story_heap[0][0] < cutoff or len(self._stories) > self._max_stories
        ):
            _, slot = heapq.heappop(self._story_heap)
            if self._stories.pop(slot, None) is not None:
                removed.append(slot)
        self._index.remove(removed)
        if removed:
            self._generation += 1
        while self._event_heap and self._event_heap[0][0] < cutoff:
            created, key = heapq.heappop(self._event_heap)
            event = self._events.get(key)
            if event is not None and event.versioncreated == created:
                del self._events[key]
        while self._item_heap and self._item_heap[0][0] < cutoff:
            created, key = heapq.heappop(self._item_heap)
            item = self._items.get(key)
            if item is not None and item.versioncreated == created:
                del self._items[key]

    def size(self) -> int:
        return len(self._stories)

    async def close(self) -> None:
        return None
