"""`wire-ingest offsets reset`: move a consumer group's committed offsets while it is stopped.

The group must have no active members (a running member would overwrite the
new offsets with its next commit, or keep reading from where it is): the
command refuses otherwise. New offsets are clamped to what the partition
holds and committed through a consumer in that group with manual assignment
(it never joins the group, so it triggers no rebalance).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import IncompatibleBrokerVersion
from aiokafka.structs import OffsetAndMetadata

from ..settings import Settings
from .ranges import RangeError, offsets_at


class ResetTo(StrEnum):
    EARLIEST = "earliest"
    LATEST = "latest"
    TIMESTAMP = "timestamp"
    SHIFT = "shift"


@dataclass(frozen=True)
class ResetRequest:
    group: str
    to: ResetTo
    topics: tuple[str, ...] = ()  # empty: the input topic of the stage using the group
    timestamp: datetime | None = None
    shift: int = 0


class GroupActiveError(RangeError):
    """The group has members; resetting under them would be undone or race with them."""


@dataclass(frozen=True)
class PartitionReset:
    topic: str
    partition: int
    current: int | None  # None: nothing committed yet
    new: int
    earliest: int
    latest: int


@dataclass
class ResetPlan:
    group: str
    dry_run: bool
    partitions: list[PartitionReset] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        verb = "would set" if self.dry_run else "committed"
        lines = [f"offsets reset for group {self.group}{' (dry run)' if self.dry_run else ''}:"]
        for p in self.partitions:
            current = "-" if p.current is None else str(p.current)
            lines.append(
                f"  {p.topic}[{p.partition}] {current} -> {p.new}  (earliest {p.earliest}, latest {p.latest})"
            )
        lines.append(f"{verb} {len(self.partitions)} partitions")
        lines += [f"warning: {warning}" for warning in self.warnings]
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "dry_run": self.dry_run,
            "partitions": [p.__dict__ for p in self.partitions],
            "warnings": self.warnings,
        }


def target_offset(
    request: ResetRequest, *, current: int | None, earliest: int, latest: int, at_time: int | None
) -> int:
    """The new offset of one partition, clamped to [earliest, latest] (pure).

    `at_time` is what `offsets_for_times` answered (None: no record at or after
    the timestamp, so the group starts at the end). A shift of a partition with
    nothing committed counts from the earliest offset.
    """
    if request.to is ResetTo.EARLIEST:
        wanted = earliest
    elif request.to is ResetTo.LATEST:
        wanted = latest
    elif request.to is ResetTo.TIMESTAMP:
        wanted = latest if at_time is None else at_time
    else:
        wanted = (current if current is not None else earliest) + request.shift
    return min(max(wanted, earliest), latest)


def default_topic(settings: Settings, group: str) -> str:
    """The input topic of the stage using this group (the enrich stage's group ends in .enrich)."""
    return settings.topics.canonical if group.endswith(".enrich") else settings.topics.raw


async def active_members(admin: AIOKafkaAdminClient, group: str) -> list[str]:
    """Client IDs (and hosts) of the group's current members."""
    members: list[str] = []
    for response in await admin.describe_consumer_groups([group]):
        for described in response.groups:
            for member_id, client_id, host, *_ in described[5]:
                members.append(f"{client_id or member_id}@{host}" if host else client_id or member_id)
    return members


async def plan_reset(settings: Settings, request: ResetRequest, *, dry_run: bool = False) -> ResetPlan:
    """Check the group is idle and compute every partition's new offset (commits nothing)."""
    topics = list(request.topics) or [default_topic(settings, request.group)]
    admin = AIOKafkaAdminClient(**settings.kafka.client_kwargs())
    consumer = AIOKafkaConsumer(**settings.kafka.client_kwargs(), enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        warnings: list[str] = []
        try:
            members = await active_members(admin, request.group)
        except IncompatibleBrokerVersion:
            # librdkafka's mock cluster has no DescribeGroups; Kafka itself rejects
            # a commit from outside a group that has members, which still protects it.
            members = []
            warnings.append("the broker cannot describe groups; relying on its commit check")
        if members:
            raise GroupActiveError(
                f"group {request.group} has {len(members)} active member(s) ({', '.join(members)}); "
                "stop them before resetting offsets"
            )
        tps: list[TopicPartition] = []
        for topic in topics:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                raise RangeError(f"topic {topic!r} does not exist")
            tps += [TopicPartition(topic, p) for p in sorted(partitions)]
        # Explicit partitions: asking for "all of the group's offsets" is not understood by every broker.
        committed = await admin.list_consumer_group_offsets(request.group, partitions=tps)
        earliest = await consumer.beginning_offsets(tps)
        latest = await consumer.end_offsets(tps)
        at_times: Mapping[TopicPartition, int | None] = {}
        if request.to is ResetTo.TIMESTAMP and request.timestamp is not None:
            at_times = await offsets_at(consumer, tps, request.timestamp, earliest, latest)
    finally:
        await consumer.stop()
        await admin.close()
    plan = ResetPlan(group=request.group, dry_run=dry_run, warnings=warnings)
    for tp in tps:
        meta = committed.get(tp)
        current = meta.offset if meta is not None and meta.offset >= 0 else None
        plan.partitions.append(
            PartitionReset(
                topic=tp.topic,
                partition=tp.partition,
                current=current,
                new=target_offset(
                    request,
                    current=current,
                    earliest=earliest[tp],
                    latest=latest[tp],
                    at_time=at_times.get(tp),
                ),
                earliest=earliest[tp],
                latest=latest[tp],
            )
        )
    return plan


async def reset_offsets(settings: Settings, request: ResetRequest, *, dry_run: bool = False) -> ResetPlan:
    plan = await plan_reset(settings, request, dry_run=dry_run)
    if dry_run or not plan.partitions:
        return plan
    consumer = AIOKafkaConsumer(
        **settings.kafka.client_kwargs(), group_id=request.group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        offsets = {
            TopicPartition(p.topic, p.partition): OffsetAndMetadata(p.new, "") for p in plan.partitions
        }
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()
    return plan
