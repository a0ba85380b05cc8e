"""The Redis backend against the real Redis on loopback: shared state, atomic claims, restarts, outages.

Each test works under its own random key prefix and deletes it afterwards.
A Redis that cannot be reached fails these tests; they are never skipped.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from service.dedupe import Deduplicator, RedisStore, open_deduplicator
from service.dedupe.decide import Candidate, Snapshot
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
from service.dedupe.store import Write
from service.dedupe.testing import BASE_TIME, make_article
from service.errors import ConfigError, StoreUnavailableError
from service.models import CanonicalArticle, PubStatus, Relation
from service.settings import DedupeBackend, DedupeSettings

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def settings() -> AsyncIterator[DedupeSettings]:
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    client = aioredis.from_url(REDIS_URL)
    assert await client.ping(), "Redis on 127.0.0.1:6379 must be running for these tests"
    yield DedupeSettings(backend=DedupeBackend.REDIS, redis_url=SecretStr(REDIS_URL), redis_key_prefix=prefix)
    keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def _distinct_text(seed: int) -> str:
    """Eighty words drawn at random: unrelated to every other seed's text."""
    rng = random.Random(seed)
    vocabulary = [f"w{n}" for n in range(5000)]
    return " ".join(rng.choice(vocabulary) for _ in range(80))


def _filler(n: int) -> str:
    """A short text sharing no word with any other filler."""
    return " ".join(f"f{n}x{i}" for i in range(12))


def aliyev(**kw: object) -> CanonicalArticle:
    fields: dict[str, object] = {"headline": XI_ALIYEV_HEADLINE, "body": XI_ALIYEV, **kw}
    return make_article(**fields)  # type: ignore[arg-type]


def reprint(**kw: object) -> CanonicalArticle:
    fields: dict[str, object] = {
        "source": "wire-b",
        "item_id": "b-1",
        "headline": XI_ALIYEV_REPRINT_HEADLINE,
        "body": XI_ALIYEV_REPRINT,
        **kw,
    }
    return make_article(**fields)  # type: ignore[arg-type]


async def test_every_relation_on_redis(settings: DedupeSettings) -> None:
    """NEW, REDELIVERY, NEAR_DUPLICATE, UPDATE, STALE, KILL and the other-meeting case, on shared state."""
    dedupe = await open_deduplicator(settings)
    try:
        new = await dedupe.decide(aliyev(offset=0))
        redelivered = await dedupe.decide(aliyev(offset=1))
        dup = await dedupe.decide(reprint(offset=2))
        update = await dedupe.decide(aliyev(version="3", offset=3, body=XI_ALIYEV + "\n\nMore."))
        stale = await dedupe.decide(aliyev(version="2", offset=4, body=XI_ALIYEV + "\n\nOlder."))
        other = await dedupe.decide(
            make_article(item_id="p", headline=XI_PUTIN_HEADLINE, body=XI_PUTIN, offset=5)
        )
        kill = await dedupe.decide(
            aliyev(version="4", offset=6, body="Withdrawn.", pubstatus=PubStatus.CANCELED)
        )
    finally:
        await dedupe.close()
    assert new.dedupe.relation is Relation.NEW
    assert redelivered.dedupe.relation is Relation.REDELIVERY and redelivered.story_id == new.story_id
    assert dup.dedupe.relation is Relation.NEAR_DUPLICATE
    assert (dup.duplicate_of, dup.story_id) == (new.event_id, new.story_id)
    assert (update.dedupe.relation, update.supersedes) == (Relation.UPDATE, new.event_id)
    assert (stale.dedupe.relation, stale.dedupe.matched_event_id) == (Relation.STALE, update.event_id)
    assert other.dedupe.relation is Relation.NEW and other.story_id != new.story_id
    assert (kill.dedupe.relation, kill.supersedes, kill.story_id) == (
        Relation.KILL,
        update.event_id,
        new.story_id,
    )


