"""State in Redis, shared by several instances of the service.

Every decision is written by one Lua script that first re-checks what the
decision was based on (event unclaimed, item latest unchanged, no other story
added to the article's LSH bands) and writes nothing if any of it changed, so
of two instances racing on one story only one publishes it as new; the other
decides again and sees it. LSH bands are sorted sets (member: the story's
event_id, score: its versioncreated), so every instance sees every story.
A Redis that cannot be reached, or answers with an outage (read-only, out of memory,
loading, NOPERM...; see `failures`), raises StoreUnavailableError: the caller retries,
it never publishes unchecked and never dead-letters the record for it.

Retention (the rule in `store`): an event record is written without a TTL and held by
its claiming offset in a sorted set per partition (`holds:<topic>:<partition>`, score:
offset) with a count of its holds (`hc:<event_id>`); a redelivery answered by it adds a
hold the same way. `committed` takes every hold below the reported positions; an event
whose last hold goes gets the window as TTL from then on. So no event record expires
while an offset that needs it is uncommitted, whichever instance owns the partition.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..errors import ConfigError
from ..models import Relation
from ..settings import DedupeSettings
from .decide import Candidate, Claim, ItemState, Outcome, RecordedEvent, Snapshot
from .failures import from_redis
from .minhash import SCHEME, SEED, from_bytes, lsh_params, to_bytes
from .store import Write

_MAX_FUTURE_SECONDS = 86_400.0
_EVICT_BATCH = 256  # stories evicted per commit at most, to keep each script short

_T = TypeVar("_T")

# KEYS: 1 event, 2 item, 3 stories zset, 4 watermark, 5 story hash (or a dummy),
#       6 the claim's partition holds, 7 the event's hold count
# ARGV: 1 event payload, 2 expected item event ("" = none), 3 item payload ("" = keep),
#       4 story event_id ("" = none), 5 story_id, 6 signature, 7 versioncreated,
#       8 ttl seconds, 9 window seconds, 10 max stories, 11 key prefix,
#       12 band tag, 13 n checked bands, 14 n story bands, 15 observe watermark (0/1),
#       16 the story's number mask, 17 the claim's offset, 18 the event_id, then the
#       checked band keys, the story band keys, then the seen stories.
_COMMIT = """
local ev, it, stories, wm, st = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local prefix, tag = ARGV[11], ARGV[12]
local nchecked, nbands = tonumber(ARGV[13]), tonumber(ARGV[14])
if redis.call('EXISTS', ev) == 1 then return -1 end
local current = redis.call('HGET', it, 'event_id')
if (current or '') ~= ARGV[2] then return -2 end
local seen = {}
for i = 19 + nchecked + nbands, #ARGV do seen[ARGV[i]] = true end
for i = 19, 18 + nchecked do
  local members = redis.call('ZRANGE', prefix .. 'band:' .. tag .. ':' .. ARGV[i], 0, -1)
  for _, m in ipairs(members) do
    if not seen[m] and redis.call('EXISTS', prefix .. 'st:' .. m) == 1 then return -3 end
  end
end
local ttl = tonumber(ARGV[8])
local vc = tonumber(ARGV[7])
redis.call('SET', ev, ARGV[1])  -- no TTL while its claim holds it
if redis.call('ZADD', KEYS[6], 'GT', ARGV[17], ARGV[18]) == 1 then redis.call('INCR', KEYS[7]) end
if ARGV[3] ~= '' then
  local item = cjson.decode(ARGV[3])
  redis.call('HSET', it, 'event_id', item[1], 'version', item[2], 'vc', item[3],
             'content_hash', item[4], 'story_id', item[5])
  redis.call('EXPIRE', it, ttl)
end
if ARGV[15] == '1' then
  local mark = tonumber(redis.call('GET', wm) or '-inf')
  if vc > mark then redis.call('SET', wm, ARGV[7]) end
end
local cutoff = tonumber(redis.call('GET', wm) or '-inf') - tonumber(ARGV[9])
if ARGV[4] ~= '' then
  redis.call('HSET', st, 'story_id', ARGV[5], 'sig', ARGV[6], 'vc', ARGV[7], 'num', ARGV[16])
  redis.call('EXPIRE', st, ttl)
  for i = 19 + nchecked, 18 + nchecked + nbands do
    local band = prefix .. 'band:' .. tag .. ':' .. ARGV[i]
    redis.call('ZADD', band, vc, ARGV[4])
    redis.call('ZREMRANGEBYSCORE', band, '-inf', '(' .. cutoff)
    redis.call('EXPIRE', band, ttl)
  end
  redis.call('ZADD', stories, vc, ARGV[4])
end
local old = redis.call('ZRANGEBYSCORE', stories, '-inf', '(' .. cutoff, 'LIMIT', 0, EVICT_BATCH)
for _, m in ipairs(old) do
  redis.call('DEL', prefix .. 'st:' .. m)
  redis.call('ZREM', stories, m)
