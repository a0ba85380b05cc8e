"""One record never costs more than itself: per-record budgets on a real broker (issue 11).

Each test puts one costly record between good ones on a single partition and checks that
the costly one ends on the dead-letter topic exactly once, within the output budget, while
the good ones behind it are published and the member never loses its partitions.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from service.app import run_service
from service.observability import Metrics
from service.route import Outbound, message_size
from service.settings import Settings
from service.shell import RunLimits
from tests.conftest import SAMPLES, Broker
from tests.integration.kafka_helpers import committed_offset, create, produce, read_all, settings_for
from tests.unit.test_workers import long_ninjs

pytestmark = pytest.mark.integration

# Room for the multi-megabyte records these tests feed (the budgets under test are set apart).
BIG_RECORDS = {"kafka": {"max_request_size": 20 * 2**20, "max_partition_fetch_bytes": 20 * 2**20}}

GOOD = [
    (SAMPLES / "08_lukashenko_trade.ninjs.json").read_bytes(),
    (SAMPLES / "xinhua_xi_aliyev_samarkand.txt").read_bytes(),
]


async def _run(settings: Settings, records: int) -> Metrics:
    metrics = Metrics(CollectorRegistry())
    await run_service(
        settings,
        limits=RunLimits(max_records=records),
        metrics=metrics,
        serve_http=False,
        install_signal_handlers=False,
    )
    return metrics


async def _outputs(settings: Settings, expected: int) -> dict[str, list[object]]:
    return {
        topic: await read_all(settings, topic, expected=expected, max_polls=20)
        for topic in settings.topics.outputs()
    }


def _letters(outputs: dict[str, list[object]], settings: Settings) -> list[dict[str, object]]:
    return [orjson.loads(record.value) for record in outputs[settings.topics.dlq]]  # type: ignore[attr-defined]


async def test_a_record_too_large_for_a_dead_letter_is_dead_lettered_truncated(
    kafka: Broker, unique: str, tmp_path: Path
) -> None:
    """A 4.04 MiB record: one dead letter with a prefix, its size and sha256; nothing over the limit."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path, pipeline={"workers": 1})
    await create(settings)
    huge = b"not a wire item " * int(4.04 * 2**20 / 16)
    await produce(settings, [GOOD[0], huge, GOOD[1]], partition=0)
    metrics = await _run(settings, 3)

    outputs = await _outputs(settings, expected=2)
    [letter] = _letters(outputs, settings)
    assert letter["reason"] == "oversize"
    assert letter["raw_truncated"] is True
    assert letter["raw_size"] == len(huge)
    assert letter["raw_sha256"] == hashlib.sha256(huge).hexdigest()
    prefix = base64.b64decode(str(letter["raw_base64"]))
    assert 0 < len(prefix) < len(huge) and huge.startswith(prefix)
    for records in outputs.values():
        for record in records:
            size = (
                len(record.value) + len(record.key or b"") + sum(len(k) + len(v) for k, v in record.headers)
            )  # type: ignore[attr-defined]
            assert size <= settings.pipeline.max_message_bytes
    assert len(outputs[settings.topics.canonical]) == 2
    assert await committed_offset(settings, 0) == 3
    assert metrics.commits.labels("failed")._value.get() == 0


async def test_a_record_past_its_time_budget_costs_only_itself(
    kafka: Broker, unique: str, tmp_path: Path
) -> None:
    """Seconds of work, a 0.5 s budget: processing_timeout once, the rest published, no rebalance."""
    settings = settings_for(
        kafka.bootstrap_servers,
        unique,
        tmp_path,
        # ~2.5 s of CPU for the 15 MB record against 0.5 s; the small ones need ~10 ms.
        pipeline={"workers": 2, "record_timeout_seconds": 0.5, "max_item_bytes": 16 * 2**20},
        **BIG_RECORDS,
    )
    await create(settings)
    slow = long_ninjs(15)
    await produce(settings, [GOOD[0], slow, GOOD[1]], partition=0)
    metrics = await _run(settings, 3)

    outputs = await _outputs(settings, expected=2)
    [letter] = _letters(outputs, settings)
    assert (letter["reason"], letter["stage"], letter["source_offset"]) == ("processing_timeout", "worker", 1)
    assert letter["raw_truncated"] is True  # 12 MB never fits in one message
    assert len(outputs[settings.topics.canonical]) == 2
    assert await committed_offset(settings, 0) == 3
    assert metrics.worker_restarts.labels("timeout")._value.get() == 1
    # One assignment at start, none after: the slow record never cost the group membership.
    assert metrics.rebalances.labels("assigned")._value.get() == 1


async def test_a_feed_of_failing_items_yields_one_dead_letter(
    kafka: Broker, unique: str, tmp_path: Path
) -> None:
    """An RSS record with 1,500 empty items: one dead letter listing them, not 1,500 copies of the feed."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path, pipeline={"workers": 1})
    await create(settings)
    feed = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        + b"<item/>" * 1500
        + b"</channel></rss>"
    )
    await produce(settings, [feed, GOOD[0]], partition=0)
    await _run(settings, 2)

    outputs = await _outputs(settings, expected=1)
    [letter] = _letters(outputs, settings)
    assert letter["reason"] == "too_many_items"
    failed = letter["failed_items"]
    assert isinstance(failed, list) and len(failed) == 1000  # listed at most; the error says how many more
    assert (failed[0]["reason"], failed[0]["item_index"]) == ("too_many_items", 1000)
    assert {item["reason"] for item in failed[1:]} == {"empty_item"}
    assert [item["item_index"] for item in failed[1:]] == list(range(999))
    assert base64.b64decode(str(letter["raw_base64"])) == feed
    total = sum(len(r.value) for records in outputs.values() for r in records)  # type: ignore[attr-defined]
    assert total < 200 * 1024  # was 222 MB for a feed this size
    assert len(outputs[settings.topics.canonical]) == 1


async def test_outputs_follow_input_order_when_workers_finish_out_of_order(
    kafka: Broker, unique: str, tmp_path: Path
) -> None:
    """A slow record ahead of fast ones on one partition: each output topic keeps the input order."""
    settings = settings_for(
        kafka.bootstrap_servers,
        unique,
        tmp_path,
        topics={"partitions": 1},
        pipeline={"workers": 2, "max_item_bytes": 16 * 2**20, "record_timeout_seconds": 120},
        **BIG_RECORDS,
    )
    await create(settings)
    samples = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".json", ".xml"))[:8]
    values = [long_ninjs(3), *(p.read_bytes() for p in samples)]
    await produce(settings, values, partition=0)
    await _run(settings, len(values))

    seen: set[int] = set()
    for topic in settings.topics.outputs():
        offsets = []
        for record in await read_all(settings, topic, expected=1, max_polls=10):
            value = orjson.loads(record.value)
            offsets.append(value["lineage"]["offset"] if "lineage" in value else value["source_offset"])
        # One output partition per topic: its order is the order the service produced in.
        assert offsets == sorted(offsets), topic
        seen.update(offsets)
    # Every input offset produced something, the slow first record too (as output_too_large).
    assert seen == set(range(len(values)))
    assert await committed_offset(settings, 0) == len(values)


def test_message_size_counts_key_value_and_headers() -> None:
    """The output budget is checked on what the broker counts, not the value alone."""
    message = Outbound("t", b"key", b"x" * 100, (("h", b"vv"),))
    assert message_size(message) >= 100 + 3 + 3
