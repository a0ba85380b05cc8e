"""`wire-ingest reenrich` on a real broker: new registry, new enriched events; same registry, nothing."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from service.app import run_service
from service.enrich import default_registry_path, registry_version
from service.observability import Metrics
from service.ops.replay import InputKind, Mode, ReplayOptions, run_replay
from service.shell import RunLimits
from tests.conftest import SAMPLES, Broker
from tests.integration.kafka_helpers import create, produce, read_all, settings_for

pytestmark = pytest.mark.integration

SEED = (SAMPLES / "xinhua_xi_aliyev_samarkand.txt").read_bytes()
REENRICH = ReplayOptions(mode=Mode.REENRICH, source=InputKind.CANONICAL, progress=False)


def newer_registry(tmp_path: Path) -> Path:
    """The shipped registry with a later version date: same entries, another registry version."""
    text = default_registry_path().read_text(encoding="utf-8")
    first, rest = text.split("\n", 1)
    assert first.startswith("# version_date:")
    path = tmp_path / "leaders-next.csv"
    path.write_text("# version_date: 2099-01-01\n" + rest, encoding="utf-8")
    return path


async def test_reenrich_publishes_only_for_a_new_registry(kafka: Broker, unique: str, tmp_path: Path) -> None:
    """Re-enrichment with the registry already used publishes nothing; with a new one, events carrying it."""
    settings = settings_for(kafka.bootstrap_servers, unique, tmp_path)
    await create(settings)
    await produce(settings, [SEED])
    await asyncio.wait_for(
        run_service(
            settings,
            limits=RunLimits(max_records=1),
            metrics=Metrics(CollectorRegistry()),
            serve_http=False,
            install_signal_handlers=False,
        ),
        timeout=120,
    )
    [original] = [
        orjson.loads(r.value) for r in await read_all(settings, settings.topics.enriched, expected=1)
    ]

    same = await run_replay(settings, REENRICH)
    assert same.records == 1
    assert sum(same.published.values()) == 0 and same.withheld[settings.topics.enriched] == 1

    registry = newer_registry(tmp_path)
    updated = settings.model_copy(
        update={"enrich": settings.enrich.model_copy(update={"registry_path": registry})}
    )
    fresh = await run_replay(updated, REENRICH)
    assert fresh.published == {settings.topics.enriched: 1}
    assert fresh.registry_version == registry_version(registry) != original["registry_version"]
    events = [orjson.loads(r.value) for r in await read_all(settings, settings.topics.enriched, expected=2)]
    assert len(events) == 2
    new = events[1]
    assert new["registry_version"] == registry_version(registry)
    assert new["event_id"] == original["event_id"]
    assert {c["alpha2"] for c in new["countries"]} == {c["alpha2"] for c in original["countries"]}
    assert not new["lineage"]["replay"]  # re-enrichment is an update, not a replay

    again = await run_replay(updated, REENRICH)
    assert sum(again.published.values()) == 0
    forced = await run_replay(updated, replace(REENRICH, force=True))
    assert forced.published == {settings.topics.enriched: 1}
