"""`wire-ingest demo`: the whole service on an embedded default, start to finish.

Starts a local Tansu broker, creates the topics, produces the sample feed
shipped in `service/data/samples/` (the Xinhua seed story and items in every
other supported format, a correction, a kill, a reprint and a malformed item),
runs the service until the feed is drained, then prints the enriched events
and a metrics summary, and stops everything.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry

from .harness import TansuBroker, free_port
from .observability import Metrics
from .settings import Settings
from .shell import RunLimits, RunSummary
from .topics import create_topics

_FEED_KEY = b"demo-sample-feed"


def sample_files() -> list[Path]:
    folder = Path(str(files("service") / "data" / "samples"))
    return sorted(path for path in folder.iterdir() if path.is_file() and not path.name.startswith("."))


async def produce_files(settings: Settings, paths: Iterable[Path]) -> dict[tuple[int, int], str]:
    """Produce each file as one raw record; returns (partition, offset) -> file name."""
    producer = AIOKafkaProducer(**settings.kafka.client_kwargs())
    await producer.start()
    placed: dict[tuple[int, int], str] = {}
    try:
        for path in paths:
            # One key for the whole sample feed, as a feed keyed by its source would be:
            # its items stay in order, so version 2 arrives after version 1.
            metadata = await producer.send_and_wait(settings.topics.raw, path.read_bytes(), key=_FEED_KEY)
            placed[(metadata.partition, metadata.offset)] = path.name
    finally:
        await producer.stop()
    return placed


async def read_topic(settings: Settings, topic: str) -> list[dict[str, Any]]:
    """Every message currently on a topic (read without a group, from the beginning)."""
    consumer = AIOKafkaConsumer(**settings.kafka.client_kwargs(), enable_auto_commit=False)
    await consumer.start()
    messages: list[dict[str, Any]] = []
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        assignment = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assignment)
        await consumer.seek_to_beginning(*assignment)
        idle_polls = 0
        while idle_polls < 3:
            batch = await consumer.getmany(timeout_ms=300)
            if not batch:
                idle_polls += 1
                continue
            idle_polls = 0
            for records in batch.values():
                messages.extend(orjson.loads(record.value) for record in records if record.value)
    finally:
        await consumer.stop()
    return messages


def _origin(event: dict[str, Any], placed: dict[tuple[int, int], str]) -> str:
    lineage = event["lineage"]
    return placed.get((lineage["partition"], lineage["offset"]), "?")


def _dateline(dateline: dict[str, Any] | None) -> str:
    """'City, CC' (whichever of the two is known), else the dateline as written, else '-'."""
    if not dateline:
        return "-"
    place = ", ".join(str(dateline[key]) for key in ("city", "country") if dateline.get(key))
    return place or repr(dateline.get("text") or "-")


def _format_event(event: dict[str, Any], origin: str) -> str:
    countries = ", ".join(f"{c['alpha2']}({c['role']})" for c in event.get("countries", []))
    leaders = ", ".join(
        f"{lead['name']} {lead['wikidata_id']}({lead['article_role']})" for lead in event.get("leaders", [])
    )
    dedupe = event.get("dedupe", {})
    lines = [
        f"  [{origin}] {event['headline']}",
        f"    source={event['source']} format={event['lineage']['format']} item={event['item_id']} "
        f"version={event['version']} pubstatus={event['pubstatus']}",
        f"    event_id={event['event_id']} story_id={event['story_id']} relation={dedupe.get('relation')}"
        + (f" supersedes={event['supersedes']}" if event.get("supersedes") else ""),
        f"    dateline={_dateline(event.get('dateline'))}  "
        f"firstcreated={event['firstcreated']} versioncreated={event['versioncreated']}",
        f"    countries: {countries or '-'}",
        f"    leaders:   {leaders or '-'}",
    ]
    return "\n".join(lines)


def _metrics_summary(metrics: Metrics) -> list[str]:
    lines = []
    for family in metrics.registry.collect():
        if family.name in (
            "wire_ingest_records_consumed",
            "wire_ingest_messages_produced",
            "wire_ingest_outcomes",
            "wire_ingest_stage_duration_seconds",
            "wire_ingest_end_to_end_latency_seconds",
        ):
            for sample in family.samples:
                if sample.name.endswith(("_created", "_bucket")):
                    continue
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                value = f"{sample.value:.4f}" if sample.name.endswith("_sum") else f"{sample.value:g}"
                lines.append(f"  {sample.name}{{{labels}}} {value}")
    return lines


async def run_demo(out: Any = print) -> RunSummary:
    from .app import run_service  # noqa: PLC0415 - keeps `wire-ingest --help` fast

    with TansuBroker() as broker, tempfile.TemporaryDirectory(prefix="wire-ingest-demo-") as state_dir:
        settings = Settings.model_validate(
            {
                "kafka": {"bootstrap_servers": broker.bootstrap_servers, "group_id": "wire-ingest-demo"},
                "dedupe": {"backend": "sqlite", "sqlite_path": str(Path(state_dir) / "dedupe.sqlite3")},
                "observability": {"http_port": free_port(), "log_format": "console", "log_level": "WARNING"},
            }
        )
        out(f"Started Tansu broker on {broker.bootstrap_servers}")
        await create_topics(settings)
        samples = sample_files()
        placed = await produce_files(settings, samples)
        produced = len(placed)
        out(f"Produced {produced} raw wire items to '{settings.topics.raw}':")
        for (partition, offset), name in sorted(placed.items(), key=lambda item: item[1]):
            out(f"  {name}  (partition {partition}, offset {offset})")
        metrics = Metrics(CollectorRegistry())
        summary = await run_service(
            settings,
            limits=RunLimits(max_records=produced, idle_seconds=10),
            metrics=metrics,
            install_signal_handlers=False,
        )
        out(f"\nService processed {summary.records} records in {summary.batches} batches.")
        enriched = await read_topic(settings, settings.topics.enriched)
        out(f"\n=== {settings.topics.enriched}: {len(enriched)} events")
        for event in sorted(enriched, key=lambda e: (_origin(e, placed), e["lineage"]["item_index"])):
            out(_format_event(event, _origin(event, placed)))
        duplicates = await read_topic(settings, settings.topics.duplicates)
        out(f"\n=== {settings.topics.duplicates}: {len(duplicates)} events")
        for event in duplicates:
            dedupe = event["dedupe"]
            out(
                f"  [{_origin(event, placed)}] {event['headline']!r} relation={dedupe['relation']} "
                f"matched={dedupe.get('matched_event_id')} "
                f"similarity={dedupe.get('similarity')}"
            )
        dead = await read_topic(settings, settings.topics.dlq)
        out(f"\n=== {settings.topics.dlq}: {len(dead)} dead letters")
        for letter in dead:
            name = placed.get((letter["source_partition"], letter["source_offset"]), "?")
            out(
                f"  [{name}] reason={letter['reason']} stage={letter['stage']} "
                f"error={letter['error'][:100]!r}"
            )
        out("\n=== metrics (excerpt of /metrics)")
        for line in _metrics_summary(metrics):
            out(line)
        # Read on its own, the latency sum looks like a slow service.
        out(
            "  (end-to-end latency runs from each input record's timestamp to the acknowledgement "
            "of its outputs;\n   the items above were produced before the service started, so "
            "it includes the start-up)"
        )
        return summary


def main() -> None:
    asyncio.run(run_demo())
