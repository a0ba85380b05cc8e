"""In-process state for `wire-ingest process` and tests; lost on exit.

Rows live in numpy columns (`columns.Table`), not in per-story Python
objects: IDs as two int64 halves, a signature as one row of a uint16 matrix
(the low 16 bits of each value: all `minhash.estimated_jaccard` compares),
the decision as small integer codes. Objects are built only for the rows a
decision reads. Rows whose fields do not fit the columns (a non-numeric
version, an outcome whose links differ from its match) keep their object in
a side dict; with the IDs `service.ids` makes that never happens.

Event records follow the retention rule in `store` (held until their offsets are
committed). Everything is lost on exit: after a restart every record is decided afresh,
so a redelivered record can get another decision than before (a resend NEW again, an
update NEW); use SQLite or Redis wherever records can be redelivered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

import numpy as np

from ..models import Relation
from .columns import Code, IdCodec, Int64s, KeyMap, OrderQueue, Table
from .decide import Candidate, Claim, ItemState, Outcome, RecordedEvent, Snapshot
from .facts import MASK_BYTES
from .housekeeping import Watermark
from .index import BandIndex
from .minhash import compared_values
from .store import InProcessConflicts, StoryEntry, Write

_T = TypeVar("_T")

_RELATIONS = tuple(Relation)
_RELATION_CODES = {relation: code for code, relation in enumerate(_RELATIONS)}
# Event flags: which optional outcome fields are set (links always equal the matched event).
_SUPERSEDES, _DUPLICATE_OF, _MATCHED, _SIMILARITY = 1, 2, 4, 8
_INT32 = 1 << 31
_I8, _F8 = np.int64, np.float64
_Row = TypeVar("_Row")


def _version_number(version: str) -> int | None:
    """The version as an integer if `str(int)` gives it back exactly."""
    if (
        version.isascii()
        and version.isdigit()
        and len(version) <= 18
        and (version == "0" or version[0] != "0")
    ):
        return int(version)
    return None


def _hash_bytes(content_hash: str) -> bytes | None:
    """A sha256 hex digest as its 32 bytes if `.hex()` gives it back exactly."""
    if len(content_hash) != 64:
        return None
    try:
        raw = bytes.fromhex(content_hash)
    except ValueError:
        return None
    return raw if raw.hex() == content_hash else None


class _Interned:
    """Small vocabularies (topics, methods) as integer codes."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._codes: dict[str, int] = {}

    def code(self, value: str) -> int:
        found = self._codes.get(value)
        if found is None:
            found = self._codes[value] = len(self.values)
            self.values.append(value)
        return found


