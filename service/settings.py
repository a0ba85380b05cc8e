"""The one settings class. Nothing else in the service reads the environment.

Environment variables use the prefix `WIRE_INGEST_` and `__` for nesting, e.g.
`WIRE_INGEST_KAFKA__BOOTSTRAP_SERVERS=broker:9092`,
`WIRE_INGEST_TOPICS__RAW=wire.raw`. An optional TOML file named by
`WIRE_INGEST_CONFIG_FILE` (or `--config`) supplies defaults that the
environment overrides.
"""

from __future__ import annotations

import os
import socket
import ssl
from contextvars import ContextVar
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .models import WireFormat

ENV_PREFIX = "WIRE_INGEST_"
CONFIG_FILE_ENV = "WIRE_INGEST_CONFIG_FILE"
_config_file: ContextVar[Path | None] = ContextVar("config_file", default=None)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class KafkaSettings(_Section):
    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "wire-ingest"
    group_id: str = "wire-ingest"
    security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_keyfile_password: SecretStr | None = None
    ssl_check_hostname: bool = True
    # Off by default because the Tansu test broker cannot do InitProducerId;
    # turn it on against Apache Kafka (docker-compose does).
    enable_idempotence: bool = False
    acks: Literal["all", "1", "0"] = "all"
    # 0: the shell appends a whole round's messages before it awaits any acknowledgement, so
    # they share batches without lingering; a linger would only add to every round's latency.
    linger_ms: int = 0
    compression_type: Literal["gzip", "snappy", "lz4", "zstd"] | None = None
    max_request_size: int = 4 * 1024 * 1024
    # Bytes of messages one partition's batch gathers (a larger message gets a batch of its own).
    # aiokafka's 16 KiB default holds three or four ~4 KB events: a round's messages then left
    # in a chain of produce requests, each waiting for the one before to be acknowledged. Kept
    # well under the broker's message.max.bytes (1 MiB by default), which caps a whole batch.
    max_batch_bytes: int = Field(default=512 * 1024, ge=16 * 1024)
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    max_poll_interval_ms: int = 300_000
    fetch_max_bytes: int = 16 * 1024 * 1024
    max_partition_fetch_bytes: int = 2 * 1024 * 1024
    # How long the broker may hold a fetch waiting for data. aiokafka's 500 ms default
    # sets the latency floor on brokers that answer only when it runs out (Tansu does; there
    # 10 ms cut a bare passthrough's p50 from 15 to 6 ms but left the service's unchanged).
    # Apache Kafka answers as soon as data comes: the wait only paces idle fetches.
    fetch_max_wait_ms: int = 50
    request_timeout_ms: int = 40_000

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.security_protocol not in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL):
            return None
        context = ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
        context.check_hostname = self.ssl_check_hostname
        if self.ssl_certfile:
            password = self.ssl_keyfile_password.get_secret_value() if self.ssl_keyfile_password else None
            context.load_cert_chain(
                str(self.ssl_certfile), str(self.ssl_keyfile) if self.ssl_keyfile else None, password
            )
        return context

    def client_kwargs(self) -> dict[str, Any]:
        """Connection and security settings shared by consumer, producer and admin clients."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "client_id": self.client_id,
            "security_protocol": self.security_protocol.value,
            "request_timeout_ms": self.request_timeout_ms,
        }
        context = self.ssl_context()
        if context is not None:
            kwargs["ssl_context"] = context
        if self.security_protocol in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL):
            kwargs["sasl_mechanism"] = self.sasl_mechanism or "PLAIN"
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        return kwargs


class TopicSettings(_Section):
    raw: str = "wire.raw"
    canonical: str = "articles.canonical"
    enriched: str = "articles.enriched"
    duplicates: str = "articles.duplicates"
    dlq: str = "wire.dlq"
    partitions: int = 3
    replication_factor: int = 1

    def outputs(self) -> list[str]:
        return [self.canonical, self.enriched, self.duplicates, self.dlq]

    def all(self) -> list[str]:
        return [self.raw, *self.outputs()]

    def with_prefix(self, prefix: str) -> TopicSettings:
        """Output topics under a sandbox prefix (replay comparisons); the input stays."""
        return self.model_copy(
            update={
                "canonical": prefix + self.canonical,
                "enriched": prefix + self.enriched,
                "duplicates": prefix + self.duplicates,
                "dlq": prefix + self.dlq,
            }
        )


class DeliveryMode(StrEnum):
    AT_LEAST_ONCE = "at_least_once"
    EXACTLY_ONCE = "exactly_once"


class Stage(StrEnum):
    ALL = "all"  # raw -> canonical + enriched in one consumer (default)
    INGEST = "ingest"  # raw -> canonical
    ENRICH = "enrich"  # canonical -> enriched


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _known_zone(name: str) -> str:
    """An IANA zone name the tz database knows; anything else is a settings error at start-up."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # ValueError: not a zone key at all ("../x")
        raise ValueError(
            f"unknown time zone {name!r} (expected an IANA name such as 'Europe/Helsinki')"
        ) from exc
    return name


