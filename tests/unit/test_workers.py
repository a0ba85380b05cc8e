"""The worker pool: per-record time and memory budgets, crashes, and what a pipeline makes of them.

Real worker processes (forked by the pool's zygote); no broker needed. Records are chosen
so that the budget they exceed is far away from what they need (seconds against a
budget of one), never racing the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import pickle
import random
import signal
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from service.dedupe import open_deduplicator
from service.enrich import load_enricher
from service.errors import ConfigError, WorkerLostError
from service.models import RecordMeta
from service.observability import Metrics
from service.pipeline import Pipeline
from service.prepare import Preparer
from service.settings import Settings
from service.workers import WorkerPool, _Job, _Worker, _Zygote
from tests.conftest import SAMPLES

SMALL = (SAMPLES / "08_lukashenko_trade.ninjs.json").read_bytes()
META = RecordMeta(topic="wire.raw", partition=0, offset=0)


def long_ninjs(megabytes: float, seed: int = 1) -> bytes:
    """A valid ninjs item whose body is `megabytes` of distinct words: about 0.15 s of CPU per MB
    (mostly its MinHash signature) and ~25 MB of RAM per MB. Budgets in the tests are set
    several times below or above that, never close to it."""
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(5000)]
    paragraphs = [
        " ".join(rng.choice(vocabulary) for _ in range(60)) + "." for _ in range(int(megabytes * 2**20 / 360))
    ]
    return orjson.dumps(
        {
            "uri": f"urn:test:long:{seed}",
            "type": "text",
            "versioncreated": "2024-05-01T10:00:00Z",
            "headline": "A long story",
            "body_text": "\n\n".join(paragraphs),
            "language": "en",
        }
    )


def _settings(**pipeline: object) -> Settings:
    return Settings.model_validate(
        {
            "dedupe": {"backend": "memory"},
            "pipeline": {"workers": 2, "max_item_bytes": 16 * 2**20, **pipeline},
        }
    )


async def _one_worker_pipeline() -> tuple[WorkerPool, Pipeline, Metrics]:
    """A started one-worker pool with no time budget to speak of, and a pipeline using it."""
    settings = _settings(workers=1, record_timeout_seconds=120)
    metrics = Metrics(CollectorRegistry())
    pool = WorkerPool(settings, metrics)
    pool.start()
    await pool.wait_started()
    return pool, Pipeline(settings, await open_deduplicator(settings.dedupe), None, metrics, pool), metrics


async def test_a_record_past_its_time_budget_kills_only_its_worker() -> None:
    """A record running past record_timeout_seconds loses its worker; the pool answers the next record."""
    metrics = Metrics(CollectorRegistry())
    pool = WorkerPool(_settings(record_timeout_seconds=0.5), metrics)
    pool.start()
    await pool.wait_started()
    try:
        with pytest.raises(WorkerLostError) as lost:
            await pool.prepare("raw", long_ninjs(12), META)
        assert lost.value.timed_out
        # Both the surviving worker and the replacement answer.
        answers = await asyncio.gather(*(pool.prepare("raw", SMALL, META) for _ in range(4)))
        assert all(len(answer.items) == 1 and not answer.failures for answer in answers)
        assert metrics.worker_restarts.labels("timeout")._value.get() == 1
    finally:
        await pool.close()


async def test_a_record_past_the_memory_budget_is_too_large_and_the_worker_lives_on() -> None:
    """Allocation past worker_memory_mb fails inside the worker: too_large, and the same worker goes on."""
    metrics = Metrics(CollectorRegistry())
    pool = WorkerPool(_settings(workers=1, worker_memory_mb=64, record_timeout_seconds=120), metrics)
    pool.start()
    await pool.wait_started()
    try:
        prepared = await pool.prepare("raw", long_ninjs(8), META)
        assert [failure.error.reason.value for failure in prepared.failures] == ["too_large"]
        assert not prepared.items
        after = await pool.prepare("raw", SMALL, META)
        assert len(after.items) == 1
        assert metrics.worker_restarts.labels("crash")._value.get() == 0
    finally:
        await pool.close()


async def test_a_worker_killed_from_outside_is_retried_once_on_a_fresh_worker() -> None:
    """A worker that dies under a record (not of it) costs a retry, not a dead letter."""
    pool, pipeline, metrics = await _one_worker_pipeline()
    try:
        [worker] = pool._all
        slow = asyncio.ensure_future(pipeline.prepare(long_ninjs(8), META))  # ~1 s of CPU
        await asyncio.sleep(0.2)  # the record is in the worker (or queued for it): either way it dies
        os.kill(worker.pid, signal.SIGKILL)
        prepared = await slow
        assert [failure.error.reason.value for failure in prepared.failures] == ["output_too_large"]
        assert metrics.worker_restarts.labels("crash")._value.get() == 1
    finally:
        await pool.close()


async def test_an_idle_worker_that_dies_is_replaced_before_any_record_needs_it() -> None:
    """The pool sees the socket of an idle worker close and forks a replacement at once: the next
    record is served by the new worker and costs no retry."""
    pool, pipeline, metrics = await _one_worker_pipeline()
    try:
        [worker] = pool._all
        os.kill(worker.pid, signal.SIGKILL)

        async def replaced() -> None:
            while not any(w.pid != worker.pid for w in pool._all):  # noqa: ASYNC110 - the pool's own state
                await asyncio.sleep(0.01)

        await asyncio.wait_for(replaced(), timeout=60)
        assert metrics.worker_restarts.labels("crash")._value.get() == 1
        prepared = await pipeline.prepare(SMALL, META)
        assert len(prepared.items) == 1 and not prepared.failures
        assert metrics.worker_restarts.labels("crash")._value.get() == 1
    finally:
        await pool.close()


async def test_a_record_that_kills_every_worker_is_dead_lettered_as_worker_crashed() -> None:
    """A record whose worker dies on both tries becomes worker_crashed; the pool serves the next record."""
    pool, pipeline, metrics = await _one_worker_pipeline()

    async def killer() -> None:
        # Kill whichever worker holds the record, twice (the retry runs on the replacement).
        for _ in range(2):
            while not pool._all:  # noqa: ASYNC110 - polling the pool's own state, which has no event
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)
            os.kill(next(iter(pool._all)).pid, signal.SIGKILL)
            await asyncio.sleep(0.2)

    try:
        kills = asyncio.ensure_future(killer())
        raw = long_ninjs(10)  # ~1.5 s of CPU: both kills land while it is in a worker
        prepared = await pipeline.prepare(raw, META)
        await kills
        assert [failure.error.reason.value for failure in prepared.failures] == ["worker_crashed"]
        assert metrics.worker_restarts.labels("crash")._value.get() == 2
        result = await pipeline.finish(prepared, raw, META)
        [letter] = [orjson.loads(m.value) for m in result.outbound]
        assert (letter["reason"], letter["stage"]) == ("worker_crashed", "worker")
        again = await pipeline.prepare(SMALL, META)
        assert len(again.items) == 1
    finally:
        await pool.close()


async def test_a_cancelled_caller_leaves_the_worker_usable() -> None:
    """Dropping interest in a record (its partition was revoked) does not leave an unread answer behind."""
    pool = WorkerPool(_settings(workers=1, record_timeout_seconds=120), Metrics(CollectorRegistry()))
    pool.start()
    await pool.wait_started()
    try:
        call = asyncio.ensure_future(pool.prepare("raw", long_ninjs(1), META))
        await asyncio.sleep(0.1)
        call.cancel()
        answers = await asyncio.gather(*(pool.prepare("raw", SMALL, META) for _ in range(3)))
        assert [len(answer.items) for answer in answers] == [1, 1, 1]
        headlines = {answer.items[0].article.headline for answer in answers}
        assert headlines == {"Belarus and China agree to raise trade target"}
    finally:
        await pool.close()


async def test_each_caller_gets_the_answer_to_its_own_record_when_records_queue_in_a_worker() -> None:
    """With several records handed to one worker ahead of its answers, every answer reaches its caller."""
    pool, _, _ = await _one_worker_pipeline()
    try:
        samples = sorted(path for path in SAMPLES.iterdir() if path.name.endswith((".json", ".xml", ".html")))
        calls = [
            pool.prepare("raw", path.read_bytes(), RecordMeta(topic="wire.raw", partition=0, offset=offset))
            for offset, path in enumerate(samples)
        ]
        answers = await asyncio.gather(*calls)
        for offset, answer in enumerate(answers):
            assert {item.article.lineage.offset for item in answer.items} <= {offset}
            assert answer.items or answer.failures
        assert sum(len(answer.items) for answer in answers) > len(samples) // 2
    finally:
        await pool.close()


async def test_a_records_time_budget_starts_when_its_worker_can_start_it() -> None:
    """Records queued behind others in one worker are not charged for the wait: a dozen records of
    ~0.2 s each under a 2 s budget all finish although together they take longer than the budget."""
    metrics = Metrics(CollectorRegistry())
    pool = WorkerPool(_settings(workers=1, record_timeout_seconds=2), metrics)
    pool.start()
    await pool.wait_started()
    try:
        raws = [long_ninjs(1.5, seed) for seed in range(12)]
        answers = await asyncio.gather(*(pool.prepare("raw", raw, META) for raw in raws))
        reasons = {failure.error.reason.value for answer in answers for failure in answer.failures}
        assert "processing_timeout" not in reasons
        assert metrics.worker_restarts.labels("timeout")._value.get() == 0
    finally:
        await pool.close()


async def test_records_queued_behind_a_record_that_times_out_are_served_by_the_replacement() -> None:
    """Only the record that ran out of time fails; the records waiting in its worker's socket had not
    started, so they go to the worker that replaces it."""
    metrics = Metrics(CollectorRegistry())
    pool = WorkerPool(_settings(workers=1, record_timeout_seconds=0.5), metrics)
    pool.start()
    await pool.wait_started()
    try:
        slow = asyncio.ensure_future(pool.prepare("raw", long_ninjs(12), META))
        small = [asyncio.ensure_future(pool.prepare("raw", SMALL, META)) for _ in range(3)]
        with pytest.raises(WorkerLostError) as lost:
            await slow
        assert lost.value.timed_out
        answers = await asyncio.gather(*small)
        assert [len(answer.items) for answer in answers] == [1, 1, 1]
        assert metrics.worker_restarts.labels("timeout")._value.get() == 1
    finally:
        await pool.close()


async def test_a_record_the_pipeline_abandons_is_skipped_or_its_answer_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A record dropped while it waits for a worker (its partition revoked) never reaches one; one
    dropped while a worker has it is answered and the answer dropped; the worker serves on."""
    handed: list[object] = []
    hand_over = _Worker.hand_over

    def spy(worker: _Worker, job: _Job) -> None:
        handed.append(job.sink)
        hand_over(worker, job)

    monkeypatch.setattr(_Worker, "hand_over", spy)
    pool, pipeline, _ = await _one_worker_pipeline()
    try:
        running = pipeline.submit(long_ninjs(0.5), META)
        queued = pipeline.submit(SMALL, META)  # in the worker's socket
        waiting = pipeline.submit(SMALL, META)  # in the pool's backlog: the worker holds two
        assert len(handed) == 2 and len(pool._backlog) == 1
        running.cancel()
        waiting.cancel()
        assert len((await queued).items) == 1
        assert [getattr(sink, "prepared", None) for sink in handed] == [running, queued]
        assert len((await pipeline.submit(SMALL, META)).items) == 1
        assert len(handed) == 3
    finally:
        await pool.close()


