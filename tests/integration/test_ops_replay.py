"""`wire-ingest replay` on a real broker: ranges, idempotence, --force, sandbox, dry run, timestamps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from service.cli import main
from service.harness import MockCluster
from service.ops.ranges import RangeReader, RangeSpec
from service.ops.replay import InputKind, ReplayOptions, run_replay
from service.route import HEADER_REPLAY
from service.settings import Settings
from tests.conftest import SAMPLES, Broker
from tests.integration.kafka_helpers import create, produce, read_all, run_once, settings_for

pytestmark = pytest.mark.integration

SAMPLE_FILES = sorted(p for p in SAMPLES.iterdir() if p.is_file())


def item(index: int, tag: str = "") -> bytes:
    """A small ninjs item whose text is unlike every other item's (no near-duplicates)."""
    words = " ".join(f"w{index}{tag}x{n}" for n in range(60))
    return orjson.dumps(
        {
            "uri": f"urn:test:replay{tag}:{index}",
            "version": "1",
            "versioncreated": "2024-05-01T10:00:00Z",
            "headline": f"Replay item {index}{tag} on subject {index * 7919 % 1000}",
            "body_text": f"Paragraph {index}. {words}",
            "language": "en",
            "infosources": [{"name": "Test Agency"}],
        }
    )


async def outputs(settings: Settings, expected: int = 1) -> dict[str, list[Any]]:
    """Every record on each output topic."""
    return {
        topic: await read_all(settings, topic, expected=expected, max_polls=5)
        for topic in settings.topics.outputs()
    }


def counts(found: dict[str, list[Any]]) -> dict[str, int]:
    return {topic: len(records) for topic, records in found.items() if records}


async def test_replay_of_processed_input_republishes_nothing_until_forced(
    kafka: Broker, unique: str, tmp_path: Path
) -> None:
    """After the service ran, a replay withholds every output; --force republishes them, marked as replays."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path)
    await create(settings)
    await produce(settings, [p.read_bytes() for p in SAMPLE_FILES])
    await run_once(settings, len(SAMPLE_FILES))
    before = await outputs(settings)
    assert before[settings.topics.canonical] and before[settings.topics.dlq]

    summary = await run_replay(settings, ReplayOptions(progress=False))
    assert summary.records == len(SAMPLE_FILES)
    assert sum(summary.published.values()) == 0
    assert dict(summary.withheld) == counts(before)
    assert counts(await outputs(settings)) == counts(before)

    forced = await run_replay(settings, ReplayOptions(force=True, progress=False))
    assert dict(forced.published) == counts(before)
    after = await outputs(settings, expected=2 * sum(counts(before).values()))
    assert counts(after) == {topic: 2 * n for topic, n in counts(before).items()}
    for topic in (settings.topics.canonical, settings.topics.enriched):
        old, new = after[topic][: len(before[topic])], after[topic][len(before[topic]) :]
        originals = [orjson.loads(r.value) for r in before[topic]]
        replays = [orjson.loads(r.value) for r in after[topic] if dict(r.headers).get(HEADER_REPLAY)]
        assert len(replays) == len(new) == len(old)
        # Same deterministic IDs and decisions, only the lineage says "replay".
        assert sorted(e["event_id"] for e in replays) == sorted(e["event_id"] for e in originals)
        assert all(e["lineage"]["replay"] for e in replays)
        assert not any(e["lineage"]["replay"] for e in originals)


async def test_replay_of_unprocessed_range_publishes_once(kafka: Broker, unique: str, tmp_path: Path) -> None:
    """A replay of input nobody processed publishes it; running the same replay again publishes nothing."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path)
    await create(settings)
    await produce(settings, [item(i) for i in range(6)], partition=0)

    spec = RangeSpec(partitions=(0,), from_offset=1, to_offset=3)
    first = await run_replay(settings, ReplayOptions(spec=spec, progress=False))
    assert first.records == 3
    assert first.published[settings.topics.canonical] == 3
    canonical = await read_all(settings, settings.topics.canonical, expected=3)
    assert sorted(orjson.loads(r.value)["lineage"]["offset"] for r in canonical) == [1, 2, 3]

    second = await run_replay(settings, ReplayOptions(spec=spec, progress=False))
    assert sum(second.published.values()) == 0
    assert second.withheld[settings.topics.canonical] == 3
    assert len(await read_all(settings, settings.topics.canonical, expected=4, max_polls=5)) == 3


