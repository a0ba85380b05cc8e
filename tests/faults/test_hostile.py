"""Hostile input through the real service on a real broker: each item on the DLQ or as a valid event."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Broker

from .harness import record_figures
from .hostile import FAMILIES, run_hostile

pytestmark = pytest.mark.integration

# The suite's budget; tools/hostile_corpus.py runs the full 10,000-item corpus.
ITEMS = 1600
BIG_BODIES = 2


async def test_hostile_corpus_ends_on_the_dlq_or_as_valid_events(
    kafka: Broker, unique: str, tmp_path: Path
) -> None:
    """1,600 hostile items, two 10 MB bodies: each accounted for once; no leak, crash or stalled partition."""
    run = await run_hostile(kafka.bootstrap_servers, tmp_path, unique, ITEMS, big_bodies=BIG_BODIES)
    record_figures("hostile_suite", run.figures())
    assert run.problems() == []
    assert run.report.inputs == ITEMS + BIG_BODIES
    assert sum(run.report.destinations.values()) == ITEMS + BIG_BODIES
    # Every family, the 10 MB bodies included, was generated and reached an output topic.
    assert len(run.families) == len(FAMILIES) + 1
    assert set(run.by_family) == set(run.families)
    assert run.families["big_body_10mb"] == BIG_BODIES
    # A bug caught by the per-record guard still ends on the DLQ, but it is a bug: none expected.
    assert run.reasons["internal_error"] == 0
