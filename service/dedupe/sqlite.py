"""State in one SQLite file (WAL): the default backend for a single instance.

Rows keep UUIDs and hashes as 16/32-byte blobs and a story's MinHash as
`num_perm` little-endian uint32 values, so a story costs a few hundred bytes
on disk. The LSH band index lives in memory and is rebuilt from the stored
signatures at open. One instance per file: the index is not shared.

Every call that touches the file or the index runs on one thread of the store's own,
never on the event loop, in the order the calls were made: a lookup and the commit that
follows it cannot overlap with another decision's, which is what the optimistic check
in `InProcessConflicts` relies on. A file locked by another connection waits at most
`sqlite_busy_timeout_seconds` on that thread, then the call raises StoreUnavailableError
(see `failures` for how every SQLite error is classified). `evict` and `bulk_insert`
stay synchronous for tools and benchmarks; call them before the store serves decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import structlog

from ..errors import ConfigError
from ..ids import uuid_text
from ..models import Relation
from ..settings import DedupeSettings
from .decide import Candidate, Claim, ItemState, Outcome, RecordedEvent, Snapshot
from .failures import from_sqlite, is_sqlite_outage
from .housekeeping import Watermark
from .index import BandIndex
from .minhash import SCHEME, SEED, band_key_matrix, from_bytes, lsh_params, to_bytes
from .store import InProcessConflicts, Write

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    event_id BLOB PRIMARY KEY, vc REAL NOT NULL,
    topic TEXT NOT NULL, part INTEGER NOT NULL, off INTEGER NOT NULL, idx INTEGER NOT NULL,
    relation TEXT NOT NULL, story_id BLOB NOT NULL, supersedes BLOB, duplicate_of BLOB,
    matched BLOB, similarity REAL, method TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_vc ON events (vc);
CREATE TABLE IF NOT EXISTS items (
    item_key BLOB PRIMARY KEY, vc REAL NOT NULL, event_id BLOB NOT NULL, version TEXT NOT NULL,
    content_hash BLOB NOT NULL, story_id BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_vc ON items (vc);
CREATE TABLE IF NOT EXISTS stories (
    slot INTEGER PRIMARY KEY, vc REAL NOT NULL, event_id BLOB NOT NULL, story_id BLOB NOT NULL,
    sig BLOB NOT NULL, numbers BLOB
);
CREATE INDEX IF NOT EXISTS stories_vc ON stories (vc);
CREATE TABLE IF NOT EXISTS positions (
    topic TEXT NOT NULL, part INTEGER NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY (topic, part)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS holds (
    event_id BLOB NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL, off INTEGER NOT NULL,
    PRIMARY KEY (event_id, topic, part)
) WITHOUT ROWID;
"""

# Event records outside the window whose claiming offset is committed and that no
# redelivery holds (the retention rule in `store`); a partition never reported keeps all.
_EVICT_EVENTS = """
DELETE FROM events WHERE vc < ?
  AND off < coalesce((SELECT pos FROM positions p WHERE p.topic = events.topic AND p.part = events.part), -1)
  AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.event_id = events.event_id)
"""

log = structlog.get_logger("wire_ingest.dedupe")
_T = TypeVar("_T")

Packed = bytes | str | None


# A decision packs the same few IDs several times (its event, item and story, read then
# written): the last decisions' IDs are kept packed.
@functools.lru_cache(maxsize=1024)
def _pack_id(value: str | None) -> Packed:
    """A UUID as its 16 bytes (anything else kept as text): `uuid.UUID(value).bytes`."""
    if value is None:
        return None
    # A decision packs a dozen IDs, nearly all hyphenated UUIDs (service.ids): their hex
    # digits read in one C call; uuid.UUID's constructor cost ~2 us. Whatever else
    # uuid.UUID accepts (braces, a urn: prefix, no hyphens) takes its way.
    if len(value) == 36 and value[8] == value[13] == value[18] == value[23] == "-":
        with contextlib.suppress(ValueError):
            packed = bytes.fromhex(value.replace("-", ""))
            if len(packed) == 16:  # fromhex skips spaces, which uuid.UUID refuses
                return packed
    try:
        return uuid.UUID(value).bytes
    except ValueError:
        return value


