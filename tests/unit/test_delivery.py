"""Delivery: the producer's life across failures, and the backoff between retries."""

from __future__ import annotations

import random
import socket

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

import service.delivery
from service.delivery import Delivery, LastKeyPartitioner, murmur2
from service.observability import Health, Metrics
from service.retry import Backoff
from service.settings import Settings


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_producer_that_cannot_start_is_stopped_not_leaked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Renewing the producer while the broker is unreachable leaves no started client behind."""
    made: list[AIOKafkaProducer] = []
    real = service.delivery.make_producer

    def recording(settings: Settings, *, transactional: bool = False) -> AIOKafkaProducer:
        made.append(real(settings, transactional=transactional))
        return made[-1]

    monkeypatch.setattr(service.delivery, "make_producer", recording)
    settings = Settings.model_validate(
        {"kafka": {"bootstrap_servers": f"127.0.0.1:{_closed_port()}", "request_timeout_ms": 1000}}
    )
    health = Health()
    delivery = Delivery(settings, Metrics(CollectorRegistry()), health, "g")
    for _ in range(3):
        with pytest.raises(KafkaError):
            await delivery._renew_producer()
    assert len(made) == 4  # the first one and three renewals
    # Every renewal that failed to start was stopped again (aiokafka marks a stopped producer _closed).
    assert all(producer._closed for producer in made[1:])
    await delivery.stop()


def test_backoff_grows_exponentially_with_jitter_up_to_its_cap() -> None:
    """Waits are random below a ceiling that doubles per attempt and stops at the cap."""
    backoff = Backoff(0.5, 8.0, rng=random.Random(3))
    waits = [backoff.next_delay() for _ in range(12)]
    ceilings = [min(8.0, 0.5 * 2**n) for n in range(12)]
    assert all(0.05 <= wait <= ceiling for wait, ceiling in zip(waits, ceilings, strict=True))
    assert max(waits[6:]) > 2.0  # with the cap reached, long waits do occur
    assert len(set(waits)) == len(waits)  # jitter: no two instances retry in lock-step
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_transactional_ids_differ_per_instance_and_stage() -> None:
    """The default transactional id is unique per instance name and stage; a configured one wins."""

    def txn(**pipeline: object) -> str:
        return Settings.model_validate({"pipeline": pipeline}).transactional_id()

    assert txn(instance_name="ingest-0") != txn(instance_name="ingest-1")
    assert txn(instance_name="a", stage="ingest") != txn(instance_name="a", stage="enrich")
    assert txn(instance_name="a", transactional_id="fixed") == "fixed"


def test_max_message_bytes_cannot_exceed_the_producer_request_size() -> None:
    """A message budget the producer could never send is refused at start-up."""
    with pytest.raises(ValueError, match="max_message_bytes"):
        Settings.model_validate({"pipeline": {"max_message_bytes": 8_000_000}})


@given(st.binary(max_size=200))
def test_murmur2_is_aiokafkas(key: bytes) -> None:
    """The word-at-a-time murmur2 the partitioner uses is aiokafka's (the Java client's), bit for bit."""
    assert murmur2(key) == aiokafka_murmur2(key)


def test_last_key_partitioner_partitions_as_aiokafka_does() -> None:
    """Remembering the last key's hash changes no partition: random keys, repeated keys and
    several partition counts give what aiokafka's default partitioner gives."""
    rng = random.Random(5)
    ours, theirs = LastKeyPartitioner(), DefaultPartitioner()
    keys = [rng.randbytes(rng.randint(0, 40)) for _ in range(300)]
    for key in [twice for once in keys for twice in (once, once)] + keys[::-1]:
        for count in (1, 3, 12):
            partitions = list(range(count))
            assert ours(key, partitions, partitions) == theirs(key, partitions, partitions)
    assert ours(None, [0, 1, 2], [2]) == 2  # no key: one of the available partitions
