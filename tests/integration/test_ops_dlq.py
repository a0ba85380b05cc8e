"""`wire-ingest dlq list | show | redrive` on a real broker, and redrive idempotence end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from service.cli import main
from service.ops.dlq import LetterFilter, count_letters, find_letter, read_letters, redrive
from service.ops.ranges import RangeSpec
from service.route import HEADER_REDRIVEN
from service.settings import Settings
from tests.conftest import SAMPLES, Broker
from tests.integration.kafka_helpers import create, read_all, run_once, settings_for

pytestmark = pytest.mark.integration

SEED = (SAMPLES / "xinhua_xi_aliyev_samarkand.txt").read_bytes()  # 3 KB: over the small limit below
TRUNCATED = (SAMPLES / "11_malformed_truncated.newsml_g2.xml").read_bytes()
SMALL_LIMIT = {"max_item_bytes": 3000}


def item(index: int) -> bytes:
    words = " ".join(f"d{index}x{n}" for n in range(50))
    return orjson.dumps(
        {
            "uri": f"urn:test:dlq:{index}",
            "version": "1",
            "versioncreated": "2024-05-01T10:00:00Z",
            "headline": f"Dead letter test item {index}",
            "body_text": f"Paragraph {index}. {words}",
            "language": "en",
        }
    )


async def produce_with_source(settings: Settings, records: list[tuple[bytes, str]]) -> None:
    """Each value with a key and a `source` header, one record per request."""
    producer = AIOKafkaProducer(**settings.kafka.client_kwargs())
    await producer.start()
    try:
        for index, (value, source) in enumerate(records):
            await producer.send_and_wait(
                settings.topics.raw, value, key=f"key-{index}".encode(), headers=[("source", source.encode())]
            )
    finally:
        await producer.stop()


FEED = [
    (TRUNCATED, "agency-a"),
    (item(1), "agency-a"),
    (TRUNCATED, "agency-a"),
    (SEED, "agency-a"),
    (TRUNCATED, "agency-b"),
    (item(2), "agency-b"),
]


async def dead_lettered(kafka: Broker, unique: str, tmp_path: Path) -> tuple[Settings, Settings]:
    """The feed processed with a small item limit: 3 malformed_xml letters and 1 oversize letter.

    Returns the settings of that run and the "fixed" settings (default limit).
    """
    fixed = settings_for(kafka.bootstrap_servers, unique, tmp_path)
    strict = fixed.model_copy(
        update={
            "pipeline": fixed.pipeline.model_copy(update={"max_item_bytes": SMALL_LIMIT["max_item_bytes"]})
        }
    )
    await create(fixed)
    await produce_with_source(fixed, FEED)
    await run_once(strict, len(FEED))
    assert len(await read_all(fixed, fixed.topics.dlq, expected=4)) == 4
    return strict, fixed


async def test_list_counts_by_reason_and_source(kafka: Broker, unique: str, tmp_path: Path) -> None:
    """dlq list counts letters by reason, by source and by both, and filters by reason or source."""
    _, settings = await dead_lettered(kafka, unique, tmp_path)
    letters, unreadable = await read_letters(settings, RangeSpec())
    assert unreadable == 0
    counts = count_letters(letters, LetterFilter())
    assert counts.total == 4
    assert dict(counts.by_reason) == {"malformed_xml": 3, "oversize": 1}
    assert dict(counts.by_source) == {"agency-a": 3, "agency-b": 1}
    assert dict(counts.by_reason_and_source) == {
        ("malformed_xml", "agency-a"): 2,
        ("malformed_xml", "agency-b"): 1,
        ("oversize", "agency-a"): 1,
    }
    assert count_letters(letters, LetterFilter(reasons=frozenset({"oversize"}))).total == 1
    assert count_letters(letters, LetterFilter(sources=frozenset({"agency-b"}))).total == 1


async def test_show_returns_the_original_bytes(kafka: Broker, unique: str, tmp_path: Path) -> None:
    """dlq show finds a letter by its DLQ offset and gives back exactly the bytes that failed."""
    _, settings = await dead_lettered(kafka, unique, tmp_path)
    letters, _ = await read_letters(settings, RangeSpec())
    oversize = next(item for item in letters if item.letter.reason == "oversize")
    shown = await find_letter(settings, oversize.offset, oversize.partition)
    assert shown.original == SEED
    assert shown.letter.source_headers == {"source": "agency-a"}


async def test_redrive_twice_publishes_once(kafka: Broker, unique: str, tmp_path: Path) -> None:
    """A redriven letter is published once, marked redriven; redriving it again only adds a redelivery."""
    _, fixed = await dead_lettered(kafka, unique, tmp_path)
    oversize = LetterFilter(reasons=frozenset({"oversize"}))

    dry = await redrive(fixed, RangeSpec(), oversize, dry_run=True)
    assert (dry.selected, dry.redriven) == (1, 1)
    assert len(await read_all(fixed, fixed.topics.raw, expected=len(FEED) + 1, max_polls=5)) == len(FEED)

    first = await redrive(fixed, RangeSpec(), oversize)
    assert (first.selected, first.redriven) == (1, 1)
    raw = await read_all(fixed, fixed.topics.raw, expected=len(FEED) + 1)
    [again] = [r for r in raw if HEADER_REDRIVEN in dict(r.headers)]
    assert again.value == SEED
    assert again.key == b"key-3"  # the original key, so the original partition
    assert dict(again.headers)["source"] == b"agency-a"
    await run_once(fixed, 1)

    await redrive(fixed, RangeSpec(), oversize)
    await run_once(fixed, 1)

    canonical = [orjson.loads(r.value) for r in await read_all(fixed, fixed.topics.canonical, expected=4)]
    enriched = [orjson.loads(r.value) for r in await read_all(fixed, fixed.topics.enriched, expected=4)]
    duplicates = [orjson.loads(r.value) for r in await read_all(fixed, fixed.topics.duplicates, expected=2)]
    seed_events = [e for e in canonical if e["lineage"]["redriven"]]
    assert len(seed_events) == 1 and len(canonical) == 3  # two good items + the redriven seed, once
    assert [e["event_id"] for e in enriched if e["lineage"]["redriven"]] == [seed_events[0]["event_id"]]
    assert [(d["dedupe"]["relation"], d["duplicate_of"]) for d in duplicates] == [
        ("redelivery", seed_events[0]["event_id"])
    ]


async def test_redrive_by_dlq_offsets(kafka: Broker, unique: str, tmp_path: Path) -> None:
    """Letters can be chosen by their DLQ offsets; only those are produced back."""
    _, settings = await dead_lettered(kafka, unique, tmp_path)
    letters, _ = await read_letters(settings, RangeSpec())
    target = letters[0]
    summary = await redrive(
        settings,
        RangeSpec(partitions=(target.partition,), from_offset=target.offset, to_offset=target.offset),
        LetterFilter(),
    )
    assert summary.redriven == 1
    raw = await read_all(settings, settings.topics.raw, expected=len(FEED) + 1)
    redriven = [r for r in raw if HEADER_REDRIVEN in dict(r.headers)]
    assert [r.value for r in redriven] == [target.original]
    expected_header = f"{settings.topics.dlq}/{target.partition}/{target.offset}".encode()
    assert dict(redriven[0].headers)[HEADER_REDRIVEN] == expected_header


def config_file(settings: Settings, tmp_path: Path) -> Path:
    """A TOML settings file naming the test's broker, topics and dedupe state."""
    topics = settings.topics
    path = tmp_path / "wire-ingest.toml"
    path.write_text(
        f"""
[kafka]
bootstrap_servers = "{settings.kafka.bootstrap_servers}"
group_id = "{settings.kafka.group_id}"

[topics]
raw = "{topics.raw}"
canonical = "{topics.canonical}"
enriched = "{topics.enriched}"
duplicates = "{topics.duplicates}"
dlq = "{topics.dlq}"

[dedupe]
sqlite_path = "{settings.dedupe.sqlite_path}"
""",
        encoding="utf-8",
    )
    return path


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main(list(argv)) == 0
    return orjson.loads(capsys.readouterr().out)


