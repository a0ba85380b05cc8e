"""Compact in-process tables: 16-byte IDs, growable column arrays, a key -> row map.

Per-row Python objects (a dataclass, its strings, its dict entry) cost
several hundred bytes; a UUID kept as two uint64 columns costs 16. These
are the pieces MemoryStore builds its tables from.
"""

from __future__ import annotations

import hashlib
import heapq
import mmap
import re
import struct
from typing import TypeVar

import numpy as np
import numpy.typing as npt

Code = tuple[int, int]  # a 16-byte ID as two signed 64-bit halves
Int64s = npt.NDArray[np.int64]

_MASK = (1 << 64) - 1
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SIGN = 1 << 63
_HALVES = struct.Struct(">qq")


def _signed(value: int) -> int:
    return value - (1 << 64) if value & _SIGN else value


class IdCodec:
    """UUID strings <-> 16 bytes; any other string gets a 16-byte hash and is remembered.

    Only canonical (lower-case, hyphenated) UUIDs are packed, so decoding gives
    back exactly the string that was stored. Other strings are rare (IDs come
    from `service.ids`), and are kept in a dict for the life of the store.
    """

    def __init__(self) -> None:
        self._texts: dict[Code, str] = {}

    def encode(self, value: str, *, remember: bool = True) -> Code:
        """The code of `value`; `remember=False` for look-ups, so unknown text IDs are not kept."""
        if _CANONICAL_UUID.fullmatch(value):
            # The 16 bytes read as two big-endian signed halves in one C call: a decision
            # encodes about ten IDs, and shifting Python ints cost twice as much.
            halves: Code = _HALVES.unpack(bytes.fromhex(value.replace("-", "")))
            return halves
        number = int.from_bytes(hashlib.blake2b(value.encode(), digest_size=16).digest(), "big")
        code = (_signed(number >> 64), _signed(number & _MASK))
        if remember:
            self._texts[code] = value
        return code

    def decode(self, hi: int, lo: int) -> str:
        text = self._texts.get((hi, lo))
        if text is not None:
            return text
        digits = f"{((hi & _MASK) << 64) | (lo & _MASK):032x}"
        return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


_MAPPED_BYTES = 1 << 20
_S = TypeVar("_S", bound=np.generic)


def zeros(shape: tuple[int, ...], dtype: np.dtype[_S]) -> npt.NDArray[_S]:
    """A zeroed array; from 1 MiB up, in an anonymous memory map of its own.

    The kernel backs a map with pages as they are first written (a grown column's
    unused tail costs no RAM) and takes it back as soon as the array is dropped.
    From the C heap, a column replaced when its table grows stays in the process
    (glibc keeps freed blocks below its mmap threshold, which rises to 32 MB): at a
    million stories that was 124 MB of heap.
    """
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if nbytes < _MAPPED_BYTES:
        return np.zeros(shape, dtype=dtype)
    # Private: plain process memory (a shared map would be shmem, and shared with a fork).
    return np.frombuffer(mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE), dtype=dtype).reshape(shape)


def mapped(array: npt.NDArray[_S]) -> npt.NDArray[_S]:
    """`array`, moved to a memory map of its own if it is 1 MiB or more (see `zeros`).

    For arrays kept for long (sorted runs, key maps): one left in the C heap above
    the temporaries of the merge that built it keeps those from going back.
    """
    if array.nbytes < _MAPPED_BYTES:
        return array
    moved = zeros(array.shape, array.dtype)
    moved[...] = array
    return moved


