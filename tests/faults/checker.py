"""The delivery checker: every input record accounted for exactly once, by reading every topic at the end.

It reads the raw topic (what really went in, with the Kafka key naming each input item) and
every output topic, ties each output back to its raw record through the lineage (canonical,
duplicates, enriched) or the source partition/offset (dead letters), and reports:

* missing: raw records with no output at all;
* conflicting: raw records that ended in two places (e.g. published *and* dead-lettered), or
  came out twice with different event IDs: never allowed;
* redeliveries: the same raw record's output written more than once with the same event ID
  (or, for a dead letter, the same reason and bytes): allowed in at-least-once mode only,
  counted;
* misrouted: a good item dead-lettered, a bad one published, or a story group (an item, its
  resends and near-duplicates) published more than once or not at all;
* enrichment: every published canonical event has its enriched event and vice versa.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from service.settings import Settings

from .corpus import InputItem

Raw = tuple[int, int]  # (partition, offset) of a record on the raw topic


@dataclass
class TopicDump:
    topic: str
    records: list[ConsumerRecord[bytes, bytes]]


async def read_topic(
    settings: Settings,
    topic: str,
    *,
    isolation_level: str = "read_uncommitted",
    quiet_polls: int = 3,
    deadline_seconds: float = 120.0,
    check_crcs: bool = True,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic` from the beginning to its end.

    Reads past the end offsets until `quiet_polls` polls in a row return nothing, because
    Tansu under-reports end offsets (see kafka-testing.md); the service is stopped by then.
    `check_crcs=False` is for transactional topics on librdkafka's mock cluster, whose
    multi-record transactional batches fail aiokafka's CRC check (plain batches pass).
    """
    kafka = settings.kafka
    consumer = AIOKafkaConsumer(
        **kafka.client_kwargs(),
        enable_auto_commit=False,
        isolation_level=isolation_level,
        check_crcs=check_crcs,
        fetch_max_bytes=kafka.fetch_max_bytes,
        max_partition_fetch_bytes=kafka.max_partition_fetch_bytes,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + deadline_seconds
        partitions = consumer.partitions_for_topic(topic)
        while not partitions:
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {topic} has no partitions")
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        assignment = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assignment)
        await consumer.seek_to_beginning(*assignment)
        ends = await consumer.end_offsets(assignment)
        quiet = 0
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300, max_records=5000)
            for partition_records in batch.values():
                records.extend(partition_records)
            reached = all([await consumer.position(tp) >= end for tp, end in ends.items()])
            quiet = 0 if batch else quiet + 1
            if reached and quiet >= quiet_polls:
                break
        else:
            raise TimeoutError(f"reading {topic} did not finish in {deadline_seconds:.0f}s")
    finally:
        await consumer.stop()
    return records


@dataclass
class Report:
    """What the checker found; `problems()` is empty when the run kept its guarantees."""

    inputs: int = 0
    raw_records: int = 0
    input_duplicates: int = 0  # the test producer's own retries wrote a raw record twice
    destinations: Counter[str] = field(default_factory=Counter)  # raw records per place they ended
    outputs: Counter[str] = field(default_factory=Counter)  # messages per output topic
    redeliveries: Counter[str] = field(default_factory=Counter)  # extra identical copies per topic
    missing: list[str] = field(default_factory=list)
    unknown_raw: list[str] = field(default_factory=list)  # input items never found on the raw topic
    conflicting: list[str] = field(default_factory=list)
    misrouted: list[str] = field(default_factory=list)
    enrichment: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # outputs that point at no raw record

    @property
    def duplicates(self) -> int:
        return sum(self.redeliveries.values())

    def problems(self, *, allow_redeliveries: bool) -> list[str]:
        found: list[str] = []
        for name in ("missing", "unknown_raw", "conflicting", "misrouted", "enrichment", "orphans"):
            values: list[str] = getattr(self, name)
            if values:
                found.append(f"{name} ({len(values)}): {values[:5]}")
        if not allow_redeliveries and self.duplicates:
            found.append(f"redeliveries where none are allowed: {dict(self.redeliveries)}")
        return found

    def summary(self) -> dict[str, Any]:
        return {
            "items_in": self.inputs,
            "raw_records": self.raw_records,
            "input_duplicates": self.input_duplicates,
            "ended": dict(self.destinations),
            "messages_out": dict(self.outputs),
            "redelivered_copies": dict(self.redeliveries),
            "missing": len(self.missing),
            "conflicting": len(self.conflicting),
            "misrouted": len(self.misrouted),
        }


