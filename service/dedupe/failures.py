"""Which store failures are outages (hold the partition, retry) and which are bugs (dead letter).

The question asked of every error is: would the same call succeed later without anyone
changing this record or our code? If yes, it is an outage of the store and becomes
`StoreUnavailableError`: the shell holds the partition and retries with backoff, and the
record is never dead-lettered for it. That covers what an operator heals as well as what
heals by itself: a lost connection, a timeout, a Redis that is loading, read-only after a
failover, out of memory, busy with a script, missing its master, a cluster that is down or
resharding, a refused credential or ACL (NOAUTH, WRONGPASS, NOPERM: fixing the password or
the ACL heals them), and an SQLite file that is locked, busy, full, unreadable (I/O error),
read-only or corrupt (the whole file is unusable: that is an outage of the store, cured by
restoring or replacing it, not by moving records aside).

What stays a bug and reaches the per-record guard (dead letter `internal_error`, redrivable
once fixed): a Lua script error (`ERR ...` from our own script), `WRONGTYPE` (one of our keys
holds another type: scoped to that key, so it would stall a whole partition for one item
while nothing but a fix of the key or of our code cures it), invalid arguments (`DataError`),
and SQLite's programming errors (SQL errors, constraint violations, misuse, a value too big).
"""

from __future__ import annotations

import re
import sqlite3
from functools import cache
from typing import TYPE_CHECKING

from ..errors import StoreUnavailableError

if TYPE_CHECKING:
    from redis.exceptions import RedisError, ResponseError

# Error codes Redis sends for a state of the server, not of the command (redis-py maps some
# of them to classes, the rest arrive as a plain ResponseError whose text starts with the code).
_REDIS_OUTAGE_CODES = frozenset(
    {
        "OOM", "READONLY", "LOADING", "MASTERDOWN", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "NOPERM",
        "NOAUTH", "WRONGPASS", "NOREPLICAS", "MISCONF", "MOVED", "ASK", "CROSSSLOT", "NOSCRIPT",
        "UNBLOCKED", "NOMASTERLINK",
    }
)  # fmt: skip


@cache
def _redis_outage_classes() -> tuple[type[Exception], ...]:
    """redis-py's exception classes for outages, imported on first use: importing redis (and the
    OpenTelemetry SDK it pulls in) took ~0.1 s of every start-up, also with the SQLite or memory
    store, whose errors come through this module too."""
    from redis.exceptions import (  # noqa: PLC0415
        AskError,
        ClusterCrossSlotError,
        ClusterDownError,
        ConnectionError,
        NoPermissionError,
        NoScriptError,
        OutOfMemoryError,
        ReadOnlyError,
        TimeoutError,
        TryAgainError,
    )

    return (
        # ConnectionError also stands for AuthenticationError, AuthorizationError, BusyLoadingError
        # and MaxConnectionsError (their base class).
        ConnectionError,
        TimeoutError,
        OutOfMemoryError,
        ReadOnlyError,
        NoPermissionError,
        NoScriptError,
        TryAgainError,
        ClusterDownError,  # also MasterDownError
        AskError,  # also MovedError: a cluster endpoint where one server was configured
        ClusterCrossSlotError,
    )


# A code quoted inside another message: Redis before 7 wraps an error raised in a script as
# "ERR Error running script ...: -OOM ...", redis-py a failed pipeline command as
# "Command # 1 (GET k) of pipeline caused error: ('BUSY ...',)".
_CODE_INSIDE = re.compile(r"(?:^|[\s:('\"])-?([A-Z]{2,})\s")

# SQLite primary result codes that describe the file or the machine, not the statement.
_SQLITE_OUTAGES = frozenset(
    {
        "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CANTOPEN",
        "SQLITE_READONLY", "SQLITE_PROTOCOL", "SQLITE_NOMEM", "SQLITE_CORRUPT", "SQLITE_NOTADB",
        "SQLITE_INTERRUPT", "SQLITE_SCHEMA", "SQLITE_NOLFS", "SQLITE_AUTH", "SQLITE_PERM",
    }
)  # fmt: skip
_SQLITE_PRIMARY = {
    value: name
    for name, value in vars(sqlite3).items()
    if name.startswith("SQLITE_") and name.count("_") == 1 and isinstance(value, int)
}


def redis_code(error: ResponseError) -> str:
    """The Redis error code of a reply: redis-py keeps it as status_code or in the text."""
    code = getattr(error, "status_code", None)
    if isinstance(code, str) and code:
        return code
    text = str(error)
    return text.split(" ", 1)[0] if text else ""


def is_redis_outage(error: RedisError) -> bool:
    from redis.exceptions import InvalidResponse, ResponseError  # noqa: PLC0415 - see _redis_outage_classes

    if isinstance(error, _redis_outage_classes()):
        return True
    if not isinstance(error, ResponseError):
        return isinstance(error, InvalidResponse)  # a garbled reply; DataError and the like are ours
    if redis_code(error) in _REDIS_OUTAGE_CODES:
        return True
    return any(found.group(1) in _REDIS_OUTAGE_CODES for found in _CODE_INSIDE.finditer(str(error)))


def from_redis(error: RedisError) -> Exception:
    """The error to raise for a Redis failure: StoreUnavailableError for an outage, else itself."""
    if is_redis_outage(error):
        return StoreUnavailableError(f"dedupe: Redis unavailable: {type(error).__name__}: {error}")
    return error


def sqlite_code(error: sqlite3.Error) -> str:
    """SQLite's primary result code name (e.g. SQLITE_BUSY for SQLITE_BUSY_SNAPSHOT), '' when unknown."""
    number = getattr(error, "sqlite_errorcode", None)
    if isinstance(number, int):
        return _SQLITE_PRIMARY.get(number & 0xFF, "")
    return ""


def is_sqlite_outage(error: sqlite3.Error) -> bool:
    code = sqlite_code(error)
    if code:
        return code in _SQLITE_OUTAGES
    # No result code (an error raised by the sqlite3 module itself): judge by the message.
    text = str(error).lower()
    return isinstance(error, sqlite3.OperationalError) and any(
        marker in text for marker in ("locked", "busy", "disk", "i/o", "unable to open", "readonly")
    )


def from_sqlite(error: sqlite3.Error) -> Exception:
    """The error to raise for an SQLite failure: StoreUnavailableError for an outage, else itself."""
    if is_sqlite_outage(error):
        return StoreUnavailableError(f"dedupe: SQLite unavailable: {sqlite_code(error) or error}: {error}")
    return error
