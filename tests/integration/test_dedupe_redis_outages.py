"""Redis answering with an outage (OOM, READONLY, MASTERDOWN, NOPERM, a refused password) is retriable.

Issue 11, item 4: these replies used to reach the per-record guard as internal errors, so
every record was dead-lettered and committed instead of held. Each test provokes the
condition on a real redis-server of its own (the shared one on 6379 serves other tests,
so it is never put out of memory or made a replica), checks that decide raises
StoreUnavailableError, lifts the condition and checks the same record then goes through.
A Lua error or WRONGTYPE on our own keys stays a bug: it is not retried.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr
from redis.exceptions import ResponseError

from service.dedupe import Deduplicator, open_deduplicator
from service.dedupe.decide import item_key
from service.dedupe.samples import XI_ALIYEV, XI_ALIYEV_HEADLINE
from service.dedupe.testing import make_article
from service.errors import StoreUnavailableError
from service.harness import free_port
from service.models import CanonicalArticle, Relation
from service.settings import DedupeBackend, DedupeSettings
from tests.faults.test_redis_down import RedisServer

pytestmark = pytest.mark.integration


@dataclass
class PrivateRedis:
    """A redis-server of the test's own and an admin connection to it."""

    server: RedisServer
    admin: aioredis.Redis

    def settings(self, user: str = "") -> DedupeSettings:
        return DedupeSettings(
            backend=DedupeBackend.REDIS,
            redis_url=SecretStr(f"redis://{user}127.0.0.1:{self.server.port}/0"),
            redis_key_prefix=f"test-{uuid.uuid4().hex[:8]}:",
        )


@pytest.fixture
async def private(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    server = RedisServer(tmp_path)
    server.start()
    admin = aioredis.from_url(f"redis://127.0.0.1:{server.port}/0")
    try:
        yield PrivateRedis(server, admin)
    finally:
        await admin.aclose()
        server.stop()


def _article(n: int = 0) -> CanonicalArticle:
    return make_article(item_id=f"x-{n}", headline=XI_ALIYEV_HEADLINE, body=f"{XI_ALIYEV}\n\n{n}", offset=n)


async def _held(dedupe: Deduplicator, article: CanonicalArticle) -> None:
    """The record is refused as an outage (retriable), not as a bug."""
    with pytest.raises(StoreUnavailableError):
        await dedupe.decide(article)


async def test_out_of_memory_is_an_outage(private: PrivateRedis) -> None:
    """maxmemory reached (noeviction): OOM on the commit script is held and retried, then goes through."""
    dedupe = await open_deduplicator(private.settings())
    try:
        await private.admin.config_set("maxmemory-policy", "noeviction")
        await private.admin.config_set("maxmemory", 1)
        await _held(dedupe, _article())
        await private.admin.config_set("maxmemory", 0)
        assert (await dedupe.decide(_article())).dedupe.relation is Relation.NEW
    finally:
        await private.admin.config_set("maxmemory", 0)
        await dedupe.close()


async def test_read_only_replica_and_master_down_are_outages(private: PrivateRedis) -> None:
    """After a failover the old primary is a replica: READONLY on writes, MASTERDOWN on reads if it serves
    no stale data. Both are held; back as a primary, the record goes through."""
    dedupe = await open_deduplicator(private.settings())
    try:
        await private.admin.execute_command(
            "REPLICAOF", "127.0.0.1", str(free_port())
        )  # a primary that never answers
        await _held(dedupe, _article())
        await private.admin.config_set("replica-serve-stale-data", "no")
        await _held(dedupe, _article())
        await private.admin.execute_command("REPLICAOF", "NO", "ONE")
        assert (await dedupe.decide(_article())).dedupe.relation is Relation.NEW
    finally:
        await private.admin.execute_command("REPLICAOF", "NO", "ONE")
        await private.admin.config_set("replica-serve-stale-data", "yes")
        await dedupe.close()


async def test_missing_permission_is_an_outage_an_acl_change_heals(private: PrivateRedis) -> None:
    """An ACL user without EVAL/EVALSHA: NOPERM on the commit is held; granting them heals it."""
    await private.admin.execute_command(
        "ACL", "SETUSER", "dedupe", "on", ">pw", "~*", "+@all", "-eval", "-evalsha"
    )
    dedupe = await open_deduplicator(private.settings("dedupe:pw@"))
    try:
        await _held(dedupe, _article())
        await private.admin.execute_command("ACL", "SETUSER", "dedupe", "+eval", "+evalsha")
        assert (await dedupe.decide(_article())).dedupe.relation is Relation.NEW
    finally:
        await dedupe.close()


async def test_a_refused_password_is_an_outage(private: PrivateRedis) -> None:
    """WRONGPASS at open is StoreUnavailableError (fixing the credential heals it), not a crash of a bug."""
    await private.admin.execute_command("ACL", "SETUSER", "dedupe", "on", ">right", "~*", "+@all")
    with pytest.raises(StoreUnavailableError):
        await open_deduplicator(private.settings("dedupe:wrong@"))


async def test_wrongtype_on_our_own_key_stays_a_bug(private: PrivateRedis) -> None:
    """A key of ours holding another type is not an outage (waiting never heals it): the error surfaces
    for the per-record guard, which dead-letters that record alone."""
    settings = private.settings()
    dedupe = await open_deduplicator(settings)
    article = _article()
    try:
        await private.admin.set(f"{settings.redis_key_prefix}dedupe:it:{item_key(article)}", "not a hash")
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await dedupe.decide(article)
        assert (await dedupe.decide(_article(1))).dedupe.relation is Relation.NEW
    finally:
        await dedupe.close()
