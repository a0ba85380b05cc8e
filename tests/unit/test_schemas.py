"""schemas/ is generated from the models and must not drift from them."""

from __future__ import annotations

import json

from service.schema_export import render_schemas
from tests.conftest import REPO_ROOT


def test_committed_schemas_match_the_models() -> None:
    """Every generated file is committed unchanged; run `make schemas` after changing a model."""
    for filename, content in render_schemas().items():
        committed = REPO_ROOT / "schemas" / filename
        assert committed.exists(), f"schemas/{filename} is missing: run `make schemas`"
        assert committed.read_text(encoding="utf-8") == content, (
            f"schemas/{filename} drifted: run `make schemas`"
        )


def test_asyncapi_names_every_topic_with_a_schema() -> None:
    """The AsyncAPI document describes each channel and points at an existing schema file."""
    document = json.loads(render_schemas()["asyncapi.json"])
    assert document["asyncapi"].startswith("3.")
    assert set(document["channels"]) == {"raw", "canonical", "enriched", "duplicates", "dlq"}
    for message in document["components"]["messages"].values():
        ref = message["payload"].get("$ref")
        if ref:
            assert (REPO_ROOT / "schemas" / ref.removeprefix("./")).exists()


def test_enriched_schema_has_the_fields_downstream_relies_on() -> None:
    """event_id, story_id, headline, countries[].alpha2 and leaders[].wikidata_id are in the contract."""
    schema = json.loads(render_schemas()["enriched-article.schema.json"])
    required = set(schema["required"])
    assert {"event_id", "story_id", "headline"} <= required
    defs = schema["$defs"]
    assert "alpha2" in defs["CountryMention"]["required"]
    assert "wikidata_id" in defs["LeaderMention"]["required"]
