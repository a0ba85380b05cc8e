"""Ritzau RBNews XML (the Danish agency's API): one <RBNews>, or a <ListOfRBNews> in an XMLNewsQueuedResponse.

Fields: NewsID, version, PublishDate (Copenhagen local time, no zone: Ritzau's
API documents Danish time, so the zone is a property of the format), headline
(often nil on flashes: the body's first sentence then serves), strapline,
town, section, Priority, byLine, and the body as escaped HTML in <content>.
Annuleret=true marks a cancelled item.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from lxml import etree

from ..errors import ParseError, ReasonCode
from ..models import ParsedItem, WireFormat
from .markup import html_paragraphs
from .xml_safety import child, descendants, local, parse_xml, text_of

_COPENHAGEN = ZoneInfo("Europe/Copenhagen")


def parse_ritzau(text: str) -> list[ParsedItem]:
    """Every RBNews item of a Ritzau document."""
    root = parse_xml(text)
    news = [root] if local(root.tag) == "RBNews" else descendants(root, "RBNews")
    if not news:
        raise ParseError(ReasonCode.EMPTY_ITEM, "Ritzau document holds no RBNews item")
    return [_item(element, index) for index, element in enumerate(news)]


def _field(element: etree._Element, name: str) -> str | None:
    value = text_of(child(element, name))
    return " ".join(value.split()) if value else None


def _copenhagen_to_utc(value: str | None) -> str | None:
    """'2018-01-30T17:32:18.397' in Danish local time -> ISO 8601 with its offset; None if unreadable."""
    if not value:
        return None
    try:
        local_time = datetime.fromisoformat(value.strip())
    except ValueError:
        return value  # normalize reports what it cannot read
    if local_time.tzinfo is None:
        local_time = local_time.replace(tzinfo=_COPENHAGEN)
    return local_time.isoformat()


def _item(news: etree._Element, index: int) -> ParsedItem:
    priority = _field(news, "Priority")
    published = _copenhagen_to_utc(_field(news, "PublishDate"))
    cancelled = (_field(news, "Annuleret") or "").lower() == "true"
    strapline = _field(news, "strapline")
    return ParsedItem(
        format=WireFormat.RITZAU,
        item_index=index,
        item_id=_field(news, "NewsID"),
        version=_field(news, "version"),
        source="Ritzau",
        pubstatus="canceled" if cancelled else "usable",
        headline=_field(news, "headline"),
        body_paragraphs=tuple(html_paragraphs(text_of(child(news, "content")) or "")),
        byline=_field(news, "byLine"),
        located=_field(news, "town"),
        firstcreated=published,
        versioncreated=published,
        section=_field(news, "section"),
        urgency=int(priority) if priority and priority.isdigit() else None,
        keywords=(strapline,) if strapline else (),
    )