async def test_dry_run_counts_and_writes_nothing(kafka: Broker, unique: str, tmp_path: Path) -> None:
    """--dry-run reports what a replay would publish but neither produces nor records dedupe decisions."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path)
    await create(settings)
    await produce(settings, [item(i) for i in range(4)])

    dry = await run_replay(settings, ReplayOptions(dry_run=True, progress=False))
    assert dry.records == 4 and dry.published[settings.topics.canonical] == 4
    assert counts(await outputs(settings)) == {}
    # Nothing was recorded: the real run still publishes everything the dry run counted.
    real = await run_replay(settings, ReplayOptions(progress=False))
    assert dict(real.published) == dict(dry.published)


async def test_sandbox_replay_with_fresh_state_mirrors_production(
    kafka: Broker, unique: str, tmp_path: Path
) -> None:
    """A sandbox replay from an empty dedupe state publishes under the prefix what production published."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path)
    await create(settings)
    # One partition: dedupe decisions depend on arrival order (which copy of a story comes
    # first), and only within a partition is that order the same for production and replay.
    await produce(settings, [p.read_bytes() for p in SAMPLE_FILES], partition=0)
    await run_once(settings, len(SAMPLE_FILES))
    production = await outputs(settings)

    summary = await run_replay(
        settings, ReplayOptions(sandbox_prefix="replay.", fresh_state=True, progress=False)
    )
    sandbox = settings.model_copy(update={"topics": settings.topics.with_prefix("replay.")})
    mirrored = await outputs(sandbox)
    assert sum(summary.published.values()) == sum(counts(production).values())
    assert counts(await outputs(settings)) == counts(production)  # production untouched
    for topic, sandbox_topic in zip(settings.topics.outputs(), sandbox.topics.outputs(), strict=True):
        ids = sorted(orjson.loads(r.value).get("event_id", "") for r in production[topic])
        assert sorted(orjson.loads(r.value).get("event_id", "") for r in mirrored[sandbox_topic]) == ids


async def test_enrich_only_replay_of_canonical(kafka: Broker, unique: str, tmp_path: Path) -> None:
    """Replaying the canonical topic enriches only what is not on the enriched topic yet."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path, pipeline={"stage": "ingest"})
    await create(settings)
    await produce(settings, [item(i) for i in range(3)])
    await run_once(settings, 3)
    assert not await read_all(settings, settings.topics.enriched, expected=1, max_polls=5)

    first = await run_replay(settings, ReplayOptions(source=InputKind.CANONICAL, progress=False))
    assert first.published == {settings.topics.enriched: 3}
    again = await run_replay(settings, ReplayOptions(source=InputKind.CANONICAL, progress=False))
    assert sum(again.published.values()) == 0 and again.withheld[settings.topics.enriched] == 3
    forced = await run_replay(settings, ReplayOptions(source=InputKind.CANONICAL, force=True, progress=False))
    assert forced.published == {settings.topics.enriched: 3}
    enriched = [orjson.loads(r.value) for r in await read_all(settings, settings.topics.enriched, expected=6)]
    assert len(enriched) == 6
    assert sum(e["lineage"]["replay"] for e in enriched) == 6  # every message a replay published says so


async def test_reader_stops_at_end_captured_at_plan(kafka: Broker, unique: str, tmp_path: Path) -> None:
    """Records produced after the range was planned are not read, even on a broker that under-reports ends."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path)
    await create(settings)
    await produce(settings, [item(i) for i in range(5)], partition=1)
    async with RangeReader(settings) as reader:
        ranges = await reader.plan(settings.topics.raw, RangeSpec(partitions=(1,)))
        await produce(settings, [item(i, "late") for i in range(3)], partition=1)
        offsets = [r.offset async for batch in reader.read(settings.topics.raw, ranges) for r in batch]
    assert offsets == [0, 1, 2, 3, 4]


