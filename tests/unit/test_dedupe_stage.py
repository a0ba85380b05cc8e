"""The dedupe stage end to end on the in-process backends (memory and SQLite file)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from service.dedupe import Deduplicator, MemoryStore, SqliteStore
from service.dedupe.decide import Candidate, Claim, Outcome, RecordedEvent, Snapshot
from service.dedupe.deduplicator import fingerprint
from service.dedupe.minhash import band_keys, lsh_params
from service.dedupe.samples import (
    RESULTS_ACME,
    RESULTS_ACME_REPRINT,
    RESULTS_GLOBEX,
    RESULTS_HEADLINE,
    XI_ALIYEV,
    XI_ALIYEV_HEADLINE,
    XI_ALIYEV_REPRINT,
    XI_ALIYEV_REPRINT_HEADLINE,
    XI_PUTIN,
    XI_PUTIN_HEADLINE,
)
from service.dedupe.store import DedupeStore, StoryEntry, Write
from service.dedupe.testing import BASE_TIME, make_article
from service.errors import StoreUnavailableError
from service.models import CanonicalArticle, PubStatus, Relation
from service.settings import DedupeBackend, DedupeSettings


@pytest.fixture(params=["memory", "sqlite"])
async def dedupe(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Deduplicator]:
    settings = DedupeSettings(backend=DedupeBackend(request.param), sqlite_path=tmp_path / "state.sqlite3")
    store: DedupeStore
    if request.param == "memory":
        store = MemoryStore(window_seconds=settings.window_days * 86_400, max_stories=settings.max_stories)
    else:
        store = SqliteStore.open(settings)
    deduplicator = Deduplicator(store, settings)
    yield deduplicator
    await deduplicator.close()


def _filler(n: int) -> str:
    """A short text sharing no word with any other filler."""
    return " ".join(f"f{n}x{i}" for i in range(12))


def aliyev(**kw: object) -> CanonicalArticle:
    fields: dict[str, object] = {"headline": XI_ALIYEV_HEADLINE, "body": XI_ALIYEV, **kw}
    return make_article(**fields)  # type: ignore[arg-type]


async def test_first_sighting_is_new_on_its_own_story(dedupe: Deduplicator) -> None:
    """An article never seen is NEW, keeps its default story and explains the decision."""
    article = aliyev()
    out = await dedupe.decide(article)
    assert out.dedupe.relation is Relation.NEW
    assert out.story_id == article.story_id
    assert (out.supersedes, out.duplicate_of, out.dedupe.method) == (None, None, "none")
    assert dedupe.state_size() == 1


async def test_redelivery_from_another_record_is_not_published_again(dedupe: Deduplicator) -> None:
    """Same source, item, version and content from another offset is a REDELIVERY."""
    first = await dedupe.decide(aliyev(offset=1))
    again = await dedupe.decide(aliyev(offset=2))
    assert again.dedupe.relation is Relation.REDELIVERY
    assert again.dedupe.matched_event_id == first.event_id
    assert again.story_id == first.story_id
    assert dedupe.state_size() == 1


async def test_same_record_after_a_crash_is_republished_with_the_same_decision(dedupe: Deduplicator) -> None:
    """At-least-once: the record that claimed a decision gets exactly that decision again."""
    await dedupe.decide(aliyev(offset=1))
    update = aliyev(offset=5, version="2", body=XI_ALIYEV + "\n\nUpdates with border details.")
    first = await dedupe.decide(update)
    redelivered = await dedupe.decide(update)
    replayed = await dedupe.decide(
        update.model_copy(update={"lineage": update.lineage.model_copy(update={"replay": True})})
    )
    assert first.dedupe.relation is Relation.UPDATE
    assert redelivered == first
    assert replayed.dedupe == first.dedupe and replayed.supersedes == first.supersedes


async def test_new_version_supersedes_and_late_older_version_is_stale(dedupe: Deduplicator) -> None:
    """v2 supersedes v1 on the same story; v1 again with other content after v2 is STALE."""
    v1 = await dedupe.decide(aliyev(version="1", offset=1))
    v3 = await dedupe.decide(aliyev(version="3", offset=2, body=XI_ALIYEV + "\n\nAdds detail."))
    v2 = await dedupe.decide(aliyev(version="2", offset=3, body=XI_ALIYEV + "\n\nFirst correction."))
    assert v3.dedupe.relation is Relation.UPDATE
    assert (v3.supersedes, v3.story_id) == (v1.event_id, v1.story_id)
    assert v2.dedupe.relation is Relation.STALE
    assert v2.dedupe.matched_event_id == v3.event_id and v2.supersedes is None
    v4 = await dedupe.decide(aliyev(version="4", offset=4, body=XI_ALIYEV + "\n\nSecond correction."))
    assert v4.supersedes == v3.event_id


async def test_kill_is_published_on_the_items_story(dedupe: Deduplicator) -> None:
    """A canceled item is a KILL event on its story, superseding the latest version."""
    v1 = await dedupe.decide(aliyev(offset=1))
    kill = await dedupe.decide(
        aliyev(version="2", offset=2, body="This story has been withdrawn.", pubstatus=PubStatus.CANCELED)
    )
    assert kill.dedupe.relation is Relation.KILL
    assert (kill.story_id, kill.supersedes) == (v1.story_id, v1.event_id)


async def test_kill_of_a_near_duplicate_goes_on_the_story_it_joined(dedupe: Deduplicator) -> None:
    """A reprint's kill notice retracts it on the story it was attached to."""
    original = await dedupe.decide(aliyev())
    reprint = make_article(
        source="wire-b", item_id="b-77", headline=XI_ALIYEV_REPRINT_HEADLINE, body=XI_ALIYEV_REPRINT
    )
    dup = await dedupe.decide(reprint)
    kill = await dedupe.decide(
        make_article(
            source="wire-b", item_id="b-77", version="2", body="Withdrawn.", pubstatus=PubStatus.WITHHELD
        )
    )
    assert dup.story_id == original.story_id
    assert (kill.dedupe.relation, kill.story_id, kill.supersedes) == (
        Relation.KILL,
        original.story_id,
        dup.event_id,
    )


