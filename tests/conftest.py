"""Shared fixtures: real brokers (Tansu, librdkafka's mock cluster, or an external Kafka).

Set KAFKA_BOOTSTRAP_SERVERS to run the integration tests against a real
Apache Kafka (e.g. the docker-compose broker); otherwise a Tansu broker is
started for the session. A broker that cannot start fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from service.harness import MockCluster, TansuBroker

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = REPO_ROOT / "service" / "data" / "samples"


@dataclass(frozen=True)
class Broker:
    bootstrap_servers: str
    kind: str  # "tansu", "mock" or "external"


@pytest.fixture(scope="session")
def kafka() -> Iterator[Broker]:
    """The Kafka-protocol broker for integration tests."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield Broker(external, "external")
        return
    with TansuBroker() as broker:
        yield Broker(broker.bootstrap_servers, "tansu")


@pytest.fixture(scope="session")
def mock_cluster() -> Iterator[MockCluster]:
    """librdkafka's mock cluster: transactions, idempotence and fault injection."""
    with MockCluster(brokers=3) as cluster:
        yield cluster


@pytest.fixture
def unique() -> str:
    """A random suffix so each test has its own topics and consumer group."""
    return uuid.uuid4().hex[:10]