async def test_reader_reads_a_whole_batch_past_an_underreported_end(
    kafka: Broker, unique: str, tmp_path: Path
) -> None:
    """Records produced in one batch are all read (Tansu reports the end as the batch's first offset + 1)."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path)
    await create(settings)
    producer = AIOKafkaProducer(**settings.kafka.client_kwargs(), linger_ms=200)
    await producer.start()
    try:
        futures = [await producer.send(settings.topics.raw, item(i), partition=2) for i in range(7)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    async with RangeReader(settings) as reader:
        ranges = await reader.plan(settings.topics.raw, RangeSpec(partitions=(2,)))
        offsets = [r.offset async for batch in reader.read(settings.topics.raw, ranges) for r in batch]
    assert offsets == list(range(7))


async def test_timestamp_replay_on_mock_cluster(
    mock_cluster: MockCluster, unique: str, tmp_path: Path
) -> None:
    """--from-time/--to-time select exactly the records with timestamps in [from, to) (offsets_for_times)."""
    settings = settings_for(mock_cluster.bootstrap_servers, unique, tmp_path)
    for topic in settings.topics.all():
        mock_cluster.create_topic(topic, 3)
    start = datetime(2024, 9, 15, 8, 0, tzinfo=UTC)
    producer = AIOKafkaProducer(**settings.kafka.client_kwargs())
    await producer.start()
    try:
        for hour in range(6):
            moment = start + timedelta(hours=hour)
            for partition in range(3):
                await producer.send_and_wait(
                    settings.topics.raw,
                    item(hour * 10 + partition),
                    partition=partition,
                    timestamp_ms=int(moment.timestamp() * 1000),
                )
    finally:
        await producer.stop()

    spec = RangeSpec(from_time=start + timedelta(hours=2), to_time=start + timedelta(hours=4))
    summary = await run_replay(settings, ReplayOptions(spec=spec, progress=False))
    assert summary.records == 6
    assert [(r.partition, r.start, r.end) for r in summary.ranges] == [(p, 2, 4) for p in range(3)]
    canonical = await read_all(settings, settings.topics.canonical, expected=6)
    headlines = sorted(orjson.loads(r.value)["headline"].split()[2] for r in canonical)
    assert headlines == sorted(str(hour * 10 + p) for hour in (2, 3) for p in range(3))


async def test_time_range_on_a_broker_without_timestamp_lookup(
    kafka: Broker, unique: str, tmp_path: Path
) -> None:
    """Where the broker cannot look up times (Tansu), the range is found by bisecting the partition."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path)
    await create(settings)
    start = datetime(2024, 9, 15, 8, 0, tzinfo=UTC)
    producer = AIOKafkaProducer(**settings.kafka.client_kwargs())
    await producer.start()
    try:
        for minute in range(20):
            moment = start + timedelta(minutes=minute)
            await producer.send_and_wait(
                settings.topics.raw, item(minute), partition=0, timestamp_ms=int(moment.timestamp() * 1000)
            )
    finally:
        await producer.stop()
    spec = RangeSpec(
        partitions=(0,), from_time=start + timedelta(minutes=7), to_time=start + timedelta(minutes=13)
    )
    async with RangeReader(settings) as reader:
        ranges = await reader.plan(settings.topics.raw, spec)
        offsets = [r.offset async for batch in reader.read(settings.topics.raw, ranges) for r in batch]
    assert offsets == list(range(7, 13))


def test_replay_and_reenrich_through_the_cli(
    kafka: Broker, unique: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`wire-ingest replay` and `reenrich` read the settings file, take ranges and print JSON summaries."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path)

    async def setup() -> None:
        await create(settings)
        await produce(settings, [item(i, "cli") for i in range(4)], partition=1)

    asyncio.run(setup())
    topics = settings.topics
    config = tmp_path / "wire-ingest.toml"
    config.write_text(
        f'[kafka]\nbootstrap_servers = "{kafka.bootstrap_servers}"\n'
        f'[topics]\nraw = "{topics.raw}"\ncanonical = "{topics.canonical}"\nenriched = "{topics.enriched}"\n'
        f'duplicates = "{topics.duplicates}"\ndlq = "{topics.dlq}"\n'
        f'[dedupe]\nsqlite_path = "{settings.dedupe.sqlite_path}"\n',
        encoding="utf-8",
    )
    capsys.readouterr()
    base = ["--config", str(config)]
    range_args = ["--partition", "1", "--from-offset", "1", "--to-offset", "2", "--json"]
    assert main([*base, "replay", *range_args, "--dry-run"]) == 0
    dry = orjson.loads(capsys.readouterr().out)
    assert (dry["records"], dry["dry_run"], dry["published"]) == (
        2,
        True,
        {topics.canonical: 2, topics.enriched: 2},
    )
    assert main([*base, "replay", *range_args]) == 0
    assert orjson.loads(capsys.readouterr().out)["published"] == {topics.canonical: 2, topics.enriched: 2}
    assert main([*base, "reenrich", "--json"]) == 0
    reenriched = orjson.loads(capsys.readouterr().out)
    assert (reenriched["records"], reenriched["published"]) == (2, {})  # already enriched with this registry
    assert main([*base, "replay", "--from-time", "last tuesday"]) == 1
    assert "not an ISO 8601 timestamp" in capsys.readouterr().err
