"""Store failures classified: outages become StoreUnavailableError (held, retried), bugs stay themselves.

The replies are built the way redis-py builds them from the server's error lines (its own
parser), so a change of redis-py's mapping shows up here; the integration tests provoke
the common ones on a real server and a real SQLite file.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest
from redis._parsers.base import BaseParser
from redis.exceptions import ConnectionError, DataError, RedisError, TimeoutError

from service.dedupe.failures import from_redis, from_sqlite
from service.errors import StoreUnavailableError

OUTAGE_REPLIES = [
    "OOM command not allowed when used memory > 'maxmemory'.",
    "READONLY You can't write against a read only replica.",
    "LOADING Redis is loading the dataset in memory",
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
    "TRYAGAIN Multiple keys request during rehashing of slot",
    "CLUSTERDOWN The cluster is down",
    "NOPERM this user has no permissions to run the 'evalsha' command",
    "NOAUTH Authentication required.",
    "WRONGPASS invalid username-password pair or user is disabled.",
    "NOREPLICAS Not enough good replicas to write.",
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.",
    "MOVED 3999 127.0.0.1:6381",
    "ERR Error running script (call to f_0743): @user_script:18: -OOM command not allowed",  # Redis 6
    "ERR max number of clients reached",
]
BUG_REPLIES = [
    "WRONGTYPE Operation against a key holding the wrong kind of value script: 0afd6381, on @user_script:1.",
    "ERR user_script:1: Script attempted to access nonexistent global variable 'nosuch' script: 42d",
    "ERR wrong number of arguments for 'zadd' command",
]


@pytest.mark.parametrize("reply", OUTAGE_REPLIES, ids=lambda r: r.split()[0])
def test_outage_replies_become_store_unavailable(reply: str) -> None:
    """Each server state that heals without touching the record is retriable."""
    error = BaseParser.parse_error(reply)
    assert isinstance(from_redis(error), StoreUnavailableError), type(error)


@pytest.mark.parametrize("reply", BUG_REPLIES, ids=lambda r: r.split()[1])
def test_bug_replies_stay_themselves(reply: str) -> None:
    """Our own script's errors and WRONGTYPE reach the per-record guard unchanged."""
    error = BaseParser.parse_error(reply)
    assert from_redis(error) is error


def test_a_pipeline_command_failing_with_an_outage_is_an_outage() -> None:
    """redis-py rewrites a failed pipeline command's message; the code inside still counts."""
    error = BaseParser.parse_error("BUSY Redis is busy running a script.")
    error.args = (f"Command # 1 (GET k) of pipeline caused error: {error.args}",)
    assert isinstance(from_redis(error), StoreUnavailableError)
    wrongtype = BaseParser.parse_error("WRONGTYPE Operation against a key holding the wrong kind of value")
    wrongtype.args = (f"Command # 2 (HGETALL k) of pipeline caused error: {wrongtype.args}",)
    assert from_redis(wrongtype) is wrongtype


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (ConnectionError("Connection refused"), True),
        (TimeoutError("Timeout reading from socket"), True),
        (DataError("Invalid input of type: 'NoneType'"), False),
        (RedisError("something of our own"), False),
    ],
)
def test_client_side_errors(error: RedisError, outage: bool) -> None:
    """Lost connections and timeouts are outages; a value redis-py refuses to send is our bug."""
    assert isinstance(from_redis(error), StoreUnavailableError) is outage


def _sqlite_error(kind: type[sqlite3.Error], code: int, text: str) -> sqlite3.Error:
    error = kind(text)
    error.sqlite_errorcode = code
    return error


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (_sqlite_error(sqlite3.OperationalError, sqlite3.SQLITE_BUSY, "database is locked"), True),
        (_sqlite_error(sqlite3.OperationalError, sqlite3.SQLITE_BUSY_SNAPSHOT, "database is locked"), True),
        (_sqlite_error(sqlite3.OperationalError, sqlite3.SQLITE_LOCKED, "database table is locked"), True),
        (_sqlite_error(sqlite3.OperationalError, sqlite3.SQLITE_IOERR_WRITE, "disk I/O error"), True),
        (_sqlite_error(sqlite3.OperationalError, sqlite3.SQLITE_FULL, "database or disk is full"), True),
        (
            _sqlite_error(sqlite3.OperationalError, sqlite3.SQLITE_READONLY, "attempt to write a readonly"),
            True,
        ),
        (
            _sqlite_error(sqlite3.DatabaseError, sqlite3.SQLITE_CORRUPT, "database disk image is malformed"),
            True,
        ),
        (sqlite3.OperationalError("database is locked"), True),  # no result code: judged by the message
        (_sqlite_error(sqlite3.OperationalError, sqlite3.SQLITE_ERROR, "no such table: eventz"), False),
        (_sqlite_error(sqlite3.IntegrityError, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, "UNIQUE failed"), False),
        (_sqlite_error(sqlite3.DataError, sqlite3.SQLITE_TOOBIG, "string or blob too big"), False),
        (sqlite3.ProgrammingError("Cannot operate on a closed database."), False),
    ],
    ids=lambda value: str(value)[:24] if isinstance(value, sqlite3.Error) else None,
)
def test_sqlite_errors(error: sqlite3.Error, outage: bool) -> None:
    """Busy, locked, I/O, full, read-only and corrupt files are outages; SQL and misuse are bugs."""
    assert isinstance(from_sqlite(error), StoreUnavailableError) is outage


def test_the_service_starts_without_importing_redis() -> None:
    """redis (and the OpenTelemetry SDK it pulls in) is imported only by the Redis store, so a
    service on SQLite or memory does not pay for it on its way to joining its group."""
    code = "import sys, service.app; print([m for m in ('redis', 'opentelemetry.sdk') if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
