"""`wire-ingest process`: the offline contract tools and tests rely on."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import SAMPLES

SEED = SAMPLES / "xinhua_xi_aliyev_samarkand.txt"
REPRINT = SAMPLES / "xinhua_xi_aliyev_samarkand_reprint.ninjs.json"
MALFORMED = SAMPLES / "11_malformed_truncated.newsml_g2.xml"


def _process(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "process", *args], input=stdin, capture_output=True, check=False
    )


def test_every_input_becomes_json_lines_and_exit_code_zero() -> None:
    """Good, duplicate and bad items all come out as {topic, key, headers, value} lines; exit 0."""
    done = _process(str(SEED), str(REPRINT), str(MALFORMED))
    assert done.returncode == 0, done.stderr.decode()
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["topic"] for line in lines] == [
        "articles.canonical",
        "articles.enriched",
        "articles.duplicates",
        "wire.dlq",
    ]
    for line in lines:
        assert set(line) == {"topic", "key", "headers", "value"}
        assert line["headers"]["schema-version"] == "1.1"
    enriched = lines[1]["value"]
    assert enriched["headline"] == "Xi meets with Azerbaijani President Aliyev"
    assert lines[1]["key"] == enriched["story_id"]
    # The reprint from another agency shares the seed's story and points at its event.
    assert lines[2]["value"]["duplicate_of"] == enriched["event_id"]
    assert lines[2]["value"]["story_id"] == enriched["story_id"]
    assert lines[3]["value"]["reason"] == "malformed_xml"


def test_stdin_is_read_with_a_dash() -> None:
    """'-' reads one raw item from standard input."""
    done = _process("-", stdin=SEED.read_bytes())
    assert done.returncode == 0
    topics = [json.loads(line)["topic"] for line in done.stdout.splitlines()]
    assert topics == ["articles.canonical", "articles.enriched"]


def test_same_input_gives_the_same_event_ids() -> None:
    """Deterministic IDs: two runs over the same file give the same event and story IDs."""
    first, second = (_process(str(SEED)) for _ in range(2))
    ids = [
        [(json.loads(x)["value"]["event_id"], json.loads(x)["key"]) for x in r.stdout.splitlines()]
        for r in (first, second)
    ]
    assert ids[0] == ids[1]


def test_missing_file_is_a_usage_error() -> None:
    """A path that does not exist is the only kind of failure: exit code 2, nothing on stdout."""
    done = _process(str(SEED.with_name("no-such-file.xml")))
    assert done.returncode == 2
    assert done.stdout == b""
    assert b"no such file" in done.stderr
