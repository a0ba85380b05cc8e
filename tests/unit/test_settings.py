"""The one settings class: environment, TOML file, security pass-through, secrets masked."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.delivery import make_producer
from service.settings import Settings, load_settings


def test_environment_overrides_nested_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    """WIRE_INGEST_ variables with '__' reach nested sections."""
    monkeypatch.setenv("WIRE_INGEST_KAFKA__BOOTSTRAP_SERVERS", "broker-a:9092,broker-b:9092")
    monkeypatch.setenv("WIRE_INGEST_TOPICS__RAW", "agency.raw")
    monkeypatch.setenv("WIRE_INGEST_PIPELINE__STAGE", "enrich")
    settings = Settings()
    assert settings.kafka.bootstrap_servers == "broker-a:9092,broker-b:9092"
    assert settings.topics.raw == "agency.raw"
    assert settings.pipeline.stage.value == "enrich"


def test_toml_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An optional TOML file supplies settings; the environment overrides it."""
    config = tmp_path / "wire-ingest.toml"
    config.write_text('[topics]\nraw = "from.file"\ndlq = "dlq.file"\n[kafka]\nclient_id = "file-client"\n')
    monkeypatch.setenv("WIRE_INGEST_TOPICS__DLQ", "dlq.env")
    monkeypatch.delenv("WIRE_INGEST_CONFIG_FILE", raising=False)
    settings = load_settings(config)
    assert (settings.topics.raw, settings.topics.dlq, settings.kafka.client_id) == (
        "from.file",
        "dlq.env",
        "file-client",
    )


def test_unknown_keys_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    """A misspelt setting fails loudly instead of being ignored."""
    with pytest.raises(ValidationError):
        Settings.model_validate({"kafka": {"bootstrap_server": "x:1"}})


def test_sasl_scram_settings_reach_the_client_and_stay_secret() -> None:
    """SASL credentials are passed to aiokafka but never shown in repr or str."""
    settings = Settings.model_validate(
        {
            "kafka": {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_username": "ingest",
                "sasl_password": "s3cr3t-pw",
            }
        }
    )
    kwargs = settings.kafka.client_kwargs()
    assert kwargs["security_protocol"] == "SASL_PLAINTEXT"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("ingest", "s3cr3t-pw")
    assert "s3cr3t-pw" not in repr(settings)
    assert "s3cr3t-pw" not in str(settings)


def test_ssl_builds_a_context_with_hostname_checks() -> None:
    """SSL and SASL_SSL give aiokafka an SSL context; PLAINTEXT gives none."""
    ssl_settings = Settings.model_validate({"kafka": {"security_protocol": "SASL_SSL", "sasl_username": "u"}})
    context = ssl_settings.kafka.client_kwargs()["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname
    assert ssl_settings.kafka.client_kwargs()["sasl_mechanism"] == "PLAIN"
    assert "ssl_context" not in Settings().kafka.client_kwargs()


def test_defaults_bind_metrics_to_loopback() -> None:
    """The metrics/health server listens on loopback unless told otherwise."""
    assert Settings().observability.http_host == "127.0.0.1"


async def test_a_producer_batch_may_not_exceed_a_request() -> None:
    """kafka.max_batch_bytes larger than kafka.max_request_size is refused at start-up, with both
    names in the message; the producer gets the batch size it is given."""
    with pytest.raises(
        ValidationError, match=r"kafka\.max_batch_bytes must not exceed kafka\.max_request_size"
    ):
        Settings.model_validate({"kafka": {"max_request_size": 1_048_576, "max_batch_bytes": 2_097_152}})
    settings = Settings.model_validate({"kafka": {"max_batch_bytes": 262_144}})
    producer = make_producer(settings)
    assert producer._message_accumulator._batch_size == 262_144
