"""An in-process LSH band index: band key -> story slots, in compact numpy arrays.

A dict of sets (what datasketch's MinHashLSH keeps) costs a few hundred bytes
per band entry in CPython; here an entry is 16 bytes. Keys live in one sorted
array (binary search) plus a short unsorted tail that takes inserts and is
merged into the sorted part when it grows. Removed slots are filtered on read
and dropped at the next merge.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

Int64s = npt.NDArray[np.int64]


class BandIndex:
    def __init__(self, merge_at: int = 1 << 16) -> None:
        self._keys: Int64s = np.empty(0, dtype=np.int64)
        self._slots: Int64s = np.empty(0, dtype=np.int64)
        self._tail_keys: Int64s = np.empty(1024, dtype=np.int64)
        self._tail_slots: Int64s = np.empty(1024, dtype=np.int64)
        self._tail_len = 0
        self._merge_at = merge_at
        self._dead: set[int] = set()

    def add(self, keys: Sequence[int], slot: int) -> None:
        count = len(keys)
        needed = self._tail_len + count
        if needed > self._tail_keys.shape[0]:
            size = max(needed, 2 * self._tail_keys.shape[0])
            self._tail_keys = np.resize(self._tail_keys, size)
            self._tail_slots = np.resize(self._tail_slots, size)
        self._tail_keys[self._tail_len : needed] = keys
        self._tail_slots[self._tail_len : needed] = slot
        self._tail_len = needed
        if self._tail_len >= self._merge_at:
            self.merge()

    def add_many(self, keys: Int64s, slots: Int64s) -> None:
        """Bulk insert: `keys` is (stories, bands), `slots` (stories,); used to rebuild at open."""
        flat_slots = np.repeat(slots.astype(np.int64), keys.shape[1])
        self._keys = np.concatenate([self._keys, keys.reshape(-1).astype(np.int64)])
        self._slots = np.concatenate([self._slots, flat_slots])
        self.merge()

    def merge(self) -> None:
        keys = np.concatenate([self._keys, self._tail_keys[: self._tail_len]])
        slots = np.concatenate([self._slots, self._tail_slots[: self._tail_len]])
        if self._dead:
            alive = ~np.isin(slots, np.fromiter(self._dead, dtype=np.int64, count=len(self._dead)))
            keys, slots = keys[alive], slots[alive]
            self._dead.clear()
        order = np.argsort(keys, kind="stable")
        self._keys, self._slots = keys[order], slots[order]
        self._tail_len = 0

    def remove(self, slots: Iterable[int]) -> None:
        self._dead.update(slots)
        if len(self._dead) * 4 > max(self._keys.shape[0], 1 << 12):
            self.merge()

    def lookup(self, keys: Sequence[int]) -> list[int]:
        """Slots sharing at least one key, ascending (insertion order), each once."""
        query = np.asarray(keys, dtype=np.int64)
        left = np.searchsorted(self._keys, query, side="left")
        right = np.searchsorted(self._keys, query, side="right")
        found: list[Int64s] = [self._slots[lo:hi] for lo, hi in zip(left, right, strict=True) if hi > lo]
        if self._tail_len:
            tail = self._tail_keys[: self._tail_len]
            found.append(self._tail_slots[: self._tail_len][np.isin(tail, query)])
        if not found:
            return []
        slots = np.unique(np.concatenate(found))
        return [int(s) for s in slots if int(s) not in self._dead]

    @property
    def nbytes(self) -> int:
        return int(self._keys.nbytes + self._slots.nbytes + self._tail_keys.nbytes + self._tail_slots.nbytes)
