"""The compact tables behind MemoryStore: ID packing, key -> row map, oldest-first order."""

from __future__ import annotations

import random
import uuid

import numpy as np

from service.dedupe.columns import IdCodec, KeyMap, OrderQueue, Table, zeros


def test_id_codec_gives_back_exactly_the_string_stored() -> None:
    """Canonical UUIDs pack into 16 bytes; upper-case UUIDs and other text come back unchanged too."""
    codec = IdCodec()
    values = [str(uuid.uuid4()) for _ in range(200)]
    values += [
        str(uuid.UUID(int=0)),
        str(uuid.UUID(int=(1 << 128) - 1)),
        "ITEM-7",
        "",
        str(uuid.uuid4()).upper(),
    ]
    for value in values:
        assert codec.decode(*codec.encode(value)) == value


def test_id_codec_lookups_do_not_keep_unknown_text() -> None:
    """A look-up of a non-UUID ID that was never stored leaves nothing behind."""
    codec = IdCodec()
    codec.encode("never-stored", remember=False)
    assert codec.decode(*codec.encode("never-stored", remember=False)) != "never-stored"


def test_key_map_agrees_with_a_dict_through_merges_and_row_reuse() -> None:
    """Inserts, releases and reused rows across many merges: every look-up matches a plain dict."""
    rng = random.Random(1)
    table = Table({"hi": np.int64, "lo": np.int64})
    keys = KeyMap(table, "hi", "lo", merge_at=9)
    reference: dict[tuple[int, int], int] = {}
    for _ in range(4000):
        # Shared halves on purpose: IDs built from counters differ in one half only.
        code = (rng.randrange(-40, 40), rng.randrange(3))
        if rng.random() < 0.6 and code not in reference:
            row = table.allocate()
            table.cols["hi"][row], table.cols["lo"][row] = code
            keys.put(code, row)
            reference[code] = row
        elif reference and rng.random() < 0.5:
            gone = rng.choice(list(reference))
            keys.discard(gone)
            table.release([reference.pop(gone)])
        for probe in [code, *list(reference)[:5]]:
            assert keys.get(probe) == reference.get(probe)


def test_order_queue_pops_like_a_heap_on_versioncreated_then_insertion() -> None:
    """Oldest (vc, seq) first, across rebuilds, skipping released rows: what heapq would give."""
    rng = random.Random(2)
    table = Table({"vc": np.float64, "seq": np.int64})
    order = OrderQueue(table)
    alive: dict[int, tuple[float, int]] = {}
    for seq in range(6000):
        row = table.allocate()
        vc = float(rng.randrange(100))
        table.cols["vc"][row], table.cols["seq"][row] = vc, seq
        order.push(vc, seq, row)
        alive[row] = (vc, seq)
        if rng.random() < 0.3:
            oldest = order.oldest()
            expected = min(alive.items(), key=lambda item: item[1])
            assert oldest == (expected[1][0], expected[0])
            table.release([expected[0]])
            del alive[expected[0]]


def test_a_table_grown_past_the_mapped_size_keeps_every_row() -> None:
    """Columns move to memory maps of their own as they grow (from 1 MiB); rows and matrices survive."""
    table = Table({"n": np.int64, "flag": np.uint8})
    table.add_matrix("sig", 128, np.uint16)
    rows = [table.allocate() for _ in range(20_000)]  # the sig matrix passes 1 MiB at 4,096 rows
    for row in rows:
        table.cols["n"][row] = row * 3
        table.cols["sig"][row] = row % 65_536
    assert table.cols["n"][: table.end].tolist() == [row * 3 for row in rows]
    assert table.cols["sig"][rows[-1]].tolist() == [rows[-1] % 65_536] * 128
    assert table.live[: table.end].all() and not table.live[table.end :].any()
    big = zeros((1 << 18, 2), np.dtype(np.int32))
    assert big.shape == (1 << 18, 2) and not big.any() and big.flags.writeable
