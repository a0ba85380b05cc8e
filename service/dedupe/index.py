"""An in-process LSH band index: band key -> story slots, in compact numpy arrays.

A dict of sets (what datasketch's MinHashLSH keeps) costs a few hundred bytes
per band entry in CPython; here a merged entry is 12 bytes (int64 key, int32
slot) or 16 with 64-bit slots; 8 with `short_keys` (the low 32 bits of each
key, int32 slot: the memory store). A short key can collide: the lookup then
returns a story sharing none of the queried bands, which the decision drops
(`minhash.shares_band`), so the stories compared are those of full keys.
Keys live in a few sorted runs (a directory search each per lookup) plus a
small dict that takes inserts and is folded into the runs when it grows, so a
lookup never scans the recent entries. Removed slots are filtered on read and
dropped at the next merge; `take_purged` hands them back once no entry refers
to them, so a caller may reuse them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain, repeat

import numpy as np
import numpy.typing as npt

from .columns import mapped

Int64s = npt.NDArray[np.int64]
Keys = npt.NDArray[np.int64] | npt.NDArray[np.uint32]
Slots = npt.NDArray[np.int32] | npt.NDArray[np.int64]


_SHORT_KEY = 0xFFFFFFFF
_WINDOW = 16  # entries read per query from its bucket; longer buckets fall back to binary search
_BUCKET_FILL = 4  # mean entries per directory bucket
_OFFSETS = np.arange(_WINDOW, dtype=np.int64)
_min = np.minimum.reduce
_any = np.logical_or.reduce


class _Run:
    """One sorted run of (key, slot) with a directory on the keys' top bits.

    A binary search over tens of millions of keys is a cache miss per step;
    the directory narrows each query to a bucket of a few neighbouring
    entries, read in one vectorised gather, so a lookup touches a few cache
    lines per key instead of twenty.
    """

    __slots__ = ("directory", "keys", "shift", "slots")

    def __init__(self, keys: Keys, slots: Slots) -> None:
        self.keys = mapped(keys)
        self.slots = mapped(slots)
        self.directory: npt.NDArray[np.int64] | None = None
        key_bits = 32 if keys.dtype == np.uint32 else 63  # int64 band keys are 63-bit, non-negative
        self.shift = key_bits
        size = keys.shape[0]
        if size >= _WINDOW and keys[0] >= 0:
            bits = max(1, int(np.ceil(np.log2(size / _BUCKET_FILL))))
            self.shift = key_bits - bits
            bounds = np.arange((1 << bits) + 1, dtype=np.int64) << np.int64(self.shift)
            bounds[-1] = np.iinfo(keys.dtype).max
            directory = np.searchsorted(keys, bounds.astype(keys.dtype))
            directory[-1] = size
            self.directory = mapped(directory.astype(np.int32 if size < 2**31 else np.int64))

    def search(self, query: Keys, found: set[int]) -> None:
        keys = self.keys
        size = keys.shape[0]
        if not size:
            return
        directory = self.directory
        # ufuncs called directly: ndarray.min()/any() go through a Python wrapper each, and a
        # query is only a few dozen keys, so those calls are most of a search's cost.
        if directory is None or _min(query) < 0:
            self._binary(query, found)
            return
        bucket = query.astype(np.int64) >> np.int64(self.shift)
        lo = directory[bucket].astype(np.int64)
        hi = directory[bucket + 1].astype(np.int64)
        wide = hi - lo > _WINDOW
        at = lo[:, None] + _OFFSETS
        match = (at < hi[:, None]) & (keys[np.minimum(at, size - 1)] == query[:, None])
        if _any(match, axis=None):
            found.update(self.slots[at[match]].tolist())
        if _any(wide):
            self._binary(query[wide], found)

    def _binary(self, query: Keys, found: set[int]) -> None:
        keys = self.keys
        size = keys.shape[0]
        left = np.searchsorted(keys, query)
        left[left == size] = 0
        hits = np.flatnonzero(keys[left] == query)
        if hits.shape[0]:
            right = np.searchsorted(keys, query[hits], side="right")
            for lo, hi in zip(left[hits].tolist(), right.tolist(), strict=True):
                found.update(self.slots[lo:hi].tolist())

    @property
    def nbytes(self) -> int:
        extra = self.directory.nbytes if self.directory is not None else 0
        return int(self.keys.nbytes + self.slots.nbytes + extra)


class BandIndex:
    def __init__(
        self,
        merge_at: int = 1 << 16,
        *,
        slot_dtype: type[np.signedinteger] = np.int64,
        short_keys: bool = False,
    ) -> None:
        self._slot_dtype = slot_dtype
        self._short_keys = short_keys
        # Sorted runs, largest first, each at most a quarter of the one before:
        # folding new entries in rewrites only the small runs (each entry is
        # rewritten a few times in all), and a lookup searches a handful of runs.
        self._runs: list[_Run] = []
        # Recent entries: key -> its first slot, and the rare further slots of a key apart, so an
        # insert is two C-level dict calls and no list per key (32 lists a story, which the
        # garbage collector then walked, made inserts cost ~70 µs a story).
        self._tail: dict[int, int] = {}
        self._tail_more: dict[int, list[int]] = {}
        self._tail_len = 0
        self._merge_at = merge_at
        self._dead: set[int] = set()
        self._purged: list[int] = []
        self._width = 1  # keys per slot, for the purge trigger

    def _stored(self, keys: Sequence[int]) -> Sequence[int]:
        return [key & _SHORT_KEY for key in keys] if self._short_keys else keys

    def _stored_array(self, keys: Sequence[int] | Int64s) -> Keys:
        wide = np.asarray(keys, dtype=np.int64)
        return (wide & _SHORT_KEY).astype(np.uint32) if self._short_keys else wide

    def add(self, keys: Sequence[int], slot: int) -> None:
        tail = self._tail
        stored = self._stored(keys)
        taken = tail.keys() & stored  # keys another story entered since the last merge: rare
        before = len(tail)
        if taken:
            for key in taken:
                self._tail_more.setdefault(key, []).append(slot)
            tail.update((key, slot) for key in stored if key not in taken)
        else:
            tail.update(zip(stored, repeat(slot)))
        self._tail_len += len(tail) - before + len(taken)
        self._width = max(1, len(keys))
        if self._tail_len >= self._merge_at:
            self._fold(*self._tail_arrays())

    def add_many(self, keys: Int64s, slots: Int64s) -> None:
        """Bulk insert: `keys` is (stories, bands), `slots` (stories,); used to rebuild at open."""
        flat_slots = np.repeat(slots.astype(self._slot_dtype), keys.shape[1])
        self._width = max(1, keys.shape[1])
        self._fold(self._stored_array(keys.reshape(-1)), flat_slots)

    def _tail_arrays(self) -> tuple[Keys, Slots]:
        tail, more = self._tail, self._tail_more
        lengths = np.fromiter(map(len, more.values()), dtype=np.int64, count=len(more))
        extra = int(lengths.sum())
        keys = np.concatenate(
            [
                np.fromiter(tail.keys(), dtype=np.int64, count=len(tail)),
                np.repeat(np.fromiter(more.keys(), dtype=np.int64, count=len(more)), lengths),
            ]
        )
        slots = np.concatenate(
            [
                np.fromiter(tail.values(), dtype=self._slot_dtype, count=len(tail)),
                np.fromiter(chain.from_iterable(more.values()), dtype=self._slot_dtype, count=extra),
            ]
        )
        tail.clear()
        more.clear()
        self._tail_len = 0
        return self._stored_array(keys), slots

    @staticmethod
    def _sorted(keys: Keys, slots: Slots) -> _Run:
        # Stable argsort is timsort: concatenated sorted runs merge in linear time.
        order = np.argsort(keys, kind="stable")
        return _Run(keys[order], slots[order])

    def _fold(self, keys: Keys, slots: Slots) -> None:
        """New entries become a run; runs that grew past a quarter of their predecessor merge into it."""
        runs = self._runs
        runs.append(self._sorted(keys, slots))
        while len(runs) > 1 and runs[-1].keys.shape[0] * 4 > runs[-2].keys.shape[0]:
            last = runs.pop()
            before = runs.pop()
            runs.append(
                self._sorted(
                    np.concatenate([before.keys, last.keys]), np.concatenate([before.slots, last.slots])
                )
            )

    def merge(self) -> None:
        """Everything into one run, dropping removed slots."""
        tail_keys, tail_slots = self._tail_arrays()
        keys = np.concatenate([*(run.keys for run in self._runs), tail_keys])
        slots = np.concatenate([*(run.slots for run in self._runs), tail_slots])
        if self._dead:
            dead = np.fromiter(self._dead, dtype=np.int64, count=len(self._dead))
            alive = ~np.isin(slots, dead)
            keys, slots = keys[alive], slots[alive]
            self._purged.extend(self._dead)
            self._dead.clear()
        self._runs = [self._sorted(keys, slots)]

    def remove(self, slots: Iterable[int]) -> None:
        self._dead.update(slots)
        entries = sum(run.keys.shape[0] for run in self._runs) + self._tail_len
        if len(self._dead) * 4 > max(entries // self._width, 1 << 10):
            self.merge()

    def take_purged(self) -> list[int]:
        """Removed slots no entry refers to any more (each returned once)."""
        purged, self._purged = self._purged, []
        return purged

    def lookup(self, keys: Sequence[int]) -> list[int]:
        """Slots sharing at least one key, ascending, each once."""
        found: set[int] = set()
        if self._runs:
            query = self._stored_array(keys)
            for run in self._runs:
                run.search(query, found)
        tail = self._tail
        if tail:
            stored = self._stored(keys)
            hits = [slot for slot in map(tail.get, stored) if slot is not None]
            if hits:
                found.update(hits)
                more = self._tail_more
                for key in stored if more else ():
                    extra = more.get(key)
                    if extra is not None:
                        found.update(extra)
        if self._dead:
            found -= self._dead
        return sorted(found)

    @property
    def nbytes(self) -> int:
        # A dict entry with its int key and value costs about 100 bytes per tail key.
        return sum(run.nbytes for run in self._runs) + 100 * self._tail_len
