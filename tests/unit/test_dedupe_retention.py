"""Retention: a partition that lags another by more than the window gets its decisions back on redelivery.

Issue 11, item 7. Partition 0 lags: its last records were decided but not committed when
the instance crashed, while partition 1 had moved days of news ahead, which clocks the
window past partition 0's decisions. Redelivered, partition 0's records must be decided
exactly as before; once partition 0 commits, its old decisions may go like any other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from service.dedupe import Deduplicator, MemoryStore, SqliteStore
from service.dedupe.decide import item_key
from service.dedupe.samples import XI_ALIYEV, XI_ALIYEV_HEADLINE, XI_PUTIN, XI_PUTIN_HEADLINE
from service.dedupe.store import DedupeStore
from service.dedupe.testing import BASE_TIME, make_article
from service.models import CanonicalArticle, Relation
from service.settings import DedupeBackend, DedupeSettings

RAW = "wire.raw"
WINDOW_DAYS = 1.0
AHEAD = timedelta(days=3)  # partition 1's news runs this far ahead of partition 0's: beyond the window


@pytest.fixture(params=["memory", "sqlite"])
async def dedupe(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Deduplicator]:
    # A small max_stories makes every story commit evict, as a busy store does every 1024 commits.
    settings = DedupeSettings(
        backend=DedupeBackend(request.param),
        sqlite_path=tmp_path / "state.sqlite3",
        window_days=WINDOW_DAYS,
        max_stories=4,
    )
    store: DedupeStore
    if request.param == "memory":
        store = MemoryStore(window_seconds=WINDOW_DAYS * 86_400, max_stories=settings.max_stories)
    else:
        store = SqliteStore.open(settings)
    deduplicator = Deduplicator(store, settings)
    yield deduplicator
    await deduplicator.close()


def _lagging() -> tuple[list[CanonicalArticle], list[CanonicalArticle]]:
    """Partition 0: v1 of an item and an original (committed), then v2 and a resend (not committed)."""
    v1 = make_article(item_id="x", headline=XI_ALIYEV_HEADLINE, body=XI_ALIYEV, partition=0, offset=0)
    original = make_article(item_id="o", headline=XI_PUTIN_HEADLINE, body=XI_PUTIN, partition=0, offset=1)
    v2 = make_article(
        item_id="x",
        version="2",
        headline=XI_ALIYEV_HEADLINE,
        body=XI_ALIYEV + "\n\nUpdated with the closing statement.",
        versioncreated=BASE_TIME + timedelta(hours=1),
        partition=0,
        offset=2,
    )
    resend = original.model_copy(update={"lineage": original.lineage.model_copy(update={"offset": 3})})
    return [v1, original], [v2, resend]


def _ahead(count: int, first: int = 0) -> list[CanonicalArticle]:
    """Partition 1 from offset `first`: unrelated stories, AHEAD of partition 0's news."""
    return [
        make_article(
            source="wire-z",
            item_id=f"z-{n}",
            headline=f"Later story {n}",
            body=" ".join(f"z{n}w{i}" for i in range(15)),
            versioncreated=BASE_TIME + AHEAD + timedelta(minutes=n),
            partition=1,
            offset=n,
        )
        for n in range(first, first + count)
    ]


async def test_a_lagging_partition_is_decided_alike_on_redelivery(dedupe: Deduplicator) -> None:
    """Partition 1 runs a window ahead while partition 0's last decisions wait for their commit: they stay."""
    committed, pending = _lagging()
    for article in committed:
        await dedupe.decide(article)
    await dedupe.committed({(RAW, 0): 2})
    first = [await dedupe.decide(article) for article in pending]
    assert [a.dedupe.relation for a in first] == [Relation.UPDATE, Relation.REDELIVERY]
    for article in _ahead(12):
        await dedupe.decide(article)
    await dedupe.committed({(RAW, 1): 12})

    # The crash: partition 0 is redelivered from its committed offset 2.
    again = [await dedupe.decide(article) for article in pending]
    assert [a.model_dump_json() for a in again] == [a.model_dump_json() for a in first]


async def test_decisions_leave_with_the_window_once_their_offsets_are_committed(dedupe: Deduplicator) -> None:
    """Holds do not keep state forever: after partition 0 commits, the next eviction takes its old events."""
    committed, pending = _lagging()
    for article in committed + pending:
        await dedupe.decide(article)
    await dedupe.committed({(RAW, 0): 4})
    for article in _ahead(12):
        await dedupe.decide(article)
    store = dedupe.store
    for article in committed + pending:
        assert (await store.snapshot(article.event_id, item_key(article))).recorded is None


async def test_a_resend_holds_the_decision_it_was_answered_with(dedupe: Deduplicator) -> None:
    """The original's own offset is committed, the resend's is not: the original's record must stay."""
    committed, pending = _lagging()
    original, resend = committed[1], pending[1]
    await dedupe.decide(original)
    await dedupe.committed({(RAW, 0): 2})
    first = await dedupe.decide(resend)
    for article in _ahead(12):
        await dedupe.decide(article)
    await dedupe.committed({(RAW, 1): 12})
    again = await dedupe.decide(resend)
    assert (again.dedupe.relation, again.duplicate_of) == (Relation.REDELIVERY, original.event_id)
    assert again == first
    await dedupe.committed({(RAW, 0): 4})  # the resend is committed too: now the record may go
    for article in _ahead(12, first=12):
        await dedupe.decide(article)
    assert (await dedupe.store.snapshot(original.event_id, item_key(original))).recorded is None


async def test_the_memory_backend_decides_again_after_a_restart() -> None:
    """What the README warns of: memory state dies with the process, so a record redelivered after a
    restart gets another decision (an update becomes NEW, a resend NEW) where SQLite and Redis repeat it."""
    settings = DedupeSettings(backend=DedupeBackend.MEMORY, window_days=WINDOW_DAYS)
    committed, pending = _lagging()
    before = Deduplicator(MemoryStore(window_seconds=WINDOW_DAYS * 86_400, max_stories=100), settings)
    for article in committed:
        await before.decide(article)
    first = [await before.decide(article) for article in pending]
    await before.close()
    after = Deduplicator(MemoryStore(window_seconds=WINDOW_DAYS * 86_400, max_stories=100), settings)
    again = [await after.decide(article) for article in pending]
    assert [a.dedupe.relation for a in first] == [Relation.UPDATE, Relation.REDELIVERY]
    assert [a.dedupe.relation for a in again] == [Relation.NEW, Relation.NEW]
