"""The pure cores of the operator tools: range planning, offset targets, idempotence, redrive planning."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest

from service.models import DeadLetter
from service.ops.dlq import Letter, LetterFilter, count_letters, plan_redrive, redrive_record
from service.ops.idempotence import Known, enriched_versions, is_known, letter_key, mark_replay
from service.ops.offsets import ResetRequest, ResetTo, default_topic, target_offset
from service.ops.ranges import PartitionRange, RangeError, RangeSpec, parse_utc, plan_partition
from service.route import HEADER_REDRIVEN, HEADER_REPLAY, Outbound
from service.settings import Settings

SETTINGS = Settings()
T0 = datetime(2024, 9, 15, 8, 0, tzinfo=UTC)


# ---------------------------------------------------------------- ranges


def test_whole_partition_by_default() -> None:
    """No bounds: from the log start to the end captured now, with no requested limit."""
    assert plan_partition(0, beginning=3, end=10, spec=RangeSpec()) == PartitionRange(0, 3, 10, None)


def test_offsets_are_inclusive_and_clamped() -> None:
    """--to-offset is the last offset read; bounds outside the log are clamped to it."""
    planned = plan_partition(1, beginning=5, end=10, spec=RangeSpec(from_offset=2, to_offset=7))
    assert (planned.start, planned.end, planned.limit, planned.size) == (5, 8, 8, 3)
    beyond = plan_partition(1, beginning=0, end=10, spec=RangeSpec(from_offset=4, to_offset=50))
    assert (beyond.start, beyond.end, beyond.limit) == (4, 10, 51)


def test_times_use_the_looked_up_offsets() -> None:
    """Times start and limit at their looked-up offsets; no record after from_time means empty."""
    spec = RangeSpec(from_time=T0, to_time=T0.replace(hour=9))
    planned = plan_partition(0, beginning=0, end=20, spec=spec, time_start=4, time_end=9)
    assert (planned.start, planned.end, planned.limit) == (4, 9, 9)
    empty = plan_partition(0, beginning=0, end=20, spec=spec, time_start=None, time_end=None)
    assert empty.size == 0 and empty.start == 20


def test_a_range_past_its_captured_end_admits_only_older_records() -> None:
    """Past the captured end a record is read only if created before planning, and never past the limit."""
    planned = PartitionRange(0, 0, 5, limit=8)
    assert planned.admits(4, timestamp=9_999, captured_ms=1_000)
    assert planned.admits(6, timestamp=999, captured_ms=1_000)
    assert not planned.admits(6, timestamp=1_000, captured_ms=1_000)
    assert not planned.admits(8, timestamp=1, captured_ms=1_000)
    assert PartitionRange(0, 5, 5).readable and not PartitionRange(0, 6, 5).readable
    assert not PartitionRange(0, 5, 5, limit=5).readable


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"from_offset": 5, "to_offset": 4}, "before"),
        ({"from_time": T0, "to_time": T0}, "after"),
        ({"from_time": datetime(2024, 1, 1)}, "time zone"),
    ],
)
def test_contradictory_or_naive_bounds_are_refused(spec: dict[str, object], message: str) -> None:
    """A range that cannot mean anything is an error, not an empty run."""
    with pytest.raises(RangeError, match=message):
        RangeSpec(**spec)  # type: ignore[arg-type]


def test_timestamps_need_a_zone() -> None:
    """'Z' and offsets parse to UTC instants; a naive or malformed timestamp is refused."""
    assert parse_utc("2024-09-15T08:00:00Z") == T0
    assert parse_utc("2024-09-15T10:00+02:00") == T0
    for bad in ("2024-09-15T08:00", "yesterday"):
        with pytest.raises(RangeError):
            parse_utc(bad)


# ---------------------------------------------------------------- offsets reset


@pytest.mark.parametrize(
    ("request_", "current", "at_time", "expected"),
    [
        (ResetRequest("g", ResetTo.EARLIEST), 7, None, 2),
        (ResetRequest("g", ResetTo.LATEST), 7, None, 9),
        (ResetRequest("g", ResetTo.TIMESTAMP, timestamp=T0), 7, 4, 4),
        (ResetRequest("g", ResetTo.TIMESTAMP, timestamp=T0), 7, None, 9),  # nothing that late: the end
        (ResetRequest("g", ResetTo.SHIFT, shift=-3), 7, None, 4),
        (ResetRequest("g", ResetTo.SHIFT, shift=-30), 7, None, 2),  # clamped to the log start
        (ResetRequest("g", ResetTo.SHIFT, shift=30), 7, None, 9),  # clamped to the end
        (ResetRequest("g", ResetTo.SHIFT, shift=1), None, None, 3),  # nothing committed: from the start
    ],
)
def test_target_offsets(
    request_: ResetRequest, current: int | None, at_time: int | None, expected: int
) -> None:
    """Each reset target gives the documented offset, always within [earliest, latest]."""
    assert target_offset(request_, current=current, earliest=2, latest=9, at_time=at_time) == expected


def test_default_topic_follows_the_stage_of_the_group() -> None:
    """Without --topic, a group resets on the input topic of the stage that uses it."""
    assert default_topic(SETTINGS, "wire-ingest") == SETTINGS.topics.raw
    assert default_topic(SETTINGS, "wire-ingest.enrich") == SETTINGS.topics.canonical


# ---------------------------------------------------------------- idempotence


def _event(topic: str, event_id: str, replay: bool = False) -> Outbound:
    value = orjson.dumps({"event_id": event_id, "lineage": {"replay": replay}, "registry_version": "v1"})
    return Outbound(topic=topic, key=b"k", value=value, headers=(("event-id", event_id.encode()),))


def _letter_value(offset: int, item_index: int | None = None) -> bytes:
    return orjson.dumps(
        {"source_topic": "wire.raw", "source_partition": 1, "source_offset": offset, "item_index": item_index}
    )


def test_known_events_and_letters_are_recognised() -> None:
    """An event is known by its ID; a dead letter by the raw record and item it came from."""
    known = Known(event_ids=frozenset({"e1"}), letters=frozenset({("wire.raw", 1, 5, None)}))
    assert is_known(_event("articles.canonical", "e1"), known, "wire.dlq")
    assert not is_known(_event("articles.canonical", "e2"), known, "wire.dlq")
    letter = Outbound(topic="wire.dlq", key=None, value=_letter_value(5), headers=())
    other = Outbound(topic="wire.dlq", key=None, value=_letter_value(5, item_index=2), headers=())
    assert is_known(letter, known, "wire.dlq") and not is_known(other, known, "wire.dlq")
    assert letter_key(b"not json") is None


def test_mark_replay_sets_lineage_and_header_once() -> None:
    """A replayed event says so in its lineage and headers; marking twice changes nothing more."""
    marked = mark_replay(_event("articles.enriched", "e1"))
    assert orjson.loads(marked.value)["lineage"]["replay"] is True
    assert dict(marked.headers)[HEADER_REPLAY] == b"1"
    assert mark_replay(marked) == marked


def test_enriched_versions_collects_registry_versions_per_event() -> None:
    """Which registry versions each event was already enriched with (unreadable values are skipped)."""
    values = [_event("x", "e1").value, _event("x", "e2").value, b"{", orjson.dumps({"event_id": "e1"})]
    assert enriched_versions(values) == {"e1": {"v1", ""}, "e2": {"v1"}}


# ---------------------------------------------------------------- dead letters


def _letter(offset: int, reason: str, source: str | None, *, raw_offset: int | None = None) -> Letter:
    raw = f"raw bytes {offset}".encode()
    headers = {"source": source} if source else {}
    letter = DeadLetter(
        reason=reason,
        error="boom",
        stage="parse",
        source_topic=SETTINGS.topics.raw,
        source_partition=0,
        source_offset=raw_offset if raw_offset is not None else offset,
        source_key_base64=base64.b64encode(b"key").decode(),
        source_headers={**headers, HEADER_REPLAY: "1", HEADER_REDRIVEN: "old"},
        raw_sha256="0" * 64,
        raw_size=len(raw),
        raw_base64=base64.b64encode(raw).decode(),
    )
    return Letter(partition=2, offset=offset, timestamp_ms=0, letter=letter)


def test_counts_by_reason_and_source_with_filters() -> None:
    """Letters are counted per reason, per source (unknown when no header) and per pair, after filtering."""
    letters = [
        _letter(0, "malformed_xml", "a"),
        _letter(1, "malformed_xml", None),
        _letter(2, "oversize", "a"),
    ]
    counts = count_letters(letters, LetterFilter())
    assert dict(counts.by_reason) == {"malformed_xml": 2, "oversize": 1}
    assert dict(counts.by_source) == {"a": 2, "unknown": 1}
    assert count_letters(letters, LetterFilter(sources=frozenset({"unknown"}))).total == 1
    assert count_letters(letters, LetterFilter(reasons=frozenset({"nope"}))).lines() == ["0 dead letters"]


def test_redrive_restores_key_and_headers_and_names_the_letter() -> None:
    """The redriven record has the original bytes and key, original headers, and one redriven header."""
    record = redrive_record(_letter(7, "oversize", "a"), SETTINGS)
    assert record.topic == SETTINGS.topics.raw
    assert (record.key, record.value) == (b"key", b"raw bytes 7")
    assert record.headers == (("source", b"a"), (HEADER_REDRIVEN, f"{SETTINGS.topics.dlq}/2/7".encode()))


def test_letters_of_one_raw_record_are_redriven_once() -> None:
    """Two failed items of one feed document share a raw record: it is produced back once."""
    letters = [_letter(0, "invalid_date", "a", raw_offset=9), _letter(1, "empty_item", "a", raw_offset=9)]
    planned, summary = plan_redrive(letters, LetterFilter(), SETTINGS)
    assert len(planned) == 1
    assert (summary.selected, summary.redriven, summary.merged) == (2, 1, 1)