async def test_records_waiting_when_the_pool_closes_fail_instead_of_hanging() -> None:
    """Closing the pool answers every record it still holds, and a record handed over afterwards,
    with WorkerLostError: no caller is left waiting for a worker that will never come."""
    pool = WorkerPool(_settings(workers=1, record_timeout_seconds=120), Metrics(CollectorRegistry()))
    pool.start()
    await pool.wait_started()
    held = [asyncio.ensure_future(pool.prepare("raw", long_ninjs(4, seed), META)) for seed in range(4)]
    # Handed over (~0.6 s each): one running, one in the worker's socket, two waiting.
    await asyncio.sleep(0.05)
    await pool.close()
    outcomes = await asyncio.wait_for(asyncio.gather(*held, return_exceptions=True), timeout=30)
    assert all(isinstance(outcome, WorkerLostError) for outcome in outcomes)
    with pytest.raises(WorkerLostError):
        await asyncio.wait_for(pool.prepare("raw", SMALL, META), timeout=30)


async def test_what_a_worker_prepares_reaches_the_shell_unchanged() -> None:
    """Every sample prepared in a worker arrives as it is prepared in process: the article (sent as
    its JSON), the fingerprint (the signature as bytes), the enrichment and the failures."""
    settings = _settings(workers=1)
    here = Preparer(settings, load_enricher(settings.enrich))
    pool = WorkerPool(settings, Metrics(CollectorRegistry()))
    pool.start()
    try:
        for path in sorted(SAMPLES.iterdir()):
            value = path.read_bytes()
            expected = here.prepare_raw(value, META)
            got = await pool.prepare("raw", value, META)
            assert [type(item.article) for item in got.items] == [
                type(item.article) for item in expected.items
            ]
            assert [item.article for item in got.items] == [item.article for item in expected.items], (
                path.name
            )
            for mine, theirs in zip(got.items, expected.items, strict=True):
                assert mine.fingerprint is not None and theirs.fingerprint is not None
                assert mine.fingerprint.signature is not None and theirs.fingerprint.signature is not None
                assert mine.fingerprint.signature.tolist() == theirs.fingerprint.signature.tolist()
                assert mine.fingerprint.signature.dtype == theirs.fingerprint.signature.dtype
                assert (mine.fingerprint.numbers, mine.fingerprint.band_keys) == (
                    theirs.fingerprint.numbers,
                    theirs.fingerprint.band_keys,
                )
                assert mine.enrichment == theirs.enrichment
            assert [(f.error.reason, f.stage) for f in got.failures] == [
                (f.error.reason, f.stage) for f in expected.failures
            ]
    finally:
        await pool.close()