def test_dlq_commands_through_the_cli(
    kafka: Broker, unique: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`wire-ingest dlq list/show/redrive` read the settings file and print their results."""
    _, settings = asyncio.run(dead_lettered(kafka, unique, tmp_path))
    config = str(config_file(settings, tmp_path))
    capsys.readouterr()  # the setup's log lines

    listed = cli_json(capsys, "--config", config, "dlq", "list", "--json")
    assert listed["by_reason"] == {"malformed_xml": 3, "oversize": 1}
    only_b = cli_json(capsys, "--config", config, "dlq", "list", "--source", "agency-b", "--json")
    assert only_b["total"] == 1

    letters, _ = asyncio.run(read_letters(settings, RangeSpec()))
    capsys.readouterr()
    oversize = next(item for item in letters if item.letter.reason == "oversize")
    args = ["--config", config, "dlq", "show", str(oversize.offset), "--partition", str(oversize.partition)]
    assert main([*args, "--raw"]) == 0
    assert capsys.readouterr().out.encode() == SEED
    assert main(args) == 0
    shown = capsys.readouterr().out
    assert "reason:     oversize" in shown and "Aliyev" in shown

    planned = cli_json(
        capsys, "--config", config, "dlq", "redrive", "--reason", "malformed_xml", "--dry-run", "--json"
    )
    assert (planned["selected"], planned["redriven"], planned["dry_run"]) == (3, 3, True)
    assert main(["--config", config, "dlq", "show", "999"]) == 1  # no such offset: a message, not a traceback
    assert "no dead letter at offset 999" in capsys.readouterr().err