IanaZone = Annotated[str, AfterValidator(_known_zone)]


class PipelineSettings(_Section):
    stage: Stage = Stage.ALL
    delivery: DeliveryMode = DeliveryMode.AT_LEAST_ONCE
    # Names this instance among the replicas of one deployment (pod or host name); it makes
    # the default transactional id unique per instance, so exactly-once replicas never fence
    # each other. Must be stable across restarts of the same instance.
    instance_name: str = Field(default_factory=socket.gethostname, min_length=1)
    transactional_id: str | None = None  # default: {client_id}-{stage}-{instance_name}
    # Records in flight at once (fetched, not yet committed); every one is produced and
    # acknowledged before its offset is committed.
    max_batch_records: int = Field(default=500, ge=1)
    poll_timeout_ms: int = 200
    # Once a record is ready, wait this long for others being prepared to join its delivery
    # (one produce-and-commit round trip for all of them): throughput against latency. At half
    # saturation 2 ms gave p50 27 ms / p99 63 ms against 31 / 73 with 5 ms, the same
    # throughput; 0 makes a round of nearly every record and a worse tail (make bench).
    round_linger_ms: float = Field(default=2.0, ge=0)
    max_item_bytes: int = 4 * 1024 * 1024
    # Worker processes for parse/normalize/signatures/enrichment; 0 runs them in the
    # service's own process (no time or memory budget then: tests and `process`).
    # Default: the cores available, at least 2, so that one slow record (up to
    # record_timeout_seconds) never holds up every other one.
    workers: int = Field(default_factory=lambda: max(2, available_cores()), ge=0)
    # Per-record budgets. A worker past the time budget is killed and replaced; past the
    # memory budget its allocation fails. Either way the record is dead-lettered.
    record_timeout_seconds: float = Field(default=10.0, gt=0)
    worker_memory_mb: int = Field(default=1024, ge=64)
    max_items_per_record: int = Field(default=1000, ge=1)
    # No message larger than this is produced (Kafka's default max.message.bytes is
    # 1,048,588): an event that would be larger is dead-lettered, and a dead letter carries
    # only the prefix of its raw record that fits.
    max_message_bytes: int = Field(default=1_000_000, ge=16_384)
    # Backoff for errors that can heal (broker or store unreachable): exponential with jitter.
    retry_initial_seconds: float = Field(default=0.5, gt=0)
    retry_max_seconds: float = Field(default=30.0, gt=0)
    format_by_source: dict[str, WireFormat] = Field(
        default_factory=dict,
        description="Force a parser for a source (matched on the record's 'source' header).",
    )
    # Where a source writes the timestamps that carry no zone (STT: Europe/Helsinki). Matched
    # on the record's 'source' header first, then on the item's own source name (G2 provider,
    # ninjs 'copyrightholder'...); unmatched sources keep reading such timestamps as UTC.
    timezone_by_source: dict[str, IanaZone] = Field(
        default_factory=dict,
        description="IANA time zone of a source's zone-less timestamps (source header or item source).",
    )


class DedupeBackend(StrEnum):
    MEMORY = "memory"
    SQLITE = "sqlite"
    REDIS = "redis"