async def test_reprint_from_another_feed_is_a_near_duplicate(dedupe: Deduplicator) -> None:
    """Other boilerplate, dropped credit line, one rewording: same story, not republished."""
    original = await dedupe.decide(aliyev())
    reprint = await dedupe.decide(
        make_article(
            source="wire-b", item_id="b-1", headline=XI_ALIYEV_REPRINT_HEADLINE, body=XI_ALIYEV_REPRINT
        )
    )
    assert reprint.dedupe.relation is Relation.NEAR_DUPLICATE
    assert reprint.duplicate_of == original.event_id == reprint.dedupe.matched_event_id
    assert reprint.story_id == original.story_id
    assert reprint.dedupe.method == "minhash_lsh"
    assert reprint.dedupe.similarity is not None and reprint.dedupe.similarity >= 0.5
    assert dedupe.state_size() == 1


async def test_other_meeting_same_place_same_day_is_not_merged(dedupe: Deduplicator) -> None:
    """'Xi meets Aliyev' and 'Xi meets Putin' (Samarkand, same day, same wire style) stay two stories."""
    first = await dedupe.decide(aliyev())
    other = await dedupe.decide(
        make_article(source="wire-a", item_id="item-2", headline=XI_PUTIN_HEADLINE, body=XI_PUTIN, offset=1)
    )
    reprint_elsewhere = await dedupe.decide(
        make_article(
            source="wire-c",
            item_id="c-9",
            headline=XI_PUTIN_HEADLINE,
            body=XI_PUTIN.replace("Reuters", "Wire C"),
        )
    )
    assert other.dedupe.relation is Relation.NEW
    assert other.story_id != first.story_id
    assert reprint_elsewhere.dedupe.relation is Relation.NEAR_DUPLICATE
    assert reprint_elsewhere.story_id == other.story_id