def _unpack_id(value: Packed) -> str | None:
    if isinstance(value, bytes):
        return uuid_text(value)
    return value


def _pack_hash(value: str) -> bytes | str:
    try:
        return bytes.fromhex(value)
    except ValueError:
        return value


def _unpack_hash(value: bytes | str) -> str:
    return value.hex() if isinstance(value, bytes) else value


def _fingerprint(settings: DedupeSettings) -> str:
    return f"{SCHEME}/seed={SEED}/num_perm={settings.num_perm}/shingle={settings.shingle_size}"


@dataclass(slots=True)
class _Batch:
    count: int  # the store's story count when the batch began
    added: list[int] = field(default_factory=list)  # slots of the stories its decisions indexed
    evicted: list[int] = field(default_factory=list)  # slots it evicted: out of the index once committed
    broken: bool = False  # its transaction was lost, or a rollback inside it failed: it must not commit


class SqliteStore(InProcessConflicts):
    def __init__(self, conn: sqlite3.Connection, settings: DedupeSettings) -> None:
        super().__init__()
        self._conn = conn
        self._settings = settings
        self._params = lsh_params(settings.threshold, settings.num_perm)
        self._index = BandIndex()
        self._watermark = Watermark(settings.window_days * 86_400.0)
        self._count = 0
        self._evict_pending = False
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dedupe-sqlite")
        self._batch: _Batch | None = None  # the decisions being taken in one transaction (`batch`)
        # The next story's slot at the least: no slot is handed out twice in a process, since one
        # a rolled-back batch indexed stays dead in the index (SQLite alone would reuse max + 1).
        self._next_slot = 1

    async def _call(self, work: Callable[[], _T]) -> _T:
        """Run `work` on the store's thread; an SQLite outage becomes StoreUnavailableError."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, work)
        except sqlite3.Error as error:
            failure = from_sqlite(error)
            if failure is error:
                raise
            raise failure from error

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Decisions taken inside share one transaction, committed on leaving.

        The commit (its WAL frames) was the largest share of a decision's CPU; a round of
        decisions now pays one. Each write (a decision's, an eviction's) still applies or rolls
        back alone, in a savepoint, at the moment it did before. For decisions taken one after
        the other (`Deduplicator.decide_ahead`): a decision's commit skips the optimistic check,
        as nothing else can write between its reads and its commit. If the batch cannot commit,
        none of it is recorded (the caller must drop its decisions) and the store is put back
        as it was before the batch: the stories it indexed leave the index, the ones it evicted
        stay (their removal from the index waits for the commit; their rows are gone from the
        batch's reads meanwhile), story count and eviction clock are restored.
        """
        self._conn.execute("BEGIN IMMEDIATE")  # waits for the write lock at most the busy timeout
        batch = self._batch = _Batch(self._count)
        watermark, evict_pending = (self._watermark.value, self._watermark.commits), self._evict_pending
        try:
            yield
            if batch.broken:
                raise sqlite3.OperationalError("the batch's transaction was lost")
            self._conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            self._index.remove(batch.added)
            self._count = batch.count
            (self._watermark.value, self._watermark.commits), self._evict_pending = watermark, evict_pending
            self._generation += 1
            raise
        finally:
            self._batch = None
        if batch.evicted:
            self._index.remove(batch.evicted)

    def _begin(self) -> None:
        """A write's own transaction, or its savepoint in the batch's."""
        if self._batch is None:
            self._conn.execute("BEGIN IMMEDIATE")  # waits for the write lock at most the busy timeout
            return
        if not self._conn.in_transaction:  # an error rolled the whole batch back
            self._batch.broken = True
            raise sqlite3.OperationalError("the batch's transaction was lost")
        self._conn.execute("SAVEPOINT write")

    def _end(self) -> None:
        self._conn.execute("RELEASE write" if self._batch is not None else "COMMIT")

    def _undo(self) -> None:
        """Roll back the write, and only it."""
        if self._batch is None:
            self._rollback()
            return
        if not self._conn.in_transaction:  # an error rolled the whole batch back
            self._batch.broken = True
            return
        try:
            self._conn.execute("ROLLBACK TO write")
            self._conn.execute("RELEASE write")
        except sqlite3.Error:
            self._batch.broken = True  # the write may be in the batch: commit none of it
            raise

    @classmethod
    def open(cls, settings: DedupeSettings, path: Path | None = None) -> SqliteStore:
        """Open or create the file, check its signature settings match, load the band index."""
        target = path or settings.sqlite_path
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            return cls._open(settings, target)
        except sqlite3.Error as error:
            failure = from_sqlite(error)
            if failure is error:
                raise
            raise failure from error

    @classmethod
    def _open(cls, settings: DedupeSettings, target: Path) -> SqliteStore:
        conn = sqlite3.connect(
            target,
            isolation_level=None,
            check_same_thread=False,  # opened here, then used only on the store's own thread
            timeout=settings.sqlite_busy_timeout_seconds,
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "PRAGMA cache_size=-65536"
        )  # 64 MiB: keeps the hot B-tree pages of a large state in memory
        conn.executescript(_SCHEMA)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(stories)")}
        if "numbers" not in columns:  # a file from before the figures check: its stories have none
            conn.execute("ALTER TABLE stories ADD COLUMN numbers BLOB")
        wanted = _fingerprint(settings)
        row = conn.execute("SELECT value FROM meta WHERE key = 'signature'").fetchone()
        if row is None:
            conn.execute("INSERT INTO meta VALUES ('signature', ?)", (wanted,))
        elif row[0] != wanted:
            conn.close()
            raise ConfigError(
                f"dedupe state {target} holds signatures made with {row[0]}, settings ask for {wanted}: "
                "restore the settings or start from a new file"
            )
        store = cls(conn, settings)
        try:
            store._load()
        except BaseException:
            conn.close()
            raise
        return store

    def _load(self) -> None:
        slots: list[int] = []
        blobs: list[bytes] = []
        for slot, sig in self._conn.execute("SELECT slot, sig FROM stories"):
            slots.append(slot)
            blobs.append(sig)
        self._count = len(slots)
        self._next_slot = max(slots, default=0) + 1
        if slots:
            sigs = np.frombuffer(b"".join(blobs), dtype="<u4").reshape(len(slots), -1).astype(np.uint32)
            self._index.add_many(band_key_matrix(sigs, self._params), np.asarray(slots, dtype=np.int64))
        latest = self._conn.execute("SELECT max(vc) FROM events").fetchone()[0]
        if latest is not None:
            self._watermark.observe(float(latest))

    # ------------------------------------------------------------ reads

    async def run_local(self, work: Callable[[], _T]) -> _T:
        return await self._call(work)

    async def snapshot(self, event_id: str, item_key: str) -> Snapshot:
        return await self._call(lambda: self.snapshot_now(event_id, item_key))

    async def candidates(self, band_keys: tuple[int, ...]) -> list[Candidate]:
        return await self._call(lambda: self.candidates_now(band_keys))

    def _event(self, event_id: str) -> RecordedEvent | None:
        row = self._conn.execute(
            "SELECT vc, topic, part, off, idx, relation, story_id, supersedes, duplicate_of, matched,"
            " similarity, method FROM events WHERE event_id = ?",
            (_pack_id(event_id),),
        ).fetchone()
        if row is None:
            return None
        vc, topic, part, off, idx, relation, story, supersedes, duplicate_of, matched, similarity, method = (
            row
        )
        outcome = Outcome(
            relation=Relation(relation),
            story_id=_unpack_id(story) or "",
            supersedes=_unpack_id(supersedes),
            duplicate_of=_unpack_id(duplicate_of),
            matched_event_id=_unpack_id(matched),
            similarity=similarity,
            method=method,
        )
        return RecordedEvent(event_id, Claim(topic, part, off, idx), outcome, vc)

    def _item(self, item_key: str) -> ItemState | None:
        row = self._conn.execute(
            "SELECT vc, event_id, version, content_hash, story_id FROM items WHERE item_key = ?",
            (_pack_id(item_key),),
        ).fetchone()
        if row is None:
            return None
        vc, event_id, version, content_hash, story = row
        return ItemState(
            _unpack_id(event_id) or "", version, vc, _unpack_hash(content_hash), _unpack_id(story) or ""
        )

    def _stories_in(self, band_keys: tuple[int, ...]) -> list[Candidate]:
        slots = self._index.lookup(band_keys)
        if not slots:
            return []
        marks = ",".join("?" * len(slots))
        rows = self._conn.execute(
            f"SELECT event_id, story_id, sig, numbers FROM stories WHERE slot IN ({marks}) ORDER BY slot",
            slots,
        ).fetchall()
        return [
            Candidate(_unpack_id(e) or "", _unpack_id(s) or "", from_bytes(sig), numbers or b"")
            for e, s, sig, numbers in rows
        ]

    # ------------------------------------------------------------ writes

    async def commit(self, write: Write) -> bool:
        return await self._call(lambda: self.commit_now(write))

    def commit_now(self, write: Write) -> bool:
        self._begin()  # outside a batch, waits for the write lock at most the busy timeout
        try:
            # In a batch, the decision read its snapshot and candidates in the batch's transaction,
            # right before this call: nothing can have written in between (the write lock is held,
            # and the batch's decisions run one after the other on this thread).
            if self._batch is None and self._conflict(write):
                self._undo()
                return False
            added = self._apply(write)
            self._end()
        except BaseException:
            self._undo()
            raise
        if added is not None:
            self._index.add(write.story.band_keys if write.story else (), added)
            self._count += 1
            self._generation += 1
            if self._batch is not None:
                self._batch.added.append(added)
        self._watermark.observe(write.event.versioncreated)
        if self._watermark.due() or self._count > self._settings.max_stories:
            self._evict_pending = True
        self._evict_if_due()
        return True

    def _evict_if_due(self) -> None:
        if self._evict_pending:
            try:
                self.evict()
            except sqlite3.Error as error:
                # The decision is committed; housekeeping can wait for the next commit.
                if not is_sqlite_outage(error):
                    raise
                log.warning("dedupe_eviction_postponed", error=str(error))

    # ------------------------------------------------------------ retention (see store.py)

    async def hold(self, event_id: str, claim: Claim) -> bool:
        return await self._call(lambda: self.hold_now(event_id, claim))

    def hold_now(self, event_id: str, claim: Claim) -> bool:
        packed = _pack_id(event_id)
        self._begin()
        try:
            if self._conn.execute("SELECT 1 FROM events WHERE event_id = ?", (packed,)).fetchone() is None:
                self._undo()
                return False
            self._conn.execute(
                "INSERT INTO holds VALUES (?,?,?,?) ON CONFLICT (event_id, topic, part)"
                " DO UPDATE SET off = max(off, excluded.off)",
                (packed, claim.topic, claim.partition, claim.offset),
            )
            self._end()
        except BaseException:
            self._undo()
            raise
        return True

    async def committed(self, positions: Mapping[tuple[str, int], int]) -> None:
        rows = [(topic, partition, position) for (topic, partition), position in positions.items()]
        await self._call(lambda: self._committed(rows))

    def _committed(self, rows: list[tuple[str, int, int]]) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(
                "INSERT INTO positions VALUES (?,?,?)"
                " ON CONFLICT (topic, part) DO UPDATE SET pos = excluded.pos",
                rows,
            )
            self._conn.executemany("DELETE FROM holds WHERE topic = ? AND part = ? AND off < ?", rows)
            self._conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _apply(self, write: Write) -> int | None:
        event, outcome = write.event, write.event.outcome
        self._conn.execute(
            "INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                _pack_id(event.event_id),
                event.versioncreated,
                event.claim.topic,
                event.claim.partition,
                event.claim.offset,
                event.claim.item_index,
                outcome.relation.value,
                _pack_id(outcome.story_id),
                _pack_id(outcome.supersedes),
                _pack_id(outcome.duplicate_of),
                _pack_id(outcome.matched_event_id),
                outcome.similarity,
                outcome.method,
            ),
        )
        if write.item is not None:
            item = write.item
            self._conn.execute(
                "INSERT OR REPLACE INTO items VALUES (?,?,?,?,?,?)",
                (
                    _pack_id(write.item_key),
                    item.versioncreated,
                    _pack_id(item.event_id),
                    item.version,
                    _pack_hash(item.content_hash),
                    _pack_id(item.story_id),
                ),
            )
        if write.story is None:
            return None
        story = write.story
        # SQLite's own choice (the largest slot + 1), but never one handed out before.
        (slot,) = self._conn.execute(
            "INSERT INTO stories (slot, vc, event_id, story_id, sig, numbers) VALUES"
            " (max(?, (SELECT ifnull(max(slot), 0) + 1 FROM stories)), ?, ?, ?, ?, ?) RETURNING slot",
            (
                self._next_slot,
                story.versioncreated,
                _pack_id(story.event_id),
                _pack_id(story.story_id),
                to_bytes(story.signature),
                story.numbers or None,
            ),
        ).fetchone()
        self._next_slot = slot + 1
        return int(slot)

    def bulk_insert(self, writes: Iterable[Write]) -> None:
        """Apply many writes in one transaction without conflict checks (warm-up, benchmarks)."""
        slots: list[int] = []
        keys: list[tuple[int, ...]] = []
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for write in writes:
                added = self._apply(write)
                if added is not None and write.story is not None:
                    slots.append(added)
                    keys.append(write.story.band_keys)
                self._watermark.observe(write.event.versioncreated)
            self._conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        if slots:
            self._index.add_many(np.asarray(keys, dtype=np.int64), np.asarray(slots, dtype=np.int64))
            self._count += len(slots)
            self._generation += 1

    def evict(self) -> None:
        """Drop what fell out of the time window, then the oldest stories beyond max_stories."""
        cutoff = self._watermark.cutoff
        removed: list[int] = []
        self._begin()
        try:
            removed += [
                r[0] for r in self._conn.execute("DELETE FROM stories WHERE vc < ? RETURNING slot", (cutoff,))
            ]
            excess = self._count - len(removed) - self._settings.max_stories
            if excess > 0:
                removed += [
                    r[0]
                    for r in self._conn.execute(
                        "DELETE FROM stories WHERE slot IN"
                        " (SELECT slot FROM stories ORDER BY vc, slot LIMIT ?) RETURNING slot",
                        (excess,),
                    )
                ]
            self._conn.execute(_EVICT_EVENTS, (cutoff,))
            self._conn.execute("DELETE FROM items WHERE vc < ?", (cutoff,))
            self._end()
        except BaseException:
            self._undo()
            raise
        self._evict_pending = False
        if self._batch is None:
            self._index.remove(removed)
        else:
            self._batch.evicted += removed
        self._count -= len(removed)
        if removed:
            self._generation += 1

    def size(self) -> int:
        return self._count

    @property
    def index_bytes(self) -> int:
        return self._index.nbytes

    async def close(self) -> None:
        try:
            await self._call(self._conn.close)
        finally:
            self._thread.shutdown(wait=True)