async def test_figures_check_on_redis(settings: DedupeSettings) -> None:
    """Stories keep their figures in Redis: other numbers stay apart, the reprint joins."""
    dedupe = await open_deduplicator(settings)
    try:
        acme = await dedupe.decide(make_article(item_id="acme", headline=RESULTS_HEADLINE, body=RESULTS_ACME))
        other = await dedupe.decide(
            make_article(item_id="globex", headline=RESULTS_HEADLINE, body=RESULTS_GLOBEX)
        )
        copy = await dedupe.decide(
            make_article(
                source="wire-b", item_id="b-acme", headline=RESULTS_HEADLINE, body=RESULTS_ACME_REPRINT
            )
        )
    finally:
        await dedupe.close()
    assert other.dedupe.relation is Relation.NEW
    assert (copy.dedupe.relation, copy.story_id) == (Relation.NEAR_DUPLICATE, acme.story_id)


async def test_state_survives_a_restart_and_records_keep_their_decision(settings: DedupeSettings) -> None:
    """After reopening, a reprint still matches and the claiming record gets its decision back."""
    first = await open_deduplicator(settings)
    original = await first.decide(aliyev(offset=10))
    await first.close()
    second = await open_deduplicator(settings)
    try:
        assert second.state_size() == 1
        again = await second.decide(aliyev(offset=10))
        dup = await second.decide(reprint(offset=11))
    finally:
        await second.close()
    assert again == original
    assert dup.dedupe.relation is Relation.NEAR_DUPLICATE and dup.story_id == original.story_id


async def test_two_instances_sharing_redis_publish_each_story_once(settings: DedupeSettings) -> None:
    """Instance A takes originals, instance B the reprints, interleaved: every story is NEW exactly once."""
    one, two = await open_deduplicator(settings), await open_deduplicator(settings)
    try:
        originals = [
            make_article(
                source="wire-a", item_id=f"a-{n}", headline=f"Story {n}", body=_distinct_text(n), offset=n
            )
            for n in range(20)
        ]
        copies = [
            make_article(
                source="wire-b",
                item_id=f"b-{n}",
                headline=f"Story {n}",
                body=a.body_text + "\n\nCopyright Wire B.",
                offset=n,
            )
            for n, a in enumerate(originals)
        ]
        results = await asyncio.gather(
            *(
                d.decide(a)
                for pair in zip(originals, copies, strict=True)
                for d, a in zip((one, two), pair, strict=True)
            )
        )
    finally:
        await one.close()
        await two.close()
    by_story: dict[str, list[Relation]] = {}
    for result in results:
        by_story.setdefault(result.story_id, []).append(result.dedupe.relation)
    assert all(sorted(r.value for r in rels) == ["near_duplicate", "new"] for rels in by_story.values()), (
        by_story
    )
    assert len(by_story) == 20


class _Racing:
    """Both instances read before either writes, so the second write must hit the Lua conflict check."""

    def __init__(self, inner: RedisStore, barrier: asyncio.Barrier) -> None:
        self.inner = inner
        self.barrier = barrier
        self.first = True
        self.results: list[bool] = []

    async def snapshot(self, event_id: str, item_key: str) -> Snapshot:
        return await self.inner.snapshot(event_id, item_key)

    async def candidates(self, band_keys: tuple[int, ...]) -> list[Candidate]:
        return await self.inner.candidates(band_keys)

    async def commit(self, write: Write) -> bool:
        if self.first:
            self.first = False
            await self.barrier.wait()
        ok = await self.inner.commit(write)
        self.results.append(ok)
        return ok

    def size(self) -> int:
        return self.inner.size()

    async def close(self) -> None:
        await self.inner.close()


async def test_simultaneous_claims_on_one_story_conflict_and_one_wins(settings: DedupeSettings) -> None:
    """Two instances deciding one story at once: one NEW, the other re-decides as NEAR_DUPLICATE."""
    barrier = asyncio.Barrier(2)
    stores = [_Racing(await RedisStore.open(settings), barrier) for _ in range(2)]
    one, two = (Deduplicator(store, settings) for store in stores)
    try:
        results = await asyncio.gather(one.decide(aliyev()), two.decide(reprint()))
    finally:
        await one.close()
        await two.close()
    assert sorted(r.dedupe.relation.value for r in results) == ["near_duplicate", "new"]
    assert results[0].story_id == results[1].story_id
    assert sorted(stores[0].results + stores[1].results) == [False, True, True]


