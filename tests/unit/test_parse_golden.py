"""Golden tests: every sample and fixture item normalizes to the checked expected JSON.

Expected files live in tests/fixtures/formats/expected/ and were reviewed by hand
(see tests/fixtures/formats/README.md). To regenerate after an intended change, run
`WIRE_INGEST_UPDATE_GOLDEN=1 pytest tests/unit/test_parse_golden.py`, then review
the diff before committing: the run that rewrites them fails on purpose.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from service import ids
from service.errors import RecordError
from service.models import RecordMeta
from service.normalize import normalize
from service.parse import parse

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "service" / "data" / "samples"
INPUTS = ROOT / "tests" / "fixtures" / "formats" / "inputs"
EXPECTED = ROOT / "tests" / "fixtures" / "formats" / "expected"
RECORD = RecordMeta(
    topic="wire.raw", partition=0, offset=7, timestamp=datetime(2022, 9, 17, 12, 0, tzinfo=UTC)
)
UPDATE = os.environ.get("WIRE_INGEST_UPDATE_GOLDEN") == "1"

CASES = sorted(SAMPLES.iterdir()) + sorted(INPUTS.iterdir())


def render(path: Path) -> Any:
    """What a file becomes: the list of canonical articles, or the dead-letter reason."""
    raw = path.read_bytes()
    try:
        items = parse(raw)
        articles = [normalize(item, RECORD, raw_sha256=ids.sha256_hex(raw)) for item in items]
    except RecordError as exc:
        return {"dead_letter": exc.reason.value}
    out = []
    for article in articles:
        data = article.model_dump(mode="json")
        data["lineage"].pop("raw_sha256")  # covered by its own test; keeps files editable by hand
        out.append(data)
    return out


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_golden(path: Path) -> None:
    """The file's canonical articles (or dead-letter reason) equal the reviewed expected JSON."""
    expected_path = EXPECTED / f"{path.name}.json"
    actual = render(path)
    if UPDATE:
        expected_path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        pytest.fail(f"rewrote {expected_path.name}: review the diff, then rerun without the variable")
    assert expected_path.exists(), f"no expected output for {path.name}"
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    assert actual == expected


def test_every_expected_file_has_an_input() -> None:
    """No stale expected file is left behind when a fixture is renamed or removed."""
    names = {p.name for p in CASES}
    stale = [p.name for p in EXPECTED.iterdir() if p.name.removesuffix(".json") not in names]
    assert stale == []