_STAMPS = st.one_of(
    st.none(),
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(timezones=st.timezones()),
    st.datetimes(
        timezones=st.builds(
            timezone, st.timedeltas(min_value=-timedelta(hours=23), max_value=timedelta(hours=23))
        )
    ),
)


@given(
    st.builds(
        RecordMeta,
        topic=st.text(),
        partition=st.integers(min_value=0, max_value=2**31),
        offset=st.integers(min_value=0, max_value=2**62),
        timestamp=_STAMPS,
        key=st.one_of(st.none(), st.binary()),
        headers=st.lists(st.tuples(st.text(), st.binary()), max_size=3).map(tuple),
    )
)
def test_a_record_meta_crosses_to_a_worker_unchanged(meta: RecordMeta) -> None:
    """The record's metadata a worker unpickles is the shell's: equal, the same timestamp in the
    same zone (a UTC one travels as its microseconds)."""
    back = pickle.loads(pickle.dumps(meta, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == meta
    assert type(back.timestamp) is type(meta.timestamp)
    if meta.timestamp is not None and back.timestamp is not None:
        assert back.timestamp.tzinfo == meta.timestamp.tzinfo
        assert back.timestamp.utcoffset() == meta.timestamp.utcoffset()
    assert repr(back) == repr(meta)


@contextlib.contextmanager
def _cyclic_garbage() -> Iterator[Counter[str]]:
    """The collector is off inside the block; on leaving it, the counter holds the types of the
    objects the block left in reference cycles (what only the cycle collector would free)."""
    found: Counter[str] = Counter()
    gc.collect()
    gc.disable()
    try:
        yield found
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found.update(type(o).__name__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


async def test_a_record_prepared_in_a_worker_leaves_no_reference_cycle() -> None:
    """Once a record is prepared and dropped, reference counting frees its data: nothing of it
    waits for the cycle collector, whose full passes stall the loop for tens of milliseconds
    (a closure that called itself kept every record's future, article and fingerprint in a cycle)."""
    pool, pipeline, _ = await _one_worker_pipeline()
    try:
        await asyncio.gather(*(pipeline.submit(SMALL, META) for _ in range(3)))  # warm
        with _cyclic_garbage() as leftovers:
            prepared = await asyncio.gather(*(pipeline.submit(SMALL, META) for _ in range(20)))
            assert all(len(p.items) == 1 for p in prepared)
            del prepared
        assert not leftovers, f"cyclic garbage left by 20 records: {leftovers.most_common(8)}"
    finally:
        await pool.close()


def test_a_failed_record_leaves_no_reference_cycle() -> None:
    """A record that fails (here a truncated NewsML-G2 item) keeps its error without the
    traceback, whose frames would hold the Prepared that holds the error: a cycle per failure."""
    settings = _settings(workers=0)
    preparer = Preparer(settings, None)
    malformed = (SAMPLES / "11_malformed_truncated.newsml_g2.xml").read_bytes()
    with _cyclic_garbage() as leftovers:
        prepared = [preparer.prepare_raw(malformed, META) for _ in range(10)]
        assert all(p.failures and not p.items for p in prepared)
        del prepared
    assert not leftovers, f"cyclic garbage left by 10 failed records: {leftovers.most_common(8)}"


async def test_a_zygote_whose_service_leaves_mid_request_ends_without_an_error() -> None:
    """A pool closed while the zygote answers it (a short `wire-ingest process` run) must not
    leave a traceback behind: the zygote's reply meets a closed socket, and it simply ends."""
    zygote = _Zygote(_settings(workers=1))
    await zygote.start()
    zygote._control.sendall(b"f")  # ask for a worker, then go before the answer is read
    await zygote.close()
    assert zygote.process.exitcode == 0


async def test_records_in_flight_when_the_pool_cannot_start_share_one_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A pool whose zygote cannot start fails every record with its ConfigError; the caller
    meets it on the record it awaits, and the others leave no "never retrieved" log line each."""
    settings = Settings.model_validate(
        {
            "dedupe": {"backend": "memory"},
            "pipeline": {"workers": 1},
            "enrich": {"registry_path": str(tmp_path / "missing.csv")},
        }
    )
    metrics = Metrics(CollectorRegistry())
    pool = WorkerPool(settings, metrics)
    pool.start()
    pipeline = Pipeline(settings, await open_deduplicator(settings.dedupe), None, metrics, pool)
    value = (SAMPLES / "08_lukashenko_trade.ninjs.json").read_bytes()
    try:
        prepared = [
            pipeline.submit(value, RecordMeta(topic="wire.raw", partition=0, offset=o)) for o in range(20)
        ]
        with pytest.raises(ConfigError):
            await prepared[0]
        await asyncio.wait(prepared)
        del prepared
        gc.collect()
        await asyncio.sleep(0)
    finally:
        await pool.close()
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]