async def test_results_template_with_other_figures_is_a_new_story(dedupe: Deduplicator) -> None:
    """Another company's results in the same template stay apart; the reprint of the first one joins it."""
    acme = await dedupe.decide(make_article(item_id="acme", headline=RESULTS_HEADLINE, body=RESULTS_ACME))
    globex = await dedupe.decide(
        make_article(item_id="globex", headline=RESULTS_HEADLINE, body=RESULTS_GLOBEX)
    )
    reprint = await dedupe.decide(
        make_article(source="wire-b", item_id="b-acme", headline=RESULTS_HEADLINE, body=RESULTS_ACME_REPRINT)
    )
    assert globex.dedupe.relation is Relation.NEW
    assert reprint.dedupe.relation is Relation.NEAR_DUPLICATE
    assert reprint.story_id == acme.story_id


async def test_replaying_a_whole_sequence_gives_identical_decisions(dedupe: Deduplicator) -> None:
    """Every record of a run, processed again, yields byte-identical outputs."""
    records = [
        aliyev(offset=0),
        aliyev(offset=1),
        make_article(
            source="wire-b",
            item_id="b-1",
            headline=XI_ALIYEV_REPRINT_HEADLINE,
            body=XI_ALIYEV_REPRINT,
            offset=2,
        ),
        aliyev(version="2", offset=3, body=XI_ALIYEV + "\n\nMore."),
        aliyev(version="1", offset=4, body=XI_ALIYEV + "\n\nOlder correction."),
        make_article(item_id="item-2", headline=XI_PUTIN_HEADLINE, body=XI_PUTIN, offset=5),
        aliyev(version="3", offset=6, body="Withdrawn.", pubstatus=PubStatus.CANCELED),
    ]
    first = [await dedupe.decide(r) for r in records]
    second = [await dedupe.decide(r) for r in records]
    assert [o.dedupe.relation for o in first] == [
        Relation.NEW,
        Relation.REDELIVERY,
        Relation.NEAR_DUPLICATE,
        Relation.UPDATE,
        Relation.STALE,
        Relation.NEW,
        Relation.KILL,
    ]
    assert [o.model_dump_json() for o in second] == [o.model_dump_json() for o in first]


async def test_stories_older_than_the_window_are_evicted(tmp_path: Path) -> None:
    """Once versioncreated has moved past the window, old stories no longer match and the size drops."""
    for store in (
        MemoryStore(window_seconds=86_400, max_stories=10_000),
        SqliteStore.open(DedupeSettings(window_days=1, sqlite_path=tmp_path / "w.sqlite3")),
    ):
        dedupe = Deduplicator(store, DedupeSettings(window_days=1))
        await dedupe.decide(aliyev())
        later = BASE_TIME + timedelta(days=3)
        for n in range(1100):  # enough commits to trigger the periodic eviction
            await dedupe.decide(make_article(item_id=f"filler-{n}", body=_filler(n), versioncreated=later))
        assert dedupe.state_size() == 1100
        reprint = make_article(
            source="wire-b",
            item_id="b-1",
            headline=XI_ALIYEV_REPRINT_HEADLINE,
            body=XI_ALIYEV_REPRINT,
            versioncreated=later,
        )
        assert (await dedupe.decide(reprint)).dedupe.relation is Relation.NEW
        await dedupe.close()


async def test_state_is_bounded_by_max_stories(tmp_path: Path) -> None:
    """Beyond max_stories the oldest stories go first; the size never exceeds the bound."""
    for store in (
        MemoryStore(window_seconds=1e9, max_stories=5),
        SqliteStore.open(DedupeSettings(max_stories=5, sqlite_path=tmp_path / "b.sqlite3")),
    ):
        dedupe = Deduplicator(store, DedupeSettings(max_stories=5))
        for n in range(12):
            vc = BASE_TIME + timedelta(minutes=n)
            await dedupe.decide(make_article(item_id=f"i-{n}", body=_filler(n), versioncreated=vc))
            assert dedupe.state_size() <= 5
        assert dedupe.state_size() == 5
        await dedupe.close()


