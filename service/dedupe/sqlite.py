"""State in one SQLite file (WAL): the default backend for a single instance.

Rows keep UUIDs and hashes as 16/32-byte blobs and a story's MinHash as
`num_perm` little-endian uint32 values, so a story costs a few hundred bytes
on disk. The LSH band index lives in memory and is rebuilt from the stored
signatures at open. One instance per file: the index is not shared.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..models import Relation
from ..settings import DedupeSettings
from .decide import Candidate, Claim, ItemState, Outcome, RecordedEvent, Snapshot
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
"""

Packed = bytes | str | None


def _pack_id(value: str | None) -> Packed:
    """A UUID as its 16 bytes (anything else kept as text)."""
    if value is None:
        return None
    try:
        return uuid.UUID(value).bytes
    except ValueError:
        return value


def _unpack_id(value: Packed) -> str | None:
    if isinstance(value, bytes):
        return str(uuid.UUID(bytes=value))
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


class SqliteStore(InProcessConflicts):
    def __init__(self, conn: sqlite3.Connection, settings: DedupeSettings) -> None:
        super().__init__()
        self._conn = conn
        self._settings = settings
        self._params = lsh_params(settings.threshold, settings.num_perm)
        self._index = BandIndex()
        self._watermark = Watermark(settings.window_days * 86_400.0)
        self._count = 0

    @classmethod
    def open(cls, settings: DedupeSettings, path: Path | None = None) -> SqliteStore:
        """Open or create the file, check its signature settings match, load the band index."""
        target = path or settings.sqlite_path
        target.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
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
        store._load()
        return store

    def _load(self) -> None:
        slots: list[int] = []
        blobs: list[bytes] = []
        for slot, sig in self._conn.execute("SELECT slot, sig FROM stories"):
            slots.append(slot)
            blobs.append(sig)
        self._count = len(slots)
        if slots:
            sigs = np.frombuffer(b"".join(blobs), dtype="<u4").reshape(len(slots), -1).astype(np.uint32)
            self._index.add_many(band_key_matrix(sigs, self._params), np.asarray(slots, dtype=np.int64))
        latest = self._conn.execute("SELECT max(vc) FROM events").fetchone()[0]
        if latest is not None:
            self._watermark.observe(float(latest))

    # ------------------------------------------------------------ reads

    async def snapshot(self, event_id: str, item_key: str) -> Snapshot:
        return Snapshot(self._event(event_id), self._item(item_key))

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
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            if self._conflict(write):
                self._conn.execute("ROLLBACK")
                return False
            added = self._apply(write)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        if added is not None:
            self._index.add(write.story.band_keys if write.story else (), added)
            self._count += 1
            self._generation += 1
        self._watermark.observe(write.event.versioncreated)
        if self._watermark.due() or self._count > self._settings.max_stories:
            self.evict()
        return True

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
        cursor = self._conn.execute(
            "INSERT INTO stories (vc, event_id, story_id, sig, numbers) VALUES (?,?,?,?,?)",
            (
                story.versioncreated,
                _pack_id(story.event_id),
                _pack_id(story.story_id),
                to_bytes(story.signature),
                story.numbers or None,
            ),
        )
        return cursor.lastrowid

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
            self._conn.execute("ROLLBACK")
            raise
        if slots:
            self._index.add_many(np.asarray(keys, dtype=np.int64), np.asarray(slots, dtype=np.int64))
            self._count += len(slots)
            self._generation += 1

    def evict(self) -> None:
        """Drop what fell out of the time window, then the oldest stories beyond max_stories."""
        cutoff = self._watermark.cutoff
        removed: list[int] = []
        self._conn.execute("BEGIN IMMEDIATE")
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
            self._conn.execute("DELETE FROM events WHERE vc < ?", (cutoff,))
            self._conn.execute("DELETE FROM items WHERE vc < ?", (cutoff,))
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._index.remove(removed)
        self._count -= len(removed)
        if removed:
            self._generation += 1

    def size(self) -> int:
        return self._count

    @property
    def index_bytes(self) -> int:
        return self._index.nbytes

    async def close(self) -> None:
        self._conn.close()
