"""Fixtures of the fault tests: a private mock cluster per test, a Redis of our own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.harness import MockCluster


@pytest.fixture
def own_cluster() -> Iterator[MockCluster]:
    """A mock cluster for this test alone: injected faults and leftover request errors cannot leak."""
    with MockCluster(brokers=3) as cluster:
        yield cluster