def _mixed_stream(count: int) -> list[CanonicalArticle]:
    """Reprints, versions, kills and redeliveries (the same item in a later record) of a few texts."""
    texts = [(XI_ALIYEV_HEADLINE, XI_ALIYEV), (XI_PUTIN_HEADLINE, XI_PUTIN)]
    texts += [(XI_ALIYEV_REPRINT_HEADLINE, XI_ALIYEV_REPRINT)] + [("Filler", _filler(n)) for n in range(6)]
    records: list[CanonicalArticle] = []
    for n in range(count):
        headline, body = texts[(n * 7) % len(texts)]
        for offset in (n, n + 10_000) if n % 9 == 0 else (n,):
            records.append(
                make_article(
                    source=("a", "b", "c")[n % 3],
                    item_id=f"i-{(n * 5) % 37}",
                    version=str(1 + n % 4),
                    headline=headline,
                    body=body if n % 5 else body.replace("the", "a", 2),
                    versioncreated=BASE_TIME + timedelta(minutes=n),
                    pubstatus=PubStatus.CANCELED if n % 17 == 16 else PubStatus.USABLE,
                    offset=offset,
                )
            )
    return records


async def test_memory_and_sqlite_decide_a_mixed_stream_alike(tmp_path: Path) -> None:
    """Reprints, versions, kills, redeliveries and eviction at max_stories: both backends agree."""
    records = _mixed_stream(120)
    outputs = []
    for store in (
        MemoryStore(window_seconds=1e9, max_stories=4),
        SqliteStore.open(DedupeSettings(max_stories=4, sqlite_path=tmp_path / "mixed.sqlite3")),
    ):
        dedupe = Deduplicator(store, DedupeSettings(max_stories=4))
        outputs.append([(await dedupe.decide(r)).model_dump_json() for r in records])
        assert dedupe.state_size() == 4
        await dedupe.close()
    assert outputs[0] == outputs[1]
    relations = {o.split('"relation":"')[1].split('"')[0] for o in outputs[0]}
    assert {"new", "near_duplicate", "update", "stale", "kill"} <= relations


async def test_a_short_key_collision_in_the_memory_index_changes_no_decision(tmp_path: Path) -> None:
    """A stored story whose band keys equal the article's in their low 32 bits only (the memory
    index finds it, SQLite's does not) and that would match on its signature is not compared."""
    settings = DedupeSettings(sqlite_path=tmp_path / "collide.sqlite3")
    article = aliyev()
    known = fingerprint(article, settings)
    assert known.signature is not None
    params = lsh_params(settings.threshold, settings.num_perm)
    near = known.signature.copy()
    near[:: params.rows] ^= np.uint32(1)  # one value per band differs: no band agrees, J ~ 0.75
    stored = Write(
        event=RecordedEvent("e-stored", Claim("wire.raw", 0, 1, 0), Outcome(Relation.NEW, "s-stored"), 0.0),
        item_key="other-item",
        expected_item_event=None,
        item=None,
        story=StoryEntry("e-stored", "s-stored", near, tuple(k ^ (1 << 40) for k in known.band_keys), 0.0),
    )
    memory = MemoryStore(window_seconds=1e12, max_stories=10)
    sqlite = SqliteStore.open(settings)
    memory.bulk_insert([stored])
    sqlite.bulk_insert([stored])
    assert [c.event_id for c in memory.candidates_now(known.band_keys)] == ["e-stored"]
    assert sqlite.candidates_now(known.band_keys) == []
    decided = []
    for store in (memory, sqlite):
        dedupe = Deduplicator(store, settings)
        decided.append(await dedupe.decide(article))
        await dedupe.close()
    assert decided[0] == decided[1]
    assert decided[0].dedupe.relation is Relation.NEW


@pytest.mark.parametrize("max_stories", [4, 1_000_000])
async def test_decisions_taken_ahead_for_a_round_equal_those_taken_one_by_one(
    tmp_path: Path, max_stories: int
) -> None:
    """decide_ahead (one trip to the store for a round) gives every article the decision `decide`
    would have given it alone, redeliveries and near-duplicates inside the same round included,
    and stories evicted past max_stories (after the round's commit) alike."""
    records = _mixed_stream(60)
    outputs = []
    for ahead in (False, True):
        settings = DedupeSettings(max_stories=max_stories, sqlite_path=tmp_path / f"ahead-{ahead}.sqlite3")
        dedupe = Deduplicator(SqliteStore.open(settings), settings)
        decided: list[str] = []
        for start in range(0, len(records), 16):  # rounds of 16 records
            round_ = records[start : start + 16]
            if ahead:
                await dedupe.decide_ahead([(article, None) for article in round_])
                assert len(dedupe._ahead) == len(round_)
            decided += [(await dedupe.decide(article)).model_dump_json() for article in round_]
        outputs.append(decided)
        await dedupe.close()
    assert outputs[0] == outputs[1]


