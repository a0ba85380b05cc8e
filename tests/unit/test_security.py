"""Security settings reach the Kafka clients; secrets stay out of repr and logs; /metrics binds where told."""

from __future__ import annotations

import json
import ssl
from types import SimpleNamespace

import pytest
import structlog
from prometheus_client import CollectorRegistry

from service.observability import Health, HttpEndpoint, Metrics, configure_logging
from service.settings import Settings
from service.shell import Service, make_producer
from service.tracing import NO_TRACING

SECRETS = ("kafka-pw-123", "key-pw-456", "redis-pw-789")


def _secure_settings(mechanism: str) -> Settings:
    return Settings.model_validate(
        {
            "kafka": {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": mechanism,
                "sasl_username": "ingest",
                "sasl_password": SECRETS[0],
                "ssl_keyfile_password": SECRETS[1],
                "ssl_check_hostname": True,
            },
            "dedupe": {"backend": "redis", "redis_url": f"redis://:{SECRETS[2]}@redis.internal:6379/0"},
        }
    )


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_sasl_and_tls_reach_the_producer_and_the_consumer(mechanism: str) -> None:
    """The producer and consumer the service builds carry the SASL mechanism, credentials and TLS context."""
    settings = _secure_settings(mechanism)
    producer = make_producer(settings)
    # The consumer needs no pipeline; the shell only asks it how it traces.
    pipeline = SimpleNamespace(tracing=NO_TRACING)
    consumer = Service(settings, pipeline, Metrics(CollectorRegistry()), Health())._make_consumer()  # type: ignore[arg-type]
    for client in (producer.client, consumer._client):
        assert client._security_protocol == "SASL_SSL"
        assert client._sasl_mechanism == mechanism
        assert client._sasl_plain_username == "ingest"
        assert client._sasl_plain_password == SECRETS[0]
        assert isinstance(client._ssl_context, ssl.SSLContext)
        assert client._ssl_context.check_hostname
        assert client._ssl_context.verify_mode == ssl.CERT_REQUIRED


def test_secrets_never_appear_in_repr_str_or_json_dump() -> None:
    """Passwords in Kafka and Redis settings are masked wherever the settings are printed or dumped."""
    settings = _secure_settings("SCRAM-SHA-512")
    shown = [
        repr(settings),
        str(settings),
        settings.model_dump_json(),
        repr(settings.kafka),
        repr(settings.dedupe),
    ]
    for text in shown:
        for secret in SECRETS:
            assert secret not in text


def test_secrets_never_appear_in_logs(capsys: pytest.CaptureFixture[str]) -> None:
    """Logging the settings (or any section) through the service's JSON logger shows no password."""
    settings = _secure_settings("PLAIN")
    configure_logging("INFO", "json")
    log = structlog.get_logger("test_security")
    log.info("settings_loaded", settings=settings, kafka=settings.kafka, dedupe=settings.dedupe)
    output = capsys.readouterr().err
    assert json.loads(output.strip().splitlines()[-1])["event"] == "settings_loaded"
    for secret in SECRETS:
        assert secret not in output


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_metrics_endpoint_binds_where_configured(host: str) -> None:
    """/metrics binds to the configured address: loopback by default, all interfaces only when asked."""
    endpoint = HttpEndpoint(host, 0, Metrics(CollectorRegistry()), Health())
    try:
        assert endpoint._server.server_address[0] == host
    finally:
        endpoint._server.server_close()
