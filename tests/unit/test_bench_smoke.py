"""Smoke test of `make bench`: the quick stage run works end to end and writes its JSON."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

REPO_ROOT = Path(__file__).resolve().parents[2]
STAGES = {"parse+normalize", "dedupe (memory)", "enrich", "core pipeline"}


def test_quick_stage_bench_runs_and_writes_results(tmp_path: Path) -> None:
    """`tools/bench.py --quick --only stages` exits 0 and records a positive rate for every stage."""
    completed = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "tools" / "bench.py"),
            "--quick",
            "--only",
            "stages",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "core pipeline" in completed.stdout
    written = list(tmp_path.glob("bench-*.json"))
    assert len(written) == 1
    results = orjson.loads(written[0].read_bytes())
    assert {stage["name"] for stage in results["stages"]} == STAGES
    # Numbers are not judged here (tests never assert on speed); only that each stage processed items.
    assert all(stage["items"] > 0 and stage["items_per_s"]["median"] > 0 for stage in results["stages"])


def test_records_cover_every_format_and_kind() -> None:
    """The benchmark's record mix holds every supported wire format and every kind of repeat."""
    sys.path.insert(0, str(REPO_ROOT))
    from tools.bench.records import build_records
    from tools.bench.wire import FORMATS
    from tools.corpus import generated_stories

    records = build_records(generated_stories(200, body_chars=3000), 400)
    assert {r.wire_format for r in records} == set(FORMATS)
    assert {r.kind for r in records} == {"new", "redelivery", "update", "near_duplicate"}
    assert all(2000 < len(r.value) < 4500 for r in records)


def test_generated_records_parse_as_their_format() -> None:
    """Every rendered format parses into one item with a headline and a body (fallback corpus)."""
    sys.path.insert(0, str(REPO_ROOT))
    from service.parse import parse
    from tools.bench.records import build_records
    from tools.corpus import generated_stories

    records = build_records(generated_stories(40, body_chars=3000), 40, mix={"new": 1.0})
    for record in records:
        items = parse(record.value)
        assert len(items) == 1, record.wire_format
        assert items[0].headline, record.wire_format
        assert len(items[0].body_paragraphs) >= 2, record.wire_format
