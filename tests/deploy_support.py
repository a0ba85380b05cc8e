"""Readers for the deploy/ artefacts, shared by the unit and integration tests of deploy/."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import yaml
from prometheus_client import CollectorRegistry

from service.observability import Metrics

REPO_ROOT = Path(__file__).resolve().parents[1]
DEPLOY = REPO_ROOT / "deploy"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
ALERT_RULES = DEPLOY / "prometheus" / "alerts.yml"
ALERT_TESTS = DEPLOY / "prometheus" / "alerts_test.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "wire-ingest.json"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = DEPLOY / "grafana" / "provisioning" / "dashboards" / "wire-ingest.yml"
SCRAPE_JOB = "wire-ingest"

# What Grafana puts in place of its built-in variables when the tests run the queries:
# a window wide enough to hold every sample of a short test run.
BUILTIN_VARIABLES = {"__rate_interval": "1m", "__interval": "1m", "__range": "5m"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")

# Suffixes of the series each metric type exposes (prometheus-client's families drop them).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created", ""),
    "info": ("_info",),
}


@dataclass(frozen=True)
class DashboardQuery:
    panel: str
    ref_id: str
    expr: str


def require_binary(name: str) -> str:
    """The path of a tool the deploy tests need; a missing one fails the test (never a skip)."""
    path = shutil.which(name)
    assert path is not None, f"{name} not found on PATH: run `make services` (installs Debian's prometheus)"
    return path


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries(dashboard: Mapping[str, Any] | None = None) -> list[DashboardQuery]:
    dashboard = dashboard if dashboard is not None else load_dashboard()
    return [
        DashboardQuery(panel["title"], target["refId"], target["expr"])
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Replace Grafana variables ($name, ${name}, ${name:fmt}); an unknown variable is an error."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        merged = {**BUILTIN_VARIABLES, **values}
        if name not in merged:
            raise KeyError(f"no value for dashboard variable ${name} in {expr!r}")
        return merged[name]

    return _VARIABLE.sub(replace, expr)


def dashboard_variables(dashboard: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in dashboard["templating"]["list"]}


def all_values(dashboard: Mapping[str, Any]) -> dict[str, str]:
    """Each query variable at "All" (its allValue), as the dashboard opens by default."""
    return {
        name: variable["allValue"]
        for name, variable in dashboard_variables(dashboard).items()
        if variable["type"] == "query"
    }


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERT_RULES)["groups"] for rule in group["rules"]]


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(metric name, label names matched on) of every selector in a PromQL expression (parsed)."""
    found: list[tuple[str, set[str]]] = []

    def walk(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = node.matchers.matchers
            name = node.name or next((m.value for m in matchers if m.name == "__name__"), "")
            found.append((name, {m.name for m in matchers if m.name != "__name__"}))
            return
        for attribute in ("lhs", "rhs", "expr", "param", "vector_selector"):
            child = getattr(node, attribute, None)
            if child is not None:
                walk(child)
        for child in getattr(node, "args", None) or []:
            walk(child)

    walk(promql_parser.parse(expr))
    return found


def metric_names(expr: str) -> set[str]:
    """Metric names selected anywhere in a PromQL expression."""
    return {name for name, _ in selectors(expr) if name}


def exported_series_names() -> set[str]:
    """Every series name the service's `Metrics` can expose, with the type's suffixes."""
    return set(exported_series_labels())


def exported_series_labels() -> dict[str, set[str]]:
    """Series name -> the label names the service sets on it (`le` on histogram buckets)."""
    series: dict[str, set[str]] = {}
    for metric in vars(Metrics(CollectorRegistry())).values():
        kind = getattr(metric, "_type", None)
        if kind not in _SUFFIXES:
            continue
        base = metric._name.removesuffix("_total") if kind == "counter" else metric._name
        for suffix in _SUFFIXES[kind]:
            labels = set(metric._labelnames) | ({"le"} if suffix == "_bucket" else set())
            series[base + suffix] = labels
    return series
