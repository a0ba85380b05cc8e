"""IPTC NewsML 1.x (AFP, ANA and others): NewsItems of NewsComponent trees with NewsLines and ContentItems.

Each NewsItem is one story: Identification (PublicIdentifier, RevisionId),
NewsManagement (FirstCreated, ThisRevisionCreated, Status, Urgency), and a
NewsComponent tree whose NewsLines give headline, byline, dateline and slugline,
whose metadata gives language, genre, keywords, subjects and place, and whose
first ContentItem of MediaType Text carries the body: NITF or XHTML elements
inline, or HTML escaped in CDATA. A NewsItem with no text ContentItem (a photo,
a video) is not a story.
"""

from __future__ import annotations

import re

from lxml import etree

from ..errors import ParseError, ReasonCode
from ..models import ParsedItem, Subject, WireFormat
from ..text import split_blocks
from .markup import html_paragraphs, looks_like_html, xml_paragraphs
from .nitf import body_parts
from .xml_safety import attr, child, children, descendant, descendants, lang_of, local, parse_xml, text_of

# A DateLine that is only a date ("4/4/2018", ANA) is a date, not a place.
_DATE_ONLY = re.compile(r"^\s*\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\s*$")
_NON_BODY = frozenset({"media", "body.end", "note", "body.head"})


def parse_newsml1(text: str) -> list[ParsedItem]:
    """Every text NewsItem of a NewsML 1.x document."""
    root = parse_xml(text)
    news_items = [root] if local(root.tag) == "NewsItem" else descendants(root, "NewsItem")
    items = [item for news_item in news_items if (item := _item(news_item)) is not None]
    if not items:
        if any(descendant(n, "ContentItem") is not None for n in news_items):
            raise ParseError(ReasonCode.NON_TEXT_ITEM, "NewsML 1 document holds no text ContentItem")
        raise ParseError(ReasonCode.EMPTY_ITEM, "NewsML 1 document holds no NewsItem with content")
    return [item.model_copy(update={"item_index": index}) for index, item in enumerate(items)]


def _formal(element: etree._Element | None) -> str | None:
    return attr(element, "FormalName")


def _line(lines: etree._Element | None, name: str) -> str | None:
    value = text_of(child(lines, name))
    return " ".join(value.split()) if value else None


def _text_content(news_item: etree._Element) -> etree._Element | None:
    for content in descendants(news_item, "ContentItem"):
        media_type = (_formal(child(content, "MediaType")) or "text").lower()
        if media_type == "text" and child(content, "DataContent") is not None:
            return child(content, "DataContent")
    return None


def _body(data: etree._Element) -> list[str]:
    nitf = descendant(data, "nitf") if local(data.tag) != "nitf" else data
    if nitf is not None:
        paragraphs, _ = body_parts(child(nitf, "body"))
        if paragraphs:
            return paragraphs
    if len(data):
        return xml_paragraphs(data, skip=_NON_BODY)
    raw = data.text or ""
    return html_paragraphs(raw) if looks_like_html(raw) else split_blocks(raw)


def _subjects(news_item: etree._Element) -> list[Subject]:
    """Subjects named in TopicSets (English name preferred); bare SubjectCode numbers carry no name."""
    out: list[Subject] = []
    for topic in descendants(news_item, "Topic"):
        names = [d for d in children(topic, "Description") if attr(d, "Variant") == "Name"]
        english = next((d for d in names if (lang_of(d) or "").lower().startswith("en")), None)
        name = text_of(english if english is not None else (names[0] if names else None))
        code = text_of(child(topic, "FormalName"))
        if name:
            out.append(Subject(name=" ".join(name.split()), code=code, scheme="iptc-subjectcode"))
    return out


def _item(news_item: etree._Element) -> ParsedItem | None:
    data = _text_content(news_item)
    if data is None:
        return None
    identifier = descendant(child(news_item, "Identification"), "NewsIdentifier")
    management = child(news_item, "NewsManagement")
    lines = descendant(news_item, "NewsLines")
    metadata = descendant(news_item, "DescriptiveMetadata")
    provider = _formal(descendant(descendant(news_item, "Provider"), "Party")) or _formal(
        descendant(descendant(news_item, "Source"), "Party")
    )
    item_id = text_of(child(identifier, "PublicIdentifier"))
    if item_id is None and identifier is not None:
        parts = [text_of(child(identifier, n)) for n in ("ProviderId", "NewsItemId")]
        item_id = ":".join(p.strip() for p in parts if p) or None
    dateline = _line(lines, "DateLine")
    urgency = _formal(child(management, "Urgency")) or _formal(
        descendant(news_item.getparent(), "Priority") if news_item.getparent() is not None else None
    )
    language = _formal(child(metadata, "Language")) or lang_of(news_item)
    keywords = [
        value
        for p in children(metadata, "Property")
        if attr(p, "FormalName") == "Keyword" and (value := attr(p, "Value"))
    ]
    places = {
        name: value
        for p in descendants(metadata, "Property")
        if (name := attr(p, "FormalName")) in ("City", "Country") and (value := attr(p, "Value"))
    }
    status = _formal(child(management, "Status"))
    return ParsedItem(
        format=WireFormat.NEWSML_1,
        item_id=item_id,
        version=text_of(child(identifier, "RevisionId")),
        source=provider or (text_of(child(identifier, "ProviderId")) or "").strip() or None,
        pubstatus=status.lower() if status else None,
        headline=_line(lines, "HeadLine"),
        body_paragraphs=tuple(_body(data)),
        byline=_line(lines, "ByLine"),
        dateline=None if dateline is None or _DATE_ONLY.match(dateline) else dateline,
        located=places.get("City") or places.get("Country"),
        firstcreated=text_of(child(management, "FirstCreated")),
        versioncreated=text_of(child(management, "ThisRevisionCreated")),
        language=language.lower() if language else None,
        section=_formal(child(metadata, "Genre")),
        urgency=int(urgency) if urgency and urgency.strip().isdigit() else None,
        subjects=tuple(_subjects(news_item)),
        keywords=tuple(keywords + ([s] if (s := _line(lines, "SlugLine")) else [])),
    )