async def test_a_failure_inside_a_round_decided_ahead_leaves_the_rest_to_decide(tmp_path: Path) -> None:
    """The store failing at the third write of a round (the fourth decision: a redelivery only takes
    a hold): the decisions before it are kept, the rest is decided one by one, where the failure
    surfaces as StoreUnavailableError for the shell to hold the partition."""
    records = _mixed_stream(8)
    settings = DedupeSettings(sqlite_path=tmp_path / "failing.sqlite3")
    store = SqliteStore.open(settings)
    dedupe = Deduplicator(store, settings)
    commit_now = store.commit_now
    commits = 0

    def failing_commit(write: Write) -> bool:
        nonlocal commits
        commits += 1
        if commits >= 3:
            raise sqlite3.OperationalError("disk I/O error")
        return commit_now(write)

    store.commit_now = failing_commit  # type: ignore[method-assign]
    try:
        await dedupe.decide_ahead([(article, None) for article in records])
        assert len(dedupe._ahead) == 3
        first = [await dedupe.decide(article) for article in records[:3]]
        assert [o.dedupe.relation for o in first] == [Relation.NEW, Relation.REDELIVERY, Relation.NEW]
        with pytest.raises(StoreUnavailableError):
            await dedupe.decide(records[3])
        store.commit_now = commit_now  # type: ignore[method-assign]
        assert (await dedupe.decide(records[3])).dedupe.relation == Relation.NEW
        assert commits == 4
    finally:
        await dedupe.close()


class _Racing:
    """Lets two deciders read the same state, then makes both try to commit."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner
        self.barrier = asyncio.Barrier(2)
        self.commits = 0
        self.conflicts = 0

    async def snapshot(self, event_id: str, item_key: str) -> Snapshot:
        return await self.inner.snapshot(event_id, item_key)

    async def candidates(self, band_keys: tuple[int, ...]) -> list[Candidate]:
        return await self.inner.candidates(band_keys)

    async def commit(self, write: Write) -> bool:
        self.commits += 1
        if self.commits <= 2:
            await self.barrier.wait()
        ok = await self.inner.commit(write)
        self.conflicts += not ok
        return ok

    def size(self) -> int:
        return self.inner.size()

    async def close(self) -> None:
        await self.inner.close()


async def test_two_instances_racing_on_one_story_publish_it_once() -> None:
    """Two deciders that both saw an empty state: one commits NEW, the other re-decides as duplicate."""
    settings = DedupeSettings(backend=DedupeBackend.MEMORY)
    store = _Racing(MemoryStore(window_seconds=1e9, max_stories=100))
    one, two = Deduplicator(store, settings), Deduplicator(store, settings)
    reprint = make_article(
        source="wire-b", item_id="b-1", headline=XI_ALIYEV_REPRINT_HEADLINE, body=XI_ALIYEV_REPRINT
    )
    results = await asyncio.gather(one.decide(aliyev()), two.decide(reprint))
    relations = sorted(r.dedupe.relation.value for r in results)
    assert relations == [Relation.NEAR_DUPLICATE.value, Relation.NEW.value]
    assert store.conflicts == 1
    assert results[0].story_id == results[1].story_id


async def test_two_instances_racing_on_one_record_agree() -> None:
    """The same record handled by two deciders at once gets one decision, recorded once."""
    settings = DedupeSettings(backend=DedupeBackend.MEMORY)
    store = _Racing(MemoryStore(window_seconds=1e9, max_stories=100))
    one, two = Deduplicator(store, settings), Deduplicator(store, settings)
    record = aliyev(offset=3)
    results = await asyncio.gather(one.decide(record), two.decide(record))
    assert results[0] == results[1]
    assert results[0].dedupe.relation is Relation.NEW
    assert store.size() == 1


def test_fingerprint_carries_the_band_keys_of_its_signature() -> None:
    """A worker's fingerprint holds the band keys the store would compute from the signature,
    so the shell can skip them; a text without words has neither."""
    settings = DedupeSettings(backend=DedupeBackend.MEMORY)
    article = make_article(body="Talks on the grain corridor resumed in Istanbul on Tuesday.")
    known = fingerprint(article, settings)
    assert known.signature is not None
    assert known.band_keys == tuple(
        band_keys(known.signature, lsh_params(settings.threshold, settings.num_perm))
    )
    empty = fingerprint(make_article(headline="!!", body="--"), settings)
    assert empty.signature is None and empty.band_keys == ()


class _FailingCommits:
    """A connection whose COMMIT can be made to fail (a disk error at the WAL write), or its
    fifth INSERT of a story or its first eviction, after a rollback of the whole transaction
    (what SQLite may do on SQLITE_FULL or SQLITE_IOERR; an eviction's outage is only logged)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.commits = 0
        self.stories = 0
        self.fail: str | None = None

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "COMMIT":
            self.commits += 1
            if self.fail == "commit":
                raise sqlite3.OperationalError("disk I/O error")
        if sql.startswith("INSERT INTO stories"):
            self.stories += 1
            if self.fail == "rolled_back" and self.stories == 5:
                self.conn.execute("ROLLBACK")
                raise sqlite3.OperationalError("database or disk is full")
        if sql.startswith("DELETE FROM stories") and self.fail == "eviction_rolled_back":
            self.fail = None
            self.conn.execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self.conn, name)