async def test_simultaneous_claims_on_one_record_give_one_decision(settings: DedupeSettings) -> None:
    """The same record on two instances at once (a rebalance) gets the same decision on both."""
    barrier = asyncio.Barrier(2)
    stores = [_Racing(await RedisStore.open(settings), barrier) for _ in range(2)]
    one, two = (Deduplicator(store, settings) for store in stores)
    try:
        results = await asyncio.gather(one.decide(aliyev(offset=4)), two.decide(aliyev(offset=4)))
    finally:
        await one.close()
        await two.close()
    assert results[0] == results[1]
    assert results[0].dedupe.relation is Relation.NEW


async def test_old_stories_leave_the_window_and_the_size_is_bounded(settings: DedupeSettings) -> None:
    """Stories behind the versioncreated window are evicted; beyond max_stories the oldest go."""
    bounded = settings.model_copy(update={"window_days": 1.0, "max_stories": 3})
    dedupe = await open_deduplicator(bounded)
    try:
        await dedupe.decide(aliyev())
        later = BASE_TIME + timedelta(days=3)
        for n in range(5):
            await dedupe.decide(
                make_article(
                    item_id=f"f-{n}",
                    body=_filler(n),
                    versioncreated=later + timedelta(minutes=n),
                )
            )
            assert dedupe.state_size() <= 3
        late_reprint = await dedupe.decide(reprint(versioncreated=later))
    finally:
        await dedupe.close()
    assert late_reprint.dedupe.relation is Relation.NEW


async def test_unreachable_redis_raises_store_unavailable() -> None:
    """No Redis: opening or deciding raises the retriable StoreUnavailableError, never a silent NEW."""
    down = DedupeSettings(backend=DedupeBackend.REDIS, redis_url=SecretStr("redis://127.0.0.1:1/0"))
    with pytest.raises(StoreUnavailableError):
        await open_deduplicator(down)
    client = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1.0)
    dedupe = Deduplicator(RedisStore(client, down), down)
    with pytest.raises(StoreUnavailableError):
        await dedupe.decide(aliyev())
    await dedupe.close()


async def test_changed_signature_settings_are_refused(settings: DedupeSettings) -> None:
    """State written with another num_perm cannot be compared with: opening says so."""
    dedupe = await open_deduplicator(settings)
    await dedupe.decide(aliyev())
    await dedupe.close()
    with pytest.raises(ConfigError):
        await open_deduplicator(settings.model_copy(update={"num_perm": settings.num_perm * 2}))


async def test_event_records_never_expire_while_an_offset_needs_them(settings: DedupeSettings) -> None:
    """An event record has no TTL while its claim, or a resend answered by it, is uncommitted; the
    window's TTL starts once every such offset is committed (on any instance: positions are Kafka's)."""
    one, two = await open_deduplicator(settings), await open_deduplicator(settings)
    client = aioredis.from_url(REDIS_URL)
    original = aliyev(partition=0, offset=1)
    resend = aliyev(partition=2, offset=7)
    event = f"{settings.redis_key_prefix}dedupe:ev:{original.event_id}"
    try:
        await one.decide(original)
        assert await client.ttl(event) == -1
        await one.committed({("wire.raw", 0): 2})
        assert 0 < await client.ttl(event) <= settings.window_days * 86_400
        assert (await two.decide(resend)).dedupe.relation is Relation.REDELIVERY  # the other instance
        assert await client.ttl(event) == -1
        await one.committed({("wire.raw", 2): 7})  # not past the resend yet
        assert await client.ttl(event) == -1
        await two.committed({("wire.raw", 2): 8})
        assert await client.ttl(event) > 0
    finally:
        await client.aclose()
        await one.close()
        await two.close()
