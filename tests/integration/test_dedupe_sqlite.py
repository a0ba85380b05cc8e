"""The SQLite file backend across restarts: state, decisions and the rebuilt band index survive."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from service.dedupe import Deduplicator, SqliteStore, open_deduplicator
from service.dedupe.samples import (
    RESULTS_ACME,
    RESULTS_GLOBEX,
    RESULTS_HEADLINE,
    XI_ALIYEV,
    XI_ALIYEV_HEADLINE,
    XI_ALIYEV_REPRINT,
    XI_ALIYEV_REPRINT_HEADLINE,
)
from service.dedupe.testing import make_article
from service.errors import ConfigError, StoreUnavailableError
from service.models import Relation
from service.settings import DedupeBackend, DedupeSettings

pytestmark = pytest.mark.integration


def _settings(tmp_path: Path, **kw: object) -> DedupeSettings:
    fields: dict[str, object] = {
        "backend": DedupeBackend.SQLITE,
        "sqlite_path": tmp_path / "dedupe.sqlite3",
        **kw,
    }
    return DedupeSettings.model_validate(fields)


async def test_restart_keeps_stories_items_and_recorded_decisions(tmp_path: Path) -> None:
    """After a restart: reprints still match, versions still chain, a claimed record gets its decision."""
    settings = _settings(tmp_path)
    first = await open_deduplicator(settings)
    original = await first.decide(make_article(headline=XI_ALIYEV_HEADLINE, body=XI_ALIYEV, offset=1))
    update = await first.decide(
        make_article(headline=XI_ALIYEV_HEADLINE, body=XI_ALIYEV + " More.", version="2", offset=2)
    )
    await first.close()

    second = await open_deduplicator(settings)
    try:
        assert second.state_size() == 2
        crashed = await second.decide(
            make_article(headline=XI_ALIYEV_HEADLINE, body=XI_ALIYEV + " More.", version="2", offset=2)
        )
        redelivered = await second.decide(make_article(headline=XI_ALIYEV_HEADLINE, body=XI_ALIYEV, offset=9))
        dup = await second.decide(
            make_article(
                source="wire-b", item_id="b-1", headline=XI_ALIYEV_REPRINT_HEADLINE, body=XI_ALIYEV_REPRINT
            )
        )
        v3 = await second.decide(
            make_article(headline=XI_ALIYEV_HEADLINE, body="Third version.", version="3", offset=3)
        )
    finally:
        await second.close()
    assert crashed == update
    assert redelivered.dedupe.relation is Relation.REDELIVERY
    assert dup.dedupe.relation is Relation.NEAR_DUPLICATE and dup.story_id == original.story_id
    assert (v3.dedupe.relation, v3.supersedes) == (Relation.UPDATE, update.event_id)


async def test_file_is_in_wal_mode_and_stores_compact_rows(tmp_path: Path) -> None:
    """WAL journal, and a story row holds the signature as num_perm uint32 values, not the text."""
    settings = _settings(tmp_path)
    store = SqliteStore.open(settings)
    await store.close()
    conn = sqlite3.connect(settings.sqlite_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    dedupe = await open_deduplicator(settings)
    await dedupe.decide(make_article(headline=XI_ALIYEV_HEADLINE, body=XI_ALIYEV))
    await dedupe.close()
    conn = sqlite3.connect(settings.sqlite_path)
    (sig_len,) = conn.execute("SELECT length(sig) FROM stories").fetchone()
    conn.close()
    assert sig_len == settings.num_perm * 4


async def test_reopening_with_other_signature_settings_is_refused(tmp_path: Path) -> None:
    """Signatures made with another shingle size cannot be compared: opening fails loudly."""
    dedupe = await open_deduplicator(_settings(tmp_path))
    await dedupe.close()
    with pytest.raises(ConfigError):
        SqliteStore.open(_settings(tmp_path, shingle_size=2))


async def test_figures_survive_a_restart_and_old_files_gain_the_column(tmp_path: Path) -> None:
    """A file from before the figures check opens (stories without figures); new stories keep theirs."""
    settings = _settings(tmp_path)
    SqliteStore.open(settings)._conn.execute("ALTER TABLE stories DROP COLUMN numbers")
    first = await open_deduplicator(settings)
    await first.decide(make_article(item_id="acme", headline=RESULTS_HEADLINE, body=RESULTS_ACME))
    await first.close()
    second = await open_deduplicator(settings)
    try:
        other = await second.decide(
            make_article(item_id="globex", headline=RESULTS_HEADLINE, body=RESULTS_GLOBEX)
        )
    finally:
        await second.close()
    assert other.dedupe.relation is Relation.NEW


async def test_a_locked_file_is_an_outage_that_never_blocks_the_event_loop(tmp_path: Path) -> None:
    """Another connection holds the write lock (a replay): decide raises StoreUnavailableError after the
    busy timeout, the event loop keeps running meanwhile, and the same record goes through once it is free."""
    settings = _settings(tmp_path, sqlite_busy_timeout_seconds=0.3)
    dedupe = await open_deduplicator(settings)
    locker = sqlite3.connect(settings.sqlite_path, isolation_level=None)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    article = make_article(headline=XI_ALIYEV_HEADLINE, body=XI_ALIYEV)
    try:
        locker.execute("BEGIN IMMEDIATE")
        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0)
        ticks = 0
        with pytest.raises(StoreUnavailableError):
            await dedupe.decide(article)
        ticker.cancel()
        assert ticks > 1, "the event loop stood still while SQLite waited for the lock"
        locker.execute("ROLLBACK")
        assert (await dedupe.decide(article)).dedupe.relation is Relation.NEW
    finally:
        locker.close()
        await dedupe.close()


async def test_a_full_disk_is_an_outage_that_heals(tmp_path: Path) -> None:
    """The file cannot grow (SQLITE_FULL, here through max_page_count): held as an outage, not a bug."""
    settings = _settings(tmp_path)
    store = SqliteStore.open(settings)
    dedupe = Deduplicator(store, settings)
    try:
        await dedupe.decide(make_article(item_id="first", body=" ".join(f"a{i}" for i in range(40))))
        (pages,) = store._conn.execute("PRAGMA page_count").fetchone()
        store._conn.execute(f"PRAGMA max_page_count = {pages}")
        bulky = [
            make_article(item_id=f"bulk-{n}", body=" ".join(f"b{n}w{i}" for i in range(400)), offset=n)
            for n in range(1, 200)
        ]
        with pytest.raises(StoreUnavailableError, match="SQLITE_FULL"):
            for article in bulky:
                await dedupe.decide(article)
        store._conn.execute("PRAGMA max_page_count = 1073741823")
        for article in bulky:
            assert (await dedupe.decide(article)).dedupe.relation is Relation.NEW
    finally:
        await dedupe.close()


async def test_concurrent_decisions_on_the_store_thread_publish_each_story_once(tmp_path: Path) -> None:
    """Forty decisions at once: their reads and commits interleave between hops to the store's thread,
    and the optimistic check still lets exactly one copy of each story be NEW."""
    settings = _settings(tmp_path)
    dedupe = await open_deduplicator(settings)
    words = [f"w{n}" for n in range(4000)]
    originals = [
        make_article(item_id=f"a-{n}", headline=f"Story {n}", body=" ".join(words[n * 60 : n * 60 + 60]))
        for n in range(20)
    ]
    copies = [
        make_article(source="wire-b", item_id=f"b-{n}", headline=a.headline, body=a.body_text + " Wire B.")
        for n, a in enumerate(originals)
    ]
    try:
        pairs = zip(originals, copies, strict=True)
        results = await asyncio.gather(*(dedupe.decide(a) for pair in pairs for a in pair))
    finally:
        await dedupe.close()
    by_story: dict[str, list[str]] = {}
    for result in results:
        by_story.setdefault(result.story_id, []).append(result.dedupe.relation.value)
    assert sorted(map(sorted, by_story.values())) == [["near_duplicate", "new"]] * 20