async def test_a_round_decided_ahead_is_recorded_in_one_sqlite_commit(tmp_path: Path) -> None:
    """One commit (one WAL write) for a round of decisions, not one per decision; all of them
    are in the file afterwards."""
    records = _mixed_stream(16)
    settings = DedupeSettings(sqlite_path=tmp_path / "round.sqlite3")
    store = SqliteStore.open(settings)
    spy = _FailingCommits(store._conn)
    store._conn = spy  # type: ignore[assignment]
    dedupe = Deduplicator(store, settings)
    try:
        await dedupe.decide_ahead([(article, None) for article in records])
        assert len(dedupe._ahead) == len(records)
        assert spy.commits == 1
        reader = sqlite3.connect(settings.sqlite_path)
        (events,) = reader.execute("SELECT count(*) FROM events").fetchone()
        reader.close()
        assert events == len({article.event_id for article in records})
    finally:
        await dedupe.close()


@pytest.mark.parametrize(
    ("failure", "max_stories"),
    [
        ("commit", 4),
        ("commit", 1_000_000),
        ("rolled_back", 4),
        ("rolled_back", 1_000_000),
        ("eviction_rolled_back", 4),
    ],
)
async def test_a_round_whose_commit_fails_records_none_of_it(
    tmp_path: Path, failure: str, max_stories: int
) -> None:
    """The round cannot commit (its commit fails, or an error rolled its transaction back): none
    of its decisions is kept (not in the file, not answered ahead, none of its stories left in
    the band index), and `decide` then takes each one as a store that never saw the round would,
    evictions past max_stories included."""
    records = _mixed_stream(16)
    settings = DedupeSettings(max_stories=max_stories, sqlite_path=tmp_path / "failed-round.sqlite3")
    store = SqliteStore.open(settings)
    spy = _FailingCommits(store._conn)
    store._conn = spy  # type: ignore[assignment]
    dedupe = Deduplicator(store, settings)
    fresh_settings = DedupeSettings(max_stories=max_stories, sqlite_path=tmp_path / "fresh.sqlite3")
    fresh = Deduplicator(SqliteStore.open(fresh_settings), fresh_settings)
    try:
        spy.fail = failure
        await dedupe.decide_ahead([(article, None) for article in records])
        if failure != "eviction_rolled_back":
            spy.fail = None
        assert spy.stories >= 5 and spy.fail is None  # the round got as far as the failing write
        assert dedupe._ahead == {}
        assert store.size() == 0
        for article in records:
            known = fingerprint(article, settings)
            if known.signature is not None:
                assert store.candidates_now(known.band_keys) == []
        again = [(await dedupe.decide(article)).model_dump_json() for article in records]
        assert again == [(await fresh.decide(article)).model_dump_json() for article in records]
    finally:
        await dedupe.close()
        await fresh.close()
