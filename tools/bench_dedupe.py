"""Lookups per second and bytes per story with 100,000 and 1,000,000 stories in state.

Usage: python tools/bench_dedupe.py [--sizes 100000,1000000] [--backends memory,sqlite] [--lookups 2000]

State is filled with synthetic stories (random MinHash signatures, one event
and one item each) through the stores' bulk path, then measured with the
real decide() on fresh articles (signature + band lookup + verification +
commit) and with bare band lookups. Bytes per story: for SQLite the file size
after a checkpoint plus the in-memory band index; for memory the growth of
the process's resident set (includes what the allocator keeps from the fill)
and the store's own arrays and indexes (`MemoryStore.nbytes`). Prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np

from service.dedupe import Deduplicator, MemoryStore, SqliteStore
from service.dedupe.decide import Claim, ItemState, Outcome, RecordedEvent
from service.dedupe.minhash import band_key_matrix, lsh_params
from service.dedupe.store import StoryEntry, Write
from service.dedupe.testing import BASE_TIME, make_article
from service.models import Relation
from service.settings import DedupeBackend, DedupeSettings

_PAGE = 4096


def rss_bytes() -> int:
    with Path("/proc/self/statm").open() as handle:
        return int(handle.read().split()[1]) * _PAGE


def synthetic_writes(count: int, settings: DedupeSettings, seed: int = 7) -> Iterator[Write]:
    rng = np.random.default_rng(seed)
    params = lsh_params(settings.threshold, settings.num_perm)
    start = (BASE_TIME - timedelta(days=1)).timestamp()
    chunk = 50_000
    for base in range(0, count, chunk):
        size = min(chunk, count - base)
        sigs = rng.integers(0, 2**32, size=(size, settings.num_perm), dtype=np.uint32)
        keys = band_key_matrix(sigs, params).tolist()
        for row in range(size):
            n = base + row
            # Cheap distinct IDs: deriving a million uuid5s would dominate the fill time.
            content = f"{n:064x}"
            eid = str(uuid.UUID(int=(1 << 100) | n))
            sid = str(uuid.UUID(int=(2 << 100) | n))
            created = start + n * 0.05
            outcome = Outcome(relation=Relation.NEW, story_id=sid)
            yield Write(
                event=RecordedEvent(eid, Claim("wire.raw", n % 3, n, 0), outcome, created),
                item_key=sid,
                expected_item_event=None,
                item=ItemState(eid, "1", created, content, sid),
                story=StoryEntry(eid, sid, sigs[row], tuple(keys[row]), created),
            )


def fresh_articles(count: int, seed: int = 11) -> list:  # type: ignore[type-arg]
    rng = random.Random(seed)
    vocabulary = [f"w{n}" for n in range(20_000)]
    return [
        make_article(
            source="bench-new",
            item_id=f"fresh-{n}",
            headline=" ".join(rng.choice(vocabulary) for _ in range(8)),
            body=" ".join(rng.choice(vocabulary) for _ in range(250)),
            versioncreated=BASE_TIME + timedelta(seconds=n),
            offset=n,
        )
        for n in range(count)
    ]


async def measure(backend: str, size: int, lookups: int, workdir: Path) -> dict[str, float]:
    settings = DedupeSettings(
        backend=DedupeBackend(backend),
        sqlite_path=workdir / f"bench-{size}.sqlite3",
        max_stories=size * 2,
        window_days=1e6,
    )
    rss_before = rss_bytes()
    started = time.perf_counter()
    store: MemoryStore | SqliteStore
    if backend == "memory":
        store = MemoryStore(window_seconds=settings.window_days * 86_400, max_stories=settings.max_stories)
    else:
        store = SqliteStore.open(settings)
    store.bulk_insert(synthetic_writes(size, settings))
    fill = time.perf_counter() - started
    result: dict[str, float] = {"fill_s": fill}
    if isinstance(store, SqliteStore):
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        disk = sum(p.stat().st_size for p in workdir.glob(f"bench-{size}.sqlite3*"))  # noqa: ASYNC240
        result["disk_bytes_per_story"] = disk / size
        result["ram_bytes_per_story"] = store.index_bytes / size
        await store.close()
        started = time.perf_counter()
        store = SqliteStore.open(settings)
        result["reopen_s"] = time.perf_counter() - started
    else:
        result["ram_bytes_per_story"] = (rss_bytes() - rss_before) / size
        result["struct_bytes_per_story"] = store.nbytes / size
    dedupe = Deduplicator(store, settings)
    params = lsh_params(settings.threshold, settings.num_perm)
    probe = band_key_matrix(
        np.random.default_rng(3).integers(0, 2**32, size=(lookups, settings.num_perm), dtype=np.uint32),
        params,
    )
    started = time.perf_counter()
    for row in probe:
        await store.candidates(tuple(int(k) for k in row))
    result["band_lookups_per_s"] = lookups / (time.perf_counter() - started)
    articles = fresh_articles(lookups)
    started = time.perf_counter()
    for article in articles:
        await dedupe.decide(article)
    result["decides_per_s"] = lookups / (time.perf_counter() - started)
    repeat = [
        a.model_copy(update={"lineage": a.lineage.model_copy(update={"offset": a.lineage.offset + 10**7})})
        for a in articles
    ]
    started = time.perf_counter()
    for article in repeat:
        await dedupe.decide(article)
    result["redelivery_checks_per_s"] = lookups / (time.perf_counter() - started)
    result["stories"] = dedupe.state_size()
    await dedupe.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--backends", default="memory,sqlite")
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args(argv)
    settings = DedupeSettings()
    params = lsh_params(settings.threshold, settings.num_perm)
    print(
        f"settings: shingle_size={settings.shingle_size} num_perm={settings.num_perm} "
        f"threshold={settings.threshold} bands={params.bands}x{params.rows}"
    )
    header = (
        f"{'backend':<8} {'stories':>9} {'fill s':>7} {'reopen s':>8} {'decide/s':>9} {'redeliv/s':>9} "
        f"{'bands/s':>9} {'disk B/st':>9} {'RAM B/st':>9} {'arrays B/st':>11}"
    )
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            for backend in args.backends.split(","):
                r = asyncio.run(measure(backend, size, args.lookups, Path(tmp)))
                print(
                    f"{backend:<8} {int(r['stories']):>9} {r['fill_s']:>7.1f} "
                    f"{r.get('reopen_s', float('nan')):>8.2f} {r['decides_per_s']:>9.0f} "
                    f"{r['redelivery_checks_per_s']:>9.0f} {r['band_lookups_per_s']:>9.0f} "
                    f"{r.get('disk_bytes_per_story', float('nan')):>9.0f} {r['ram_bytes_per_story']:>9.0f} "
                    f"{r.get('struct_bytes_per_story', float('nan')):>11.0f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