@dataclass(frozen=True)
class _Out:
    destination: str  # canonical | duplicates | dlq
    identity: str  # event_id, or reason + raw sha256 for a dead letter


def account(
    inputs: Iterable[InputItem],
    raw: list[ConsumerRecord[bytes, bytes]],
    outputs: dict[str, list[ConsumerRecord[bytes, bytes]]],
    settings: Settings,
) -> Report:
    """Tie every output to its raw record and every raw record to its input item (pure)."""
    topics = settings.topics
    items = {item.key: item for item in inputs}
    report = Report(inputs=len(items), raw_records=len(raw))
    key_of: dict[Raw, str] = {}
    seen_keys: Counter[str] = Counter()
    for record in raw:
        key = (record.key or b"").decode()
        key_of[(record.partition, record.offset)] = key
        seen_keys[key] += 1
    report.input_duplicates = sum(n - 1 for n in seen_keys.values() if n > 1)
    report.unknown_raw = sorted(set(items) - set(seen_keys))

    places: dict[Raw, list[_Out]] = defaultdict(list)
    for destination, topic in (
        ("canonical", topics.canonical),
        ("duplicates", topics.duplicates),
        ("dlq", topics.dlq),
    ):
        for record in outputs[topic]:
            report.outputs[topic] += 1
            value = orjson.loads(record.value or b"{}")
            if destination == "dlq":
                if value["source_topic"] != topics.raw:
                    report.orphans.append(f"dlq from {value['source_topic']}")
                    continue
                where: Raw = (value["source_partition"], value["source_offset"])
                identity = f"{value['reason']}:{value['raw_sha256']}"
            else:
                where = (value["lineage"]["partition"], value["lineage"]["offset"])
                identity = value["event_id"]
            if where not in key_of:
                report.orphans.append(f"{destination} {where}")
                continue
            places[where].append(_Out(destination, identity))

    published: dict[str, set[str]] = defaultdict(set)  # story group -> raw keys published
    canonical_events: set[str] = set()
    for where, key in key_of.items():
        outs = places.get(where, [])
        item = items.get(key)
        if not outs:
            report.missing.append(key)
            continue
        distinct = set(outs)
        if len(distinct) > 1:
            report.conflicting.append(f"{key}: {sorted((o.destination, o.identity) for o in distinct)}")
            continue
        [out] = distinct
        report.destinations[out.destination] += 1
        if len(outs) > 1:
            report.redeliveries[out.destination] += len(outs) - 1
        if out.destination == "canonical":
            canonical_events.add(out.identity)
        if item is None or item.kind == "hostile":
            continue
        if item.kind == "bad" and out.destination != "dlq":
            report.misrouted.append(f"{key}: bad item ended on {out.destination}")
        elif item.kind != "bad" and out.destination == "dlq":
            report.misrouted.append(f"{key}: {item.kind} item dead-lettered ({out.identity.split(':')[0]})")
        elif out.destination == "canonical":
            published[item.group].add(key)
    for group in sorted({item.group for item in items.values() if item.kind not in ("bad", "hostile")}):
        keys = published.get(group, set())
        if len(keys) != 1:
            report.misrouted.append(f"story {group} published by {len(keys)} records: {sorted(keys)[:3]}")

    # Every published event has one enriched event (redelivered copies aside), and nothing else is enriched.
    if topics.enriched in outputs:
        enriched: Counter[str] = Counter()
        for record in outputs[topics.enriched]:
            report.outputs[topics.enriched] += 1
            enriched[orjson.loads(record.value or b"{}")["event_id"]] += 1
        report.redeliveries["enriched"] = sum(copies - 1 for copies in enriched.values())
        report.enrichment = [f"not enriched: {e}" for e in sorted(canonical_events - set(enriched))] + [
            f"enriched but not published: {e}" for e in sorted(set(enriched) - canonical_events)
        ]
    return report


async def check(
    settings: Settings,
    inputs: Iterable[InputItem],
    *,
    isolation_level: str = "read_uncommitted",
    enriched: bool = True,
    check_crcs: bool = True,
) -> Report:
    """Read the raw topic and every output topic, then account for every input item."""
    topics = settings.topics
    names = [topics.canonical, topics.duplicates, topics.dlq] + ([topics.enriched] if enriched else [])
    raw, *dumps = await asyncio.gather(
        read_topic(settings, topics.raw),
        *(
            read_topic(settings, name, isolation_level=isolation_level, check_crcs=check_crcs)
            for name in names
        ),
    )
    return account(inputs, raw, dict(zip(names, dumps, strict=True)), settings)