end
local excess = redis.call('ZCARD', stories) - tonumber(ARGV[10])
if excess > 0 then
  local popped = redis.call('ZPOPMIN', stories, math.min(excess, EVICT_BATCH))
  for i = 1, #popped, 2 do redis.call('DEL', prefix .. 'st:' .. popped[i]) end
end
return redis.call('ZCARD', stories)
""".replace("EVICT_BATCH", str(_EVICT_BATCH))


# One round trip for a content check instead of two (band members, then their
# signatures). ARGV: 1 key prefix, 2 band tag, then the band keys.
# Returns member, story_id, sig, vc, number mask for each distinct member still stored.
_CANDIDATES = """
local prefix, tag = ARGV[1], ARGV[2]
local seen, out = {}, {}
for i = 3, #ARGV do
  local members = redis.call('ZRANGE', prefix .. 'band:' .. tag .. ':' .. ARGV[i], 0, -1)
  for _, m in ipairs(members) do
    if not seen[m] then
      seen[m] = true
      local row = redis.call('HMGET', prefix .. 'st:' .. m, 'story_id', 'sig', 'vc', 'num')
      if row[1] and row[2] and row[3] then
        out[#out + 1] = m
        out[#out + 1] = row[1]
        out[#out + 1] = row[2]
        out[#out + 1] = row[3]
        out[#out + 1] = row[4] or ''
      end
    end
  end
end
return out
"""


# A redelivery answered by an event record holds it until its own offset is committed.
# KEYS: 1 event, 2 the redelivery's partition holds, 3 the event's hold count. ARGV: offset, event_id.
_HOLD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('PERSIST', KEYS[1])
if redis.call('ZADD', KEYS[2], 'GT', ARGV[1], ARGV[2]) == 1 then redis.call('INCR', KEYS[3]) end
return 1
"""

# Offsets below a committed position no longer hold their events; an event left without
# holds expires a window from now. KEYS: the partitions' holds sets. ARGV: 1 key prefix,
# 2 ttl seconds, then each partition's position in KEYS order.
_RELEASE = """
local prefix, ttl = ARGV[1], tonumber(ARGV[2])
for k = 1, #KEYS do
  local below = '(' .. ARGV[k + 2]
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[k], '-inf', below)) do
    if redis.call('DECR', prefix .. 'hc:' .. m) <= 0 then
      redis.call('DEL', prefix .. 'hc:' .. m)
      redis.call('EXPIRE', prefix .. 'ev:' .. m, ttl)
    end
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', below)
end
return 0
"""


def _outcome_payload(write: Write) -> bytes:
    event, outcome = write.event, write.event.outcome
    claim = event.claim
    return orjson.dumps(
        {
            "c": [claim.topic, claim.partition, claim.offset, claim.item_index],
            "r": outcome.relation.value,
            "s": outcome.story_id,
            "sp": outcome.supersedes,
            "d": outcome.duplicate_of,
            "m": outcome.matched_event_id,
            "sim": outcome.similarity,
            "me": outcome.method,
            "vc": event.versioncreated,
        }
    )


def _recorded(event_id: str, raw: bytes) -> RecordedEvent:
    data: dict[str, Any] = orjson.loads(raw)
    topic, partition, offset, index = data["c"]
    outcome = Outcome(
        relation=Relation(data["r"]),
        story_id=data["s"],
        supersedes=data["sp"],
        duplicate_of=data["d"],
        matched_event_id=data["m"],
        similarity=data["sim"],
        method=data["me"],
    )
    return RecordedEvent(event_id, Claim(topic, partition, offset, index), outcome, float(data["vc"]))


class RedisStore:
    def __init__(self, client: aioredis.Redis, settings: DedupeSettings) -> None:
        self._client = client
        self._settings = settings
        self._prefix = settings.redis_key_prefix + "dedupe:"
        self._tag = lsh_params(settings.threshold, settings.num_perm).tag
        self._ttl = max(1, int(settings.window_days * 86_400))
        self._commit_script = client.register_script(_COMMIT)
        self._candidates_script = client.register_script(_CANDIDATES)
        self._hold_script = client.register_script(_HOLD)
        self._release_script = client.register_script(_RELEASE)
        self._size = 0

    @classmethod
    async def open(cls, settings: DedupeSettings) -> RedisStore:
        """Connect, check the stored signature settings match ours, read the state size."""
        client = aioredis.from_url(
            settings.redis_url.get_secret_value(), socket_connect_timeout=5.0, socket_timeout=10.0
        )
        store = cls(client, settings)
        wanted = f"{SCHEME}/seed={SEED}/num_perm={settings.num_perm}/shingle={settings.shingle_size}"
        try:
            meta = store._prefix + "signature"
            await client.set(meta, wanted, nx=True)
            found = await client.get(meta)
            store._size = int(await client.zcard(store._prefix + "stories"))
        except RedisError as exc:
            await client.aclose()
            raise from_redis(exc) from exc
        stored = found.decode() if isinstance(found, bytes) else found
        if stored is not None and stored != wanted:
            await client.aclose()
            raise ConfigError(
                f"dedupe state in Redis holds signatures made with {stored}, settings ask for {wanted}"
            )
        return store

    def _key(self, kind: str, name: str) -> str:
        return f"{self._prefix}{kind}:{name}"

    def _band(self, key: int) -> str:
        return f"{key:x}"

    def _holds(self, topic: str, partition: int) -> str:
        return f"{self._prefix}holds:{topic}:{partition}"

    @staticmethod
    async def _call(work: Callable[[], Awaitable[_T]]) -> _T:
        """Await `work`; an outage becomes StoreUnavailableError, a bug (script error, WRONGTYPE) stays."""
        try:
            return await work()
        except RedisError as exc:
            failure = from_redis(exc)
            if failure is exc:
                raise
            raise failure from exc

    async def snapshot(self, event_id: str, item_key: str) -> Snapshot:
        async def read() -> list[Any]:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.get(self._key("ev", event_id))
                pipe.hgetall(self._key("it", item_key))
                return await pipe.execute()

        raw_event, raw_item = await self._call(read)
        recorded = _recorded(event_id, raw_event) if raw_event is not None else None
        item = None
        if raw_item:
            fields = {k.decode(): v.decode() for k, v in raw_item.items()}
            item = ItemState(
                event_id=fields["event_id"],
                version=fields["version"],
                versioncreated=float(fields["vc"]),
                content_hash=fields["content_hash"],
                story_id=fields["story_id"],
            )
        return Snapshot(recorded, item)

    async def candidates(self, band_keys: tuple[int, ...]) -> list[Candidate]:
        if not band_keys:
            return []
        args = [self._prefix, self._tag, *(self._band(key) for key in band_keys)]
        flat = await self._call(lambda: self._candidates_script(keys=[], args=args))
        found = [
            (
                float(flat[i + 3]),
                member,
                Candidate(member, flat[i + 1].decode(), from_bytes(flat[i + 2]), bytes(flat[i + 4])),
            )
            for i in range(0, len(flat), 5)
            for member in (flat[i].decode(),)
        ]
        return [candidate for _, _, candidate in sorted(found, key=lambda row: (row[0], row[1]))]

    async def commit(self, write: Write) -> bool:
        story = write.story
        item = write.item
        item_payload = (
            orjson.dumps(
                [item.event_id, item.version, repr(item.versioncreated), item.content_hash, item.story_id]
            )
            if item is not None
            else b""
        )
        story_bands = [self._band(k) for k in story.band_keys] if story is not None else []
        checked = [self._band(k) for k in write.checked_bands]
        vc = write.event.versioncreated
        plausible = vc <= time.time() + _MAX_FUTURE_SECONDS
        keys = [
            self._key("ev", write.event.event_id),
            self._key("it", write.item_key),
            self._prefix + "stories",
            self._prefix + "watermark",
            self._key("st", story.event_id) if story is not None else self._prefix + "none",
            self._holds(write.event.claim.topic, write.event.claim.partition),
            self._key("hc", write.event.event_id),
        ]
        args: list[bytes | str | int | float] = [
            _outcome_payload(write),
            write.expected_item_event or "",
            item_payload,
            story.event_id if story is not None else "",
            story.story_id if story is not None else "",
            to_bytes(story.signature) if story is not None else b"",
            repr(vc),
            self._ttl,
            repr(self._settings.window_days * 86_400.0),
            self._settings.max_stories,
            self._prefix,
            self._tag,
            len(checked),
            len(story_bands),
            "1" if plausible else "0",
            story.numbers if story is not None else b"",
            write.event.claim.offset,
            write.event.event_id,
            *checked,
            *story_bands,
            *sorted(write.seen_stories),
        ]
        result = int(await self._call(lambda: self._commit_script(keys=keys, args=args)))
        if result < 0:
            return False
        self._size = result
        return True

    async def hold(self, event_id: str, claim: Claim) -> bool:
        keys = [
            self._key("ev", event_id),
            self._holds(claim.topic, claim.partition),
            self._key("hc", event_id),
        ]
        args: list[str | int] = [claim.offset, event_id]
        return int(await self._call(lambda: self._hold_script(keys=keys, args=args))) == 1

    async def committed(self, positions: Mapping[tuple[str, int], int]) -> None:
        keys = [self._holds(topic, partition) for topic, partition in positions]
        args: list[str | int] = [self._prefix, self._ttl, *positions.values()]
        await self._call(lambda: self._release_script(keys=keys, args=args))

    def size(self) -> int:
        return self._size

    async def close(self) -> None:
        await self._client.aclose()
