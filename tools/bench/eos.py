"""Exactly-once vs at-least-once: the same service runs on librdkafka's mock cluster.

Tansu cannot do idempotent producers or transactions, so both modes run on the
mock cluster (slower than Tansu; compare the two modes with each other only).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service.harness import MockCluster
from service.settings import Settings
from tools.bench.kafka_runs import saturation
from tools.bench.records import BenchRecord

ALO, EOS = "service:at_least_once", "service:exactly_once"


def exactly_once(
    records: Sequence[BenchRecord], repetitions: int, warmup: int, state_dir: Path
) -> dict[str, Any]:
    with MockCluster(brokers=3) as cluster:
        created: set[str] = set()

        def create(settings: Settings) -> None:
            # The mock cluster has no CreateTopics; its own API creates them (once each).
            for topic in settings.topics.all():
                if topic not in created:
                    cluster.create_topic(topic, settings.topics.partitions, 1)
                    created.add(topic)

        sections: dict[str, dict[str, Any]] = {
            ALO: {"pipeline": {"delivery": "at_least_once"}},
            EOS: {"pipeline": {"delivery": "exactly_once"}, "kafka": {"enable_idempotence": True}},
        }
        return saturation(
            cluster.bootstrap_servers,
            records,
            repetitions=repetitions,
            warmup=warmup,
            state_dir=state_dir,
            kinds=(ALO, EOS),
            sections=sections,
            create=create,
        )
