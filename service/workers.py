"""Worker processes for the CPU half of the pipeline, each record under a time and memory budget.

Why processes: parsing, normalizing, fingerprinting and enriching are pure CPU.
Run on the event loop, one slow record stops heartbeats and polls, and the
group throws the member out; run in a thread, it holds the GIL just the same.
A process can also be killed when a record runs past its time budget, and its
address space capped so that a record needing too much memory fails alone.

Each worker serves one record at a time over a socket pair (a 4-byte length,
then a pickle), so the shell can await many workers at once without a thread;
the next record already waits in the socket when it answers.
Workers are forked by a zygote: a process that loads the pipeline (modules,
enricher) once and forks a warm worker on request, so a worker killed for its
record is replaced in milliseconds while the other workers go on. The zygote
itself comes from multiprocessing's fork server, which keeps the modules
(`_PRELOAD`) imported for every pool a process opens (tests open many).

Budgets:
- time: `pipeline.record_timeout_seconds` from the moment the worker can start
  the record (hand-over, or its answer to the record before) to its answer, checked by a
  watchdog every quarter budget (0.25 s at most). Past it the worker is killed (SIGKILL:
  a parser stuck in C code ignores anything softer) and replaced; the caller gets
  `WorkerLostError(timed_out=True)`.
- memory: the worker's address space is capped at what it needs once loaded
  plus `pipeline.worker_memory_mb`; an allocation past it raises MemoryError
  inside the worker, and `service.prepare` turns that into `too_large`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import os
import pickle
import resource
import signal
import socket
import struct
import sys
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Protocol

import structlog

from .enrich import Enricher, load_enricher
from .errors import ConfigError, ReasonCode, WorkerLostError
from .models import RecordMeta
from .observability import Metrics, configure_logging
from .prepare import MEMORY_BUDGET_MESSAGE, Prepared, Preparer, warm_up
from .retry import Backoff
from .settings import EnrichSettings, Settings, Stage
from .tracing import setup_tracing

log = structlog.get_logger("wire_ingest.workers")

_FRAME = struct.Struct("!I")
_READY = b"ready"
# A worker has this long to load its enricher and answer ready (cold caches, a busy machine).
_START_TIMEOUT_SECONDS = 120.0
# Modules the fork server imports once, so that every worker forked from it starts warm.
_PRELOAD = ["service.prepare", "service.enrich", "service.warm"]
_STATM = Path("/proc/self/statm")
_PID = struct.Struct("!q")
# Records a worker holds at once: the one it works on and the next, waiting in its socket.
_JOBS_PER_WORKER = 2
# How often, at most, the pool looks for a record past its time budget.
_WATCHDOG_SECONDS = 0.25


# ---------------------------------------------------------------- inside the worker


def _read_frame_blocking(sock: socket.socket) -> bytes | None:
    header = _recv_exactly(sock, _FRAME.size)
    if header is None:
        return None
    (size,) = _FRAME.unpack(header)
    return _recv_exactly(sock, size)


def _recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        count = sock.recv_into(view[received:], size - received)
        if count == 0:
            return None  # the service closed its end: it stopped or died
        received += count
    return bytes(buffer)


def _send_frame_blocking(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(_FRAME.pack(len(payload)) + payload)


def _cap_address_space(budget_mb: int) -> None:
    """Cap the address space at what the loaded worker maps now plus the budget."""
    mapped = int(_STATM.read_text().split()[0]) * resource.getpagesize()
    limit = mapped + budget_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def zygote_main(control: socket.socket, settings: Settings) -> None:
    """Load the pipeline once, then fork a warm worker whenever the service asks for one.

    Forking is safe here, unlike in the service: this process has one thread and no
    event loop. A worker inherits the loaded enricher copy-on-write and starts in
    milliseconds. Each request is one byte; the answer carries the worker's pid and,
    as ancillary data, the service's end of the worker's socket.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Workers are the service's to kill; the kernel reaps them, so none lingers as a zombie.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    observability = settings.observability
    configure_logging(observability.log_level, observability.log_format)
    needs_enricher = settings.pipeline.stage in (Stage.ALL, Stage.ENRICH)
    preparer = Preparer(settings, _enricher(settings.enrich) if needs_enricher else None)
    if not _preloaded(settings.enrich):
        warm_up(preparer)  # the fork server's warm-up already built the process-wide state
    # The loaded pipeline lives as long as every worker: kept out of the collector's walks, and
    # the workers' collections do not touch (and so copy) the pages they share with the zygote.
    gc.freeze()
    try:
        _send_frame_blocking(control, _READY)
        while control.recv(1):
            _fork_worker(control, preparer, settings)
    except (BrokenPipeError, ConnectionResetError):
        # The service closed its end before reading all we sent (a pool closed while starting,
        # as one short `wire-ingest process` call does): it wants no more workers either.
        return