class Table:
    """Rows of named numpy columns, grown in place; freed rows are reused."""

    def __init__(
        self, columns: dict[str, np.dtype[np.generic] | type[np.generic]], capacity: int = 1024
    ) -> None:
        self._dtypes = {name: np.dtype(dtype) for name, dtype in columns.items()}
        self.cols: dict[str, npt.NDArray[np.generic]] = {
            name: zeros((capacity,), dtype) for name, dtype in self._dtypes.items()
        }
        self.live = zeros((capacity,), np.dtype(np.bool_))
        self._free: list[int] = []
        self._end = 0  # rows [0, _end) have been used at least once
        self.count = 0

    @property
    def end(self) -> int:
        return self._end

    def _grow(self) -> None:
        capacity = self.live.shape[0]
        # 1.5x keeps the unused tail small; its pages are not touched until written.
        size = capacity + max(capacity // 2, 1024)
        for name, column in self.cols.items():
            grown = zeros((size, *column.shape[1:]), column.dtype)
            grown[:capacity] = column
            self.cols[name] = grown
        live = zeros((size,), np.dtype(np.bool_))
        live[:capacity] = self.live
        self.live = live

    def add_matrix(self, name: str, width: int, dtype: type[np.generic]) -> None:
        """A column of fixed-width rows (e.g. signatures), added once the width is known."""
        self.cols[name] = zeros((self.live.shape[0], width), np.dtype(dtype))

    def allocate(self) -> int:
        if self._free:
            row = self._free.pop()
        else:
            if self._end == self.live.shape[0]:
                self._grow()
            row = self._end
            self._end += 1
        self.live[row] = True
        self.count += 1
        return row

    def release(self, rows: Int64s | list[int], *, reusable: bool = True) -> None:
        """Mark rows dead; `reusable=False` holds them back until `recycle` (still referred to)."""
        self.live[rows] = False
        self.count -= len(rows)
        if reusable:
            self._free.extend(int(r) for r in rows)

    def recycle(self, rows: list[int]) -> None:
        self._free.extend(rows)

    @property
    def nbytes(self) -> int:
        used = self._end
        return int(sum(c[:used].nbytes for c in self.cols.values()) + used)


class KeyMap:
    """16-byte code -> row, checked against the table's own key columns.

    Recent inserts sit in a dict; older ones in one sorted array of the
    code's two halves XORed (so IDs that share a half still spread) with its
    row (12 bytes an entry), searched by bisection.
    A sorted entry is trusted only if its row is live and holds the same code,
    so releasing a row needs no index update and stale entries go at the
    next merge.
    """

    def __init__(self, table: Table, hi: str, lo: str, merge_at: int = 1 << 14) -> None:
        self._table = table
        self._hi_name, self._lo_name = hi, lo
        self._keys: Int64s = np.empty(0, dtype=np.int64)
        self._rows: npt.NDArray[np.int32] = np.empty(0, dtype=np.int32)
        self._tail: dict[Code, int] = {}
        self._merge_at = merge_at

    def _holds(self, row: int, code: Code) -> bool:
        cols = self._table.cols
        return bool(
            self._table.live[row]
            and int(cols[self._hi_name][row]) == code[0]
            and int(cols[self._lo_name][row]) == code[1]
        )

    def get(self, code: Code) -> int | None:
        row = self._tail.get(code)
        if row is not None:
            return row if self._holds(row, code) else None
        keys = self._keys
        wanted = code[0] ^ code[1]
        at = int(np.searchsorted(keys, wanted))
        while at < keys.shape[0] and int(keys[at]) == wanted:
            row = int(self._rows[at])
            if self._holds(row, code):
                return row
            at += 1
        return None

    def put(self, code: Code, row: int) -> None:
        """Map `code` to `row`, whose key columns must already hold it."""
        self._tail[code] = row
        if len(self._tail) >= self._merge_at:
            self.merge()

    def discard(self, code: Code) -> None:
        self._tail.pop(code, None)

    def merge(self) -> None:
        table = self._table
        count = len(self._tail)
        tail_keys = np.fromiter((hi ^ lo for hi, lo in self._tail), dtype=np.int64, count=count)
        tail_rows = np.fromiter(self._tail.values(), dtype=np.int32, count=count)
        keys = np.concatenate([self._keys, tail_keys])
        rows = np.concatenate([self._rows, tail_rows])
        # Keep entries whose row is still live under the same key; a row reused
        # by another key, or the same key re-added, leaves duplicates to drop.
        held = table.cols[self._hi_name][rows] ^ table.cols[self._lo_name][rows]
        valid = table.live[rows] & (held == keys)
        # A key re-added to its old row may leave a duplicate entry: harmless, and gone once the row is.
        keys, rows = keys[valid], rows[valid]
        order = np.argsort(keys, kind="stable")
        self._keys, self._rows = mapped(keys[order]), mapped(rows[order].astype(np.int32))
        self._tail.clear()

    @property
    def nbytes(self) -> int:
        # A dict entry with its tuple key and int value costs about 170 bytes.
        return int(self._keys.nbytes + self._rows.nbytes + 170 * len(self._tail))


RECENT_ROWS = 4096  # rows kept in the heap before the sorted array is rebuilt (at least)


class OrderQueue:
    """Live rows of a table in (vc, seq) order, oldest first: what a heap gives, in 12 bytes a row.

    Rows present at the last rebuild sit in one array sorted by (vc, seq);
    rows added since in a small heap. An entry whose row was released or
    rewritten (its seq changed) is skipped when it reaches the front. The
    table needs float64 `vc` and int64 `seq` columns.
    """

    def __init__(self, table: Table) -> None:
        self._table = table
        self._rows: npt.NDArray[np.int32] = np.empty(0, dtype=np.int32)
        self._seqs: Int64s = np.empty(0, dtype=np.int64)
        self._at = 0
        self._recent: list[tuple[float, int, int]] = []

    def push(self, vc: float, seq: int, row: int) -> None:
        heapq.heappush(self._recent, (vc, seq, row))
        if len(self._recent) > max(RECENT_ROWS, self._table.count // 16):
            self.rebuild()

    def rebuild(self) -> None:
        table = self._table
        rows = np.flatnonzero(table.live[: table.end])
        order = np.lexsort((table.cols["seq"][rows], table.cols["vc"][rows]))
        self._rows = mapped(rows[order].astype(np.int32))
        self._seqs = mapped(np.asarray(table.cols["seq"][self._rows], dtype=np.int64))
        self._at = 0
        self._recent = []

    def _valid(self, row: int, seq: int) -> bool:
        return bool(self._table.live[row]) and int(self._table.cols["seq"][row]) == seq

    def oldest(self) -> tuple[float, int] | None:
        """(vc, row) of the oldest live row, or None when the table is empty."""
        rows, seqs = self._rows, self._seqs
        while self._at < rows.shape[0] and not self._valid(int(rows[self._at]), int(seqs[self._at])):
            self._at += 1
        recent = self._recent
        while recent and not self._valid(recent[0][2], recent[0][1]):
            heapq.heappop(recent)
        best: tuple[float, int, int] | None = None
        if self._at < rows.shape[0]:
            row = int(rows[self._at])
            best = (float(self._table.cols["vc"][row]), int(seqs[self._at]), row)
        if recent and (best is None or recent[0][:2] < best[:2]):
            best = recent[0]
        return None if best is None else (best[0], best[2])

    @property
    def nbytes(self) -> int:
        return int(self._rows.nbytes + self._seqs.nbytes + 120 * len(self._recent))
