"""Builds canonical articles the way `normalize` does, for tests, the evaluation and the benchmark."""

from __future__ import annotations

from datetime import UTC, datetime

from ..ids import event_id, sha256_hex, story_id
from ..models import CanonicalArticle, Lineage, PubStatus, WireFormat

BASE_TIME = datetime(2022, 9, 15, 9, 0, tzinfo=UTC)


def make_article(
    *,
    source: str = "wire-a",
    item_id: str = "item-1",
    version: str = "1",
    headline: str = "Headline",
    body: str = "Body text.",
    versioncreated: datetime = BASE_TIME,
    pubstatus: PubStatus = PubStatus.USABLE,
    topic: str = "wire.raw",
    partition: int = 0,
    offset: int = 0,
    item_index: int = 0,
    replay: bool = False,
) -> CanonicalArticle:
    """An article with deterministic IDs derived from its fields, as `normalize` would emit it."""
    content_hash = sha256_hex(f"{headline}\n\n{body}")
    return CanonicalArticle(
        event_id=event_id(source, item_id, version, content_hash),
        story_id=story_id(source, item_id),
        item_id=item_id,
        version=version,
        source=source,
        pubstatus=pubstatus,
        headline=headline,
        body_text=body,
        firstcreated=versioncreated,
        versioncreated=versioncreated,
        content_hash=content_hash,
        lineage=Lineage(
            topic=topic,
            partition=partition,
            offset=offset,
            format=WireFormat.NINJS,
            item_index=item_index,
            parser_version="test",
            raw_sha256=content_hash,
            replay=replay,
        ),
    )