def _fork_worker(control: socket.socket, preparer: Preparer, settings: Settings) -> None:
    """One worker forked from the zygote; its socket's other end goes to the service."""
    service_end, worker_end = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # the worker
        try:
            control.close()
            service_end.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _serve(worker_end, preparer, settings)
        finally:
            os._exit(0)
    worker_end.close()
    socket.send_fds(control, [_PID.pack(pid)], [service_end.fileno()])
    service_end.close()


def _preloaded(settings: EnrichSettings) -> bool:
    """Whether the fork server loaded (and warmed up) the enricher these settings ask for."""
    warm = sys.modules.get("service.warm")
    return warm is not None and settings == warm.DEFAULT_SETTINGS


def _enricher(settings: EnrichSettings) -> Enricher:
    """The fork server's preloaded enricher when the settings match, else a fresh one."""
    if _preloaded(settings):
        enricher: Enricher = sys.modules["service.warm"].DEFAULT_ENRICHER
        return enricher
    return load_enricher(settings)


def _serve(sock: socket.socket, preparer: Preparer, settings: Settings) -> None:
    """A worker's life: answer one job at a time until the service closes the socket.

    Each answer carries the CPU seconds the job took, so the service can export the
    CPU its workers spend (its own process metrics cannot see them). Tracing is set up
    here, after the fork: the exporter's thread would not survive one.
    """
    preparer.tracing = setup_tracing(settings.tracing)
    if _STATM.exists():
        _cap_address_space(settings.pipeline.worker_memory_mb)
    try:
        _answer(sock, preparer)
    finally:
        preparer.tracing.shutdown()  # exports what is buffered


def _answer(sock: socket.socket, preparer: Preparer) -> None:
    while True:
        frame = _read_frame_blocking(sock)
        if frame is None:
            return
        started = _cpu_seconds()
        kind, value, record = pickle.loads(frame)
        try:
            if kind == "canonical":
                prepared = preparer.prepare_canonical(value, record)
            else:
                prepared = preparer.prepare_raw(value, record)
        except MemoryError:
            # Past the budget outside the per-item guard.
            prepared = Prepared.failed(ReasonCode.TOO_LARGE, MEMORY_BUDGET_MESSAGE, "worker")
        del frame, value
        try:
            reply = pickle.dumps(
                (prepared, _cpu_seconds() - started, _peak_rss_bytes()), protocol=pickle.HIGHEST_PROTOCOL
            )
        except MemoryError:  # pickling a huge result
            too_large = Prepared.failed(ReasonCode.TOO_LARGE, MEMORY_BUDGET_MESSAGE, "worker")
            reply = pickle.dumps((too_large, _cpu_seconds() - started, _peak_rss_bytes()))
        _send_frame_blocking(sock, reply)


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


# ---------------------------------------------------------------- in the service


class PreparedSink(Protocol):
    """Who waits for a record handed to the pool (`WorkerPool.hand`); called on the event loop."""

    def done(self) -> bool:
        """Answered, or given up on: a job still waiting for a worker is then skipped."""
        ...

    def answer(self, prepared: Prepared) -> None: ...

    def fail(self, error: Exception) -> None:
        """WorkerLostError (the worker died or ran out of time on it), ConfigError (no pool)."""
        ...


class _FutureSink:
    """`WorkerPool.submit`'s answer: a future."""

    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[Prepared]) -> None:
        self.future = future

    def done(self) -> bool:
        return self.future.done()

    def answer(self, prepared: Prepared) -> None:
        self.future.set_result(prepared)

    def fail(self, error: Exception) -> None:
        self.future.set_exception(error)


@dataclass(eq=False)
class _Job:
    """One record handed to the pool; `sink` gets the worker's Prepared or a WorkerLostError."""

    payload: bytes
    sink: PreparedSink