class MemoryStore(InProcessConflicts):
    def __init__(self, *, window_seconds: float, max_stories: int) -> None:
        super().__init__()
        self._ids = IdCodec()
        self._topics = _Interned()
        self._methods = _Interned()
        self._events = Table(
            {
                "hi": _I8, "lo": _I8, "vc": _F8, "topic": np.uint32, "part": np.int32, "off": _I8,
                "idx": np.int32, "rel": np.uint8, "method": np.uint8, "flags": np.uint8,
                "shi": _I8, "slo": _I8, "mhi": _I8, "mlo": _I8, "sim": _F8,
            }
        )  # fmt: skip
        self._items = Table(
            {"hi": _I8, "lo": _I8, "ehi": _I8, "elo": _I8, "vc": _F8, "ver": _I8, "shi": _I8, "slo": _I8}
        )
        self._items.add_matrix("hash", 4, np.uint64)
        self._stories = Table({"hi": _I8, "lo": _I8, "shi": _I8, "slo": _I8, "vc": _F8, "seq": _I8})
        self._stories.add_matrix("num", MASK_BYTES // 8, np.uint64)
        self._event_keys = KeyMap(self._events, "hi", "lo")
        self._item_keys = KeyMap(self._items, "hi", "lo")
        self._odd_events: dict[int, RecordedEvent] = {}
        self._odd_items: dict[int, ItemState] = {}
        self._story_order = OrderQueue(self._stories)
        self._sig_width = 0
        self._index = BandIndex(slot_dtype=np.int32, short_keys=True)
        self._seq = 0  # insertion order of stories: the tie-break of eviction and of candidates
        self._max_stories = max_stories
        self._watermark = Watermark(window_seconds)
        # Lowest versioncreated still held per table: a window eviction that
        # cannot remove anything skips the scan.
        self._event_floor = float("inf")
        self._item_floor = float("inf")
        # Retention (see `store`): committed positions by (topic code, partition), and the
        # redeliveries holding an event record: event code -> {(topic code, partition): offset}.
        self._positions: dict[tuple[int, int], int] = {}
        self._holds: dict[Code, dict[tuple[int, int], int]] = {}

    # ------------------------------------------------------------ reads

    async def snapshot(self, event_id: str, item_key: str) -> Snapshot:
        return self.snapshot_now(event_id, item_key)

    def _event(self, event_id: str) -> RecordedEvent | None:
        row = self._event_keys.get(self._ids.encode(event_id, remember=False))
        if row is None:
            return None
        odd = self._odd_events.get(row)
        if odd is not None:
            return odd
        c = self._events.cols
        flags = int(c["flags"][row])
        decode = self._ids.decode
        matched = decode(int(c["mhi"][row]), int(c["mlo"][row])) if flags & _MATCHED else None
        outcome = Outcome(
            relation=_RELATIONS[int(c["rel"][row])],
            story_id=decode(int(c["shi"][row]), int(c["slo"][row])),
            supersedes=matched if flags & _SUPERSEDES else None,
            duplicate_of=matched if flags & _DUPLICATE_OF else None,
            matched_event_id=matched,
            similarity=float(c["sim"][row]) if flags & _SIMILARITY else None,
            method=self._methods.values[int(c["method"][row])],
        )
        claim = Claim(
            self._topics.values[int(c["topic"][row])],
            int(c["part"][row]),
            int(c["off"][row]),
            int(c["idx"][row]),
        )
        return RecordedEvent(event_id, claim, outcome, float(c["vc"][row]))

    def _item(self, item_key: str) -> ItemState | None:
        row = self._item_keys.get(self._ids.encode(item_key, remember=False))
        if row is None:
            return None
        odd = self._odd_items.get(row)
        if odd is not None:
            return odd
        c = self._items.cols
        decode = self._ids.decode
        return ItemState(
            event_id=decode(int(c["ehi"][row]), int(c["elo"][row])),
            version=str(int(c["ver"][row])),
            versioncreated=float(c["vc"][row]),
            content_hash=c["hash"][row].tobytes().hex(),
            story_id=decode(int(c["shi"][row]), int(c["slo"][row])),
        )

    def _stories_in(self, band_keys: tuple[int, ...]) -> list[Candidate]:
        slots = self._index.lookup(band_keys)
        if not slots:
            return []
        c = self._stories.cols
        seq = c["seq"]
        # Slots are reused, so order by insertion (the first-stored story wins ties).
        slots.sort(key=lambda slot: int(seq[slot]))
        decode = self._ids.decode
        return [
            Candidate(
                decode(int(c["hi"][slot]), int(c["lo"][slot])),
                decode(int(c["shi"][slot]), int(c["slo"][slot])),
                c["sig"][slot].astype(np.uint32),  # high bits 0: never compared
                c["num"][slot].tobytes(),
            )
            for slot in slots
        ]

    # ------------------------------------------------------------ writes

    async def run_local(self, work: Callable[[], _T]) -> _T:
        return work()

    async def commit(self, write: Write) -> bool:
        return self.commit_now(write)

    def commit_now(self, write: Write) -> bool:
        if self._conflict(write):
            return False
        self._apply(write)
        if self._watermark.due() or self._stories.count > self._max_stories:
            self.evict()
        return True

    def bulk_insert(self, writes: Iterable[Write]) -> None:
        """Apply many writes without conflict checks (warm-up, benchmarks)."""
        slots: list[int] = []
        keys: list[tuple[int, ...]] = []
        for write in writes:
            slot = self._apply(write, index=False)
            if slot is not None and write.story is not None:
                slots.append(slot)
                keys.append(write.story.band_keys)
            if len(slots) >= 1 << 14:  # in chunks: a million key tuples would cost gigabytes
                self._index_many(keys, slots)
        self._index_many(keys, slots)
        self._index.merge()  # one run, as SqliteStore's index is after open
        self._stories.recycle(self._index.take_purged())
        self.evict()

    def _index_many(self, keys: list[tuple[int, ...]], slots: list[int]) -> None:
        if slots:
            self._index.add_many(np.asarray(keys, dtype=np.int64), np.asarray(slots, dtype=np.int64))
            self._generation += 1
        keys.clear()
        slots.clear()

    def _apply(self, write: Write, *, index: bool = True) -> int | None:
        event = write.event
        self._put_event(event)
        if write.item is not None:
            self._put_item(write.item_key, write.item)
        slot = None
        if write.story is not None:
            slot = self._put_story(write.story)
            if index:
                self._index.add(write.story.band_keys, slot)
                self._stories.recycle(self._index.take_purged())
            self._generation += 1
        self._watermark.observe(event.versioncreated)
        return slot

    def _put_event(self, event: RecordedEvent) -> None:
        code = self._ids.encode(event.event_id)
        row = self._events.allocate()
        c = self._events.cols
        c["hi"][row], c["lo"][row] = code
        c["vc"][row] = event.versioncreated
        self._event_keys.put(code, row)
        self._event_floor = min(self._event_floor, event.versioncreated)
        outcome, claim = event.outcome, event.claim
        matched = outcome.matched_event_id
        if (
            outcome.supersedes not in (None, matched)
            or outcome.duplicate_of not in (None, matched)
            or not (-_INT32 <= claim.partition < _INT32 and -_INT32 <= claim.item_index < _INT32)
            or len(self._methods.values) > 255
        ):
            self._odd_events[row] = event
            return
        flags = _SUPERSEDES * (outcome.supersedes is not None) | _DUPLICATE_OF * (
            outcome.duplicate_of is not None
        )
        if matched is not None:
            flags |= _MATCHED
            c["mhi"][row], c["mlo"][row] = self._ids.encode(matched)
        if outcome.similarity is not None:
            flags |= _SIMILARITY
            c["sim"][row] = outcome.similarity
        c["flags"][row] = flags
        c["rel"][row] = _RELATION_CODES[outcome.relation]
        c["method"][row] = self._methods.code(outcome.method)
        c["shi"][row], c["slo"][row] = self._ids.encode(outcome.story_id)
        c["topic"][row] = self._topics.code(claim.topic)
        c["part"][row], c["off"][row], c["idx"][row] = claim.partition, claim.offset, claim.item_index

    def _put_item(self, item_key: str, item: ItemState) -> None:
        code = self._ids.encode(item_key)
        c = self._items.cols
        row = self._item_keys.get(code)
        if row is None:
            row = self._items.allocate()
            c["hi"][row], c["lo"][row] = code  # before `put`: a merge there checks the row's key
            self._item_keys.put(code, row)
        c["vc"][row] = item.versioncreated
        self._item_floor = min(self._item_floor, item.versioncreated)
        version, raw_hash = _version_number(item.version), _hash_bytes(item.content_hash)
        if version is None or raw_hash is None:
            self._odd_items[row] = item
            return
        self._odd_items.pop(row, None)
        c["ver"][row] = version
        c["hash"][row] = np.frombuffer(raw_hash, dtype=np.uint64)
        c["ehi"][row], c["elo"][row] = self._ids.encode(item.event_id)
        c["shi"][row], c["slo"][row] = self._ids.encode(item.story_id)

    def _put_story(self, story: StoryEntry) -> int:
        if not self._sig_width:
            self._sig_width = story.signature.shape[0]
            self._stories.add_matrix("sig", self._sig_width, np.uint16)
        slot = self._stories.allocate()
        c = self._stories.cols
        c["hi"][slot], c["lo"][slot] = self._ids.encode(story.event_id)
        c["shi"][slot], c["slo"][slot] = self._ids.encode(story.story_id)
        c["vc"][slot] = story.versioncreated
        c["seq"][slot] = self._seq
        c["sig"][slot] = compared_values(story.signature)
        c["num"][slot] = np.frombuffer(story.numbers.ljust(MASK_BYTES, b"\0")[:MASK_BYTES], dtype=np.uint64)
        self._story_order.push(story.versioncreated, self._seq, slot)
        self._seq += 1
        return slot

    # ------------------------------------------------------------ retention

    async def hold(self, event_id: str, claim: Claim) -> bool:
        return self.hold_now(event_id, claim)

    def hold_now(self, event_id: str, claim: Claim) -> bool:
        code = self._ids.encode(event_id, remember=False)
        if self._event_keys.get(code) is None:
            return False
        where = (self._topics.code(claim.topic), claim.partition)
        held = self._holds.setdefault(code, {})
        held[where] = max(held.get(where, claim.offset), claim.offset)
        return True

    async def committed(self, positions: Mapping[tuple[str, int], int]) -> None:
        for (topic, partition), position in positions.items():
            self._positions[(self._topics.code(topic), partition)] = position
        for code, held in list(self._holds.items()):
            for where, offset in list(held.items()):
                if offset < self._positions.get(where, offset):
                    del held[where]
            if not held:
                del self._holds[code]

    def _released(self, rows: Int64s) -> Int64s:
        """Those of `rows` (event rows) whose claiming offset is committed and that no redelivery holds."""
        c = self._events.cols
        topic, part = c["topic"][rows].astype(np.int64), c["part"][rows].astype(np.int64)
        position = np.full(rows.shape[0], np.iinfo(np.int64).min)  # never reported: never committed
        for (topic_code, partition), committed in self._positions.items():
            position[(topic == topic_code) & (part == partition)] = committed
        done = c["off"][rows] < position
        if self._odd_events:  # their claims are in the objects, not in the columns
            odd_rows = np.fromiter(self._odd_events, dtype=np.int64, count=len(self._odd_events))
            for at in np.flatnonzero(np.isin(rows, odd_rows)).tolist():
                claim = self._odd_events[int(rows[at])].claim
                where = (self._topics.code(claim.topic), claim.partition)
                done[at] = claim.offset < self._positions.get(where, claim.offset)
        if self._holds:
            held = {self._event_keys.get(code) for code in self._holds}
            done &= ~np.isin(rows, np.fromiter((r for r in held if r is not None), dtype=np.int64))
        return rows[done]

    # ------------------------------------------------------------ housekeeping

    def evict(self) -> None:
        """Drop what fell out of the time window, then the oldest stories beyond max_stories."""
        cutoff = self._watermark.cutoff
        removed: list[int] = []
        while self._stories.count > 0:
            oldest = self._story_order.oldest()
            if oldest is None or not (oldest[0] < cutoff or self._stories.count > self._max_stories):
                break
            removed.append(oldest[1])
            self._stories.release([oldest[1]], reusable=False)
        if removed:
            self._index.remove(removed)
            self._stories.recycle(self._index.take_purged())
            self._generation += 1
        if cutoff > self._event_floor:
            self._event_floor = self._expire(
                self._events, self._event_keys, self._odd_events, cutoff, self._released
            )
        if cutoff > self._item_floor:
            self._item_floor = self._expire(self._items, self._item_keys, self._odd_items, cutoff)

    @staticmethod
    def _expire(
        table: Table,
        keys: KeyMap,
        odd: dict[int, _Row],
        cutoff: float,
        released: Callable[[Int64s], Int64s] | None = None,
    ) -> float:
        """Release the rows older than `cutoff` (those `released` lets go); the lowest versioncreated left."""
        live = table.live[: table.end]
        vc = np.asarray(table.cols["vc"][: table.end], dtype=np.float64)
        old = np.flatnonzero(live & (vc < cutoff))
        if released is not None:
            old = released(old)
        hi, lo = table.cols["hi"], table.cols["lo"]
        for row in old.tolist():
            keys.discard((int(hi[row]), int(lo[row])))
            odd.pop(row, None)
        table.release(old)
        left = vc[table.live[: table.end]]
        return float(left.min()) if left.shape[0] else float("inf")

    def size(self) -> int:
        return self._stories.count

    @property
    def nbytes(self) -> int:
        """Bytes held in arrays and indexes (the Python objects of side dicts not counted)."""
        return (
            self._events.nbytes
            + self._items.nbytes
            + self._stories.nbytes
            + self._event_keys.nbytes
            + self._item_keys.nbytes
            + self._story_order.nbytes
            + self._index.nbytes
        )

    async def close(self) -> None:
        return None