class DedupeSettings(_Section):
    backend: DedupeBackend = DedupeBackend.SQLITE
    sqlite_path: Path = Path("wire-ingest-dedupe.sqlite3")
    # How long an SQLite call waits for a lock another connection holds (a replay, a backup)
    # before it gives up as StoreUnavailableError and the shell retries with backoff. It
    # waits on the store's own thread, never on the event loop; short, so a held file
    # shows up in metrics and /readyz instead of as one slow record.
    sqlite_busy_timeout_seconds: float = Field(default=1.0, gt=0, le=60)
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    redis_key_prefix: str = "wire-ingest:"
    window_days: float = 7.0
    max_stories: int = 2_000_000
    # Near-duplicate detection (MinHash LSH over word shingles). Chosen with
    # tools/eval_dedupe.py on Reuters-21578 reprints and same-day negatives:
    # 3-word shingles and 128 values gave the best precision at recall >= 0.95.
    # The threshold is the best recall at precision >= 0.99 on the fit half, on the text
    # without feed packaging (dedupe/text.py): 0.5/0.51/0.52/0.53/0.54 gave fit P
    # .988/.993/.995/.998/.999, R .995/.995/.994/.994/.992; held-out at 0.51: P .995 R .998.
    # (On the whole text, before dedupe/text.py: 0.52, held-out P .995 R .924.)
    shingle_size: int = 3
    num_perm: int = 128
    threshold: float = 0.51
    # When the store cannot be reached, the partition that needed it waits this long before
    # its first retry (then backs off exponentially, up to pipeline.retry_max_seconds), rather
    # than publish unchecked duplicates.
    unavailable_retry_seconds: float = Field(default=1.0, gt=0)


class EnrichSettings(_Section):
    registry_path: Path | None = None  # None: the registry shipped with the package
    # Cities below this population are not country evidence (capitals always are).
    # Reuters-21578 country precision (all roles) at 100k/200k/500k/1M: .729/.741/.748/.751,
    # recall .993 throughout; 500k keeps cities such as Samarkand (tools/eval_enrich.py).
    city_min_population: int = 500_000
    dateline_city_min_population: int = 50_000
    # Leader names per language (leader_labels.csv columns), e.g. written by
    # `wire-ingest registry import-wikidata --labels`; read on top of the shipped seed table.
    leader_labels_path: Path | None = None


class ObservabilitySettings(_Section):
    http_host: str = "127.0.0.1"
    http_port: int = 9308
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    lag_refresh_seconds: float = 5.0


class TracingSettings(_Section):
    """OpenTelemetry traces (service/tracing.py). Off: no span is made and nothing is imported."""

    enabled: bool = False
    exporter: Literal["otlp", "console"] = "otlp"
    # OTLP over HTTP/protobuf: the collector's (or Jaeger's) traces endpoint.
    otlp_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    service_name: str = "wire-ingest"
    # Share of new traces kept; a raw record that arrives with a sampled traceparent is always
    # traced (parent-based), so a trace that began upstream is never cut in the middle.
    sampler_ratio: float = Field(default=1.0, ge=0.0, le=1.0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    pipeline: PipelineSettings = PipelineSettings()
    dedupe: DedupeSettings = DedupeSettings()
    enrich: EnrichSettings = EnrichSettings()
    observability: ObservabilitySettings = ObservabilitySettings()
    tracing: TracingSettings = TracingSettings()

    @model_validator(mode="after")
    def _messages_fit_requests(self) -> Settings:
        if self.pipeline.max_message_bytes > self.kafka.max_request_size:
            raise ValueError(
                "pipeline.max_message_bytes must not exceed kafka.max_request_size "
                f"({self.pipeline.max_message_bytes} > {self.kafka.max_request_size})"
            )
        if self.kafka.max_batch_bytes > self.kafka.max_request_size:
            raise ValueError(
                "kafka.max_batch_bytes must not exceed kafka.max_request_size "
                f"({self.kafka.max_batch_bytes} > {self.kafka.max_request_size})"
            )
        return self

    def transactional_id(self) -> str:
        """The producer's transactional id: configured, or unique per instance and stage."""
        return self.pipeline.transactional_id or (
            f"{self.kafka.client_id}-{self.pipeline.stage.value}-{self.pipeline.instance_name}"
        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file.get() or os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from overrides, the environment and an optional TOML file."""
    token = _config_file.set(config_file)
    try:
        return Settings(**overrides)
    finally:
        _config_file.reset(token)
