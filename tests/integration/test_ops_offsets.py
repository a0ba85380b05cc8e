"""`wire-ingest offsets reset` on a real broker: every target, dry run, refusal while the group is active."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from service.cli import main
from service.harness import MockCluster
from service.ops.offsets import GroupActiveError, ResetRequest, ResetTo, reset_offsets
from service.settings import Settings
from tests.conftest import Broker
from tests.integration.kafka_helpers import create, settings_for

pytestmark = pytest.mark.integration

START = datetime(2024, 9, 15, 8, 0, tzinfo=UTC)
PER_PARTITION = 6


async def fill(settings: Settings) -> None:
    """PER_PARTITION records in each of 3 partitions, one a minute from START, one record per request."""
    producer = AIOKafkaProducer(**settings.kafka.client_kwargs())
    await producer.start()
    try:
        for minute in range(PER_PARTITION):
            millis = int((START + timedelta(minutes=minute)).timestamp() * 1000)
            for partition in range(3):
                await producer.send_and_wait(
                    settings.topics.raw, b"x", partition=partition, timestamp_ms=millis
                )
    finally:
        await producer.stop()


async def committed(settings: Settings, group: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(**settings.kafka.client_kwargs())
    await admin.start()
    try:
        tps = [TopicPartition(settings.topics.raw, p) for p in range(3)]
        offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == settings.topics.raw}


async def commit(settings: Settings, group: str, offsets: dict[int, int]) -> None:
    """Give the group committed offsets the way a stopped service would have left them."""
    consumer = AIOKafkaConsumer(**settings.kafka.client_kwargs(), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = {TopicPartition(settings.topics.raw, p): o for p, o in offsets.items()}
        consumer.assign(list(tps))
        await consumer.commit(tps)
    finally:
        await consumer.stop()


async def test_reset_to_earliest_latest_and_shift(kafka: Broker, unique: str, tmp_path: Path) -> None:
    """Each target moves every partition's committed offset, clamped to what the partition holds."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path)
    group = settings.kafka.group_id
    await create(settings)
    await fill(settings)
    await commit(settings, group, {0: 4, 1: 5, 2: 1})

    plan = await reset_offsets(settings, ResetRequest(group=group, to=ResetTo.SHIFT, shift=-2))
    assert {p.partition: (p.current, p.new) for p in plan.partitions} == {0: (4, 2), 1: (5, 3), 2: (1, 0)}
    assert await committed(settings, group) == {0: 2, 1: 3, 2: 0}

    await reset_offsets(settings, ResetRequest(group=group, to=ResetTo.SHIFT, shift=100))
    assert await committed(settings, group) == dict.fromkeys(range(3), PER_PARTITION)
    await reset_offsets(settings, ResetRequest(group=group, to=ResetTo.EARLIEST))
    assert await committed(settings, group) == dict.fromkeys(range(3), 0)
    await reset_offsets(settings, ResetRequest(group=group, to=ResetTo.LATEST, topics=(settings.topics.raw,)))
    assert await committed(settings, group) == dict.fromkeys(range(3), PER_PARTITION)


async def test_dry_run_commits_nothing(kafka: Broker, unique: str, tmp_path: Path) -> None:
    """--dry-run shows the new offsets and leaves the committed ones alone."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path)
    group = settings.kafka.group_id
    await create(settings)
    await fill(settings)
    await commit(settings, group, {0: 3, 1: 3, 2: 3})
    plan = await reset_offsets(settings, ResetRequest(group=group, to=ResetTo.EARLIEST), dry_run=True)
    assert [p.new for p in plan.partitions] == [0, 0, 0]
    assert await committed(settings, group) == {0: 3, 1: 3, 2: 3}


async def test_refuses_while_the_group_has_members(kafka: Broker, unique: str, tmp_path: Path) -> None:
    """A reset under a running member is refused, names the member, and changes nothing."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path)
    group = settings.kafka.group_id
    await create(settings)
    await fill(settings)
    await commit(settings, group, {0: 2, 1: 2, 2: 2})
    kafka_settings = settings.kafka.model_copy(update={"client_id": "busy-member"})
    member = AIOKafkaConsumer(
        **kafka_settings.client_kwargs(),
        group_id=group,
        enable_auto_commit=False,
        session_timeout_ms=6000,
    )
    await member.start()
    try:
        member.subscribe([settings.topics.raw])
        for _ in range(200):  # until the join completes (each poll is bounded by its own timeout)
            await member.getmany(timeout_ms=100, max_records=1)
            if member.assignment():
                break
        assert member.assignment()
        with pytest.raises(GroupActiveError, match=r"1 active member.*busy-member"):
            await reset_offsets(settings, ResetRequest(group=group, to=ResetTo.EARLIEST))
    finally:
        await member.stop()
    # Nothing moved. (Whether a reset succeeds once the member is gone depends on when the broker
    # drops it; Tansu keeps it until its session expires, so that part is not asserted here.)
    assert await committed(settings, group) == {0: 2, 1: 2, 2: 2}


async def test_reset_to_timestamp_on_mock_cluster(
    mock_cluster: MockCluster, unique: str, tmp_path: Path
) -> None:
    """--to-timestamp moves each partition to its first record at or after the time."""
    settings = settings_for(mock_cluster.bootstrap_servers, unique, tmp_path)
    for topic in settings.topics.all():
        mock_cluster.create_topic(topic, 3)
    group = settings.kafka.group_id
    await fill(settings)
    await commit(settings, group, {0: 6, 1: 6, 2: 6})
    moment = START + timedelta(minutes=3, seconds=30)
    plan = await reset_offsets(settings, ResetRequest(group=group, to=ResetTo.TIMESTAMP, timestamp=moment))
    assert [p.new for p in plan.partitions] == [4, 4, 4]
    assert await committed(settings, group) == {0: 4, 1: 4, 2: 4}
    later = START + timedelta(hours=1)  # after every record: the end
    await reset_offsets(settings, ResetRequest(group=group, to=ResetTo.TIMESTAMP, timestamp=later))
    assert await committed(settings, group) == dict.fromkeys(range(3), PER_PARTITION)


def test_reset_through_the_cli(
    kafka: Broker, unique: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`wire-ingest offsets reset` parses its target, prints the plan and commits it."""
    import asyncio

    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path)
    group = settings.kafka.group_id

    async def setup() -> None:
        await create(settings)
        await fill(settings)
        await commit(settings, group, {0: 5, 1: 5, 2: 5})

    asyncio.run(setup())
    config = tmp_path / "wire-ingest.toml"
    config.write_text(f'[kafka]\nbootstrap_servers = "{kafka.bootstrap_servers}"\n', encoding="utf-8")
    capsys.readouterr()
    argv = ["--config", str(config), "offsets", "reset", "--group", group, "--topic", settings.topics.raw]
    argv += ["--shift", "-3", "--json"]
    assert main(argv) == 0
    printed = orjson.loads(capsys.readouterr().out)
    assert [(p["current"], p["new"]) for p in printed["partitions"]] == [(5, 2)] * 3
    assert asyncio.run(committed(settings, group)) == {0: 2, 1: 2, 2: 2}
    assert main([*argv[:4], "--group", group, "--topic", f"none-{unique}", "--to-earliest"]) == 1
    assert "does not exist" in capsys.readouterr().err