class _Channel(asyncio.Protocol):
    """The service's end of a worker's socket: cuts the byte stream into answer frames.

    A protocol rather than a stream reader: an answer is handled in the callback that
    receives its bytes, with no task, no timeout wrapper and no await per record.
    """

    def __init__(self) -> None:
        self.worker: _Worker | None = None  # set once the worker is known
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= _FRAME.size:
            (size,) = _FRAME.unpack_from(buffer)
            end = _FRAME.size + size
            if len(buffer) < end:
                return
            frame = bytes(buffer[_FRAME.size : end])
            del buffer[:end]
            if self.worker is not None:
                self.worker.answered(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.worker is not None:
            self.worker.disconnected(exc)


@dataclass(eq=False)  # identity: a set holds the pool's workers
class _Worker:
    """A worker process as the service sees it: its socket and the jobs written to it, in order.

    The worker reads its socket one frame at a time, so the first job of `jobs` is the one it
    is working on and the others wait in the socket, unstarted. `started_at` is when the worker
    could start that first job (loop time): its time budget counts from there.
    """

    pid: int
    transport: asyncio.WriteTransport
    pool: WorkerPool
    jobs: deque[_Job] = field(default_factory=deque)
    started_at: float = 0.0
    served: bool = False  # it answered a job: it could start, whatever became of it later
    lost: bool = False

    def hand_over(self, job: _Job) -> None:
        # No drain: at most _JOBS_PER_WORKER payloads wait in the transport's buffer.
        self.transport.write(_FRAME.pack(len(job.payload)) + job.payload)
        self.jobs.append(job)
        if len(self.jobs) == 1:
            self.started_at = asyncio.get_running_loop().time()

    def answered(self, reply: bytes) -> None:
        if self.lost or not self.jobs:
            return
        job = self.jobs.popleft()
        self.served = True
        if self.jobs:
            self.started_at = asyncio.get_running_loop().time()
        self.pool.answered(job, reply)

    def disconnected(self, error: Exception | None) -> None:
        if not self.lost:
            self.pool.crashed(self, error)

    def kill(self) -> None:
        self.lost = True
        # SIGKILL: a parser stuck in C code ignores anything softer. The zygote's kernel reaps it.
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.transport.close()


class _Zygote:
    """The process that forks workers (see `zygote_main`); one per pool."""

    def __init__(self, settings: Settings) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        self._control, child = socket.socketpair()
        self.process: BaseProcess = context.Process(
            target=zygote_main, args=(child, settings), name="wire-ingest-zygote", daemon=True
        )
        self._child = child
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        try:
            await asyncio.to_thread(self.process.start)
        finally:
            self._child.close()
        self._control.settimeout(_START_TIMEOUT_SECONDS)
        ready = await asyncio.to_thread(_read_frame_blocking, self._control)
        if ready != _READY:
            raise ConfigError("the worker zygote did not start (see its log above)")

    async def fork(self) -> tuple[int, socket.socket]:
        """A new warm worker: its pid and the service's end of its socket."""
        async with self._lock:
            pid, fd = await asyncio.to_thread(self._fork_blocking)
        return pid, socket.socket(fileno=fd)

    def _fork_blocking(self) -> tuple[int, int]:
        self._control.sendall(b"f")
        message, fds, _, _ = socket.recv_fds(self._control, _PID.size, 1)
        if len(message) != _PID.size or len(fds) != 1:
            raise ConfigError("the worker zygote is gone")
        (pid,) = _PID.unpack(message)
        return pid, fds[0]

    def alive(self) -> bool:
        return self.process.is_alive()

    async def close(self) -> None:
        self._control.close()  # the zygote's loop ends on the closed socket
        if self.process.pid is None:  # never started
            return
        await asyncio.to_thread(self.process.join, 5)
        if self.process.is_alive():
            self.process.kill()
            await asyncio.to_thread(self.process.join, 5)


class WorkerPool:
    """`pipeline.workers` processes running `service.prepare.Preparer`.

    Each worker holds up to `_JOBS_PER_WORKER` records: the one it works on and the next,
    already in its socket, so it starts that one the moment it has answered instead of
    idling while the service reads the answer and picks a new record. Records wait in
    `_backlog` in the order they came, and go to the least busy worker.
    """

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        if settings.pipeline.workers < 1:
            raise ConfigError("a worker pool needs pipeline.workers >= 1")
        self._settings = settings
        self._metrics = metrics
        self._size = settings.pipeline.workers
        self.timeout = settings.pipeline.record_timeout_seconds
        self._backlog: deque[_Job] = deque()
        self._all: set[_Worker] = set()
        self._tasks: set[asyncio.Future[None]] = set()  # start-up and replacements
        self._zygote = _Zygote(settings)
        self._closed = False
        self.peak_rss_bytes = 0  # the largest any worker grew to, after the first record it served
        self._starting: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._starting.set_result(None)
        # Budgets are checked by one watchdog, a few times per budget, not by a timer per record.
        self._watch_every = min(_WATCHDOG_SECONDS, self.timeout / 4)
        self._watchdog: asyncio.TimerHandle | None = None
        # Workers that die idle before serving anything may be unable to start at all (a broken
        # environment, a memory cap below what they map): replaced after a growing pause, not in
        # a tight fork loop.
        self._unborn_deaths = Backoff(
            settings.pipeline.retry_initial_seconds, settings.pipeline.retry_max_seconds
        )

    def start(self) -> None:
        """Begin loading the pipeline and forking the workers, in the background.

        The service joins its consumer group meanwhile (both take seconds); records handed
        over before the workers are up wait for them, and fail with ConfigError if the pool
        cannot start.
        """
        self._starting = asyncio.ensure_future(self._start())
        self._starting.add_done_callback(self._started)

    async def wait_started(self) -> None:
        """Until every worker is up (ConfigError if the pool could not start)."""
        await asyncio.shield(self._starting)

    async def _start(self) -> None:
        started = time.monotonic()
        try:
            await self._zygote.start()
            for _ in range(self._size):
                await self._connect(*await self._zygote.fork())
        except Exception as error:
            log.error("workers_failed_to_start", error=repr(error))
            raise ConfigError(f"the worker pool could not start: {error!r}") from error
        log.info(
            "workers_started",
            workers=self._size,
            zygote_pid=self._zygote.process.pid,
            seconds=round(time.monotonic() - started, 2),
        )

    def _started(self, starting: asyncio.Future[None]) -> None:
        """A pool that cannot start fails the records waiting for it, and every later one."""
        if starting.cancelled() or starting.exception() is None:
            return
        error = starting.exception()
        while self._backlog:
            job = self._backlog.popleft()
            if not job.sink.done():
                job.sink.fail(error)  # type: ignore[arg-type]

    def submit(self, kind: str, value: bytes, record: RecordMeta) -> asyncio.Future[Prepared]:
        """The CPU half for one record in a worker, as a future: no task per record.

        The future fails with WorkerLostError when the worker died or ran out of time on this
        record, and with ConfigError when the pool could not start. Cancelling it does not
        take the job back from a worker that has it: the worker finishes it, so it is never
        left with an unread answer; a job still waiting in the backlog is skipped.
        """
        answer: asyncio.Future[Prepared] = asyncio.get_running_loop().create_future()
        # If nobody awaits the answer any more, its WorkerLostError is expected, not "never retrieved".
        answer.add_done_callback(_retrieved)
        self.hand(kind, value, record, _FutureSink(answer))
        return answer

    def hand(self, kind: str, value: bytes, record: RecordMeta, sink: PreparedSink) -> None:
        """`submit` for a caller that takes the answer itself: the pool calls `sink` when the
        worker answers (or fails), with no future and no callback to schedule in between."""
        if self._starting.done() and not self._starting.cancelled() and self._starting.exception():
            sink.fail(self._starting.exception())  # type: ignore[arg-type]
            return
        if self._closed:  # no worker would ever take the job
            sink.fail(WorkerLostError("the worker pool is closed", timed_out=False))
            return
        payload = pickle.dumps((kind, value, record), protocol=pickle.HIGHEST_PROTOCOL)
        self._backlog.append(_Job(payload, sink))
        self._dispatch()

    async def prepare(self, kind: str, value: bytes, record: RecordMeta) -> Prepared:
        """`submit`, awaited."""
        return await self.submit(kind, value, record)

    def _dispatch(self) -> None:
        """Hand waiting jobs, oldest first, to the workers with room, least busy first."""
        while self._backlog:
            worker = min(self._all, key=lambda w: len(w.jobs), default=None)
            if worker is None or len(worker.jobs) >= _JOBS_PER_WORKER:
                return
            job = self._backlog.popleft()
            if not job.sink.done():  # its caller gave up on it (a partition revoked)
                worker.hand_over(job)

    def answered(self, job: _Job, reply: bytes) -> None:
        """A worker's answer to `job`; the next waiting job goes to the worker now free."""
        self._dispatch()
        if job.sink.done():  # nobody waits for it any more
            return
        result, cpu_seconds, peak_rss = pickle.loads(reply)
        assert isinstance(result, Prepared)
        self._metrics.worker_cpu.inc(cpu_seconds)
        if peak_rss > self.peak_rss_bytes:
            self.peak_rss_bytes = peak_rss
            self._metrics.worker_peak_rss.set(peak_rss)
        job.sink.answer(result)

    def _watch(self) -> None:
        """Kill the workers whose current job ran past its time budget; runs every `_watch_every`."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        for worker in [w for w in self._all if w.jobs and now - w.started_at > self.timeout]:
            self.timed_out(worker)
        self._watchdog = None if self._closed else loop.call_later(self._watch_every, self._watch)

    def timed_out(self, worker: _Worker) -> None:
        """The job a worker is on ran past its time budget: kill the worker, fail the job."""
        job = self._lose(worker, "timeout")
        if job is not None:
            budget = f"pipeline.record_timeout_seconds ({self.timeout:g} s)"
            _fail(job, WorkerLostError(f"no answer within {budget}; worker killed", timed_out=True))

    def crashed(self, worker: _Worker, error: Exception | None) -> None:
        """A worker's socket closed under it: the process died (OOM killer, an operator, a bug)."""
        job = self._lose(worker, "crash")
        if job is not None:
            cause = repr(error) if error is not None else "its socket closed"
            _fail(job, WorkerLostError(f"the worker process died: {cause}", timed_out=False))

    def _lose(self, worker: _Worker, cause: str) -> _Job | None:
        """Kill a worker and fork its replacement in the background; the other workers go on.

        Returns the job it was working on, for the caller to fail. The jobs queued behind it
        never started: they go back to the front of the backlog, in order, for the other workers.
        """
        if worker.lost or self._closed:
            return None
        worker.kill()
        self._metrics.worker_restarts.labels(cause).inc()
        log.warning("worker_lost", cause=cause, pid=worker.pid)
        self._all.discard(worker)
        self._metrics.workers.set(len(self._all))
        current = worker.jobs.popleft() if worker.jobs else None
        self._backlog.extendleft(reversed(worker.jobs))
        worker.jobs.clear()
        pause = 0.0
        if worker.served:
            self._unborn_deaths.reset()
        elif current is None:
            pause = self._unborn_deaths.next_delay()
        self._background(self._replace(pause))
        self._dispatch()
        return current

    async def _replace(self, pause: float) -> None:
        if pause:
            await asyncio.sleep(pause)
        delay = self._settings.pipeline.retry_initial_seconds
        while not self._closed:
            try:
                if not self._zygote.alive():
                    await self._zygote.close()
                    self._zygote = _Zygote(self._settings)
                    await self._zygote.start()
                await self._connect(*await self._zygote.fork())
                return
            except Exception as error:  # a worker that cannot start now may start later (memory freed)
                log.error("worker_start_failed", error=repr(error), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._settings.pipeline.retry_max_seconds)

    async def _connect(self, pid: int, sock: socket.socket) -> None:
        """Take a forked worker into the pool (or kill it, if the pool closed meanwhile)."""
        loop = asyncio.get_running_loop()
        transport, channel = await loop.create_unix_connection(_Channel, sock=sock)
        worker = _Worker(pid, transport, self)
        if self._closed:
            worker.kill()
            return
        channel.worker = worker
        if transport.is_closing():  # it died before we looked
            self.crashed(worker, None)
            return
        self._all.add(worker)
        self._metrics.workers.set(len(self._all))
        if self._watchdog is None:
            self._watchdog = loop.call_later(self._watch_every, self._watch)
        self._dispatch()

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        if not self._starting.done():
            self._starting.cancel()
        with contextlib.suppress(BaseException):
            await self._starting
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        closing = WorkerLostError("the worker pool was closed", timed_out=False)
        for job in [*self._backlog, *(job for worker in self._all for job in worker.jobs)]:
            _fail(job, closing)
        for worker in self._all:
            worker.kill()
        self._backlog.clear()
        self._all.clear()
        self._metrics.workers.set(0)
        await self._zygote.close()
        log.info("workers_stopped", peak_rss_bytes=self.peak_rss_bytes)


def _fail(job: _Job, error: WorkerLostError) -> None:
    if not job.sink.done():
        job.sink.fail(error)


def _retrieved(answer: asyncio.Future[Prepared]) -> None:
    if not answer.cancelled():
        answer.exception()
