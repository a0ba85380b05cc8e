"""IPTC NewsML-G2: a bare newsItem, or a newsMessage whose itemSet holds several (one item each).

Only text items become articles: newsItems of class picture/video/audio/graphic
and packageItems (which carry references, not text) are skipped. `item_index`
counts the text newsItems of the document in order. A document with no text
item is refused as `non_text_item` (only pictures, videos...) or `not_an_article`
(only packages). The headline of a NITF body inside `inlineXML` is the NITF's own
(hl1, else head/title) when contentMeta has none. A `<dateline>` that holds a
timestamp ("2014-07-16 13:00:03 GMT+00:00") is a date, not a place. STT escapes
its inline dash markup as text (`&lt;endash&gt;-&lt;/endash&gt;`): the dash is kept.
"""

from __future__ import annotations

import re

from lxml import etree

from ..errors import ParseError, ReasonCode
from ..models import Caption, ParsedItem, Subject, WireFormat
from ..text import split_blocks
from .markup import html_paragraphs, looks_like_html, xml_paragraphs
from .nitf import body_parts, byline_paragraph, byline_text, dateline_text
from .xml_safety import (
    attr,
    check_item_count,
    child,
    children,
    descendant,
    descendants,
    lang_of,
    local,
    parse_xml,
    text_of,
)

_NON_TEXT_CLASSES = ("picture", "video", "audio", "graphic", "animated", "composite")
_GEO_SUBJECT_TYPES = ("cpnat:geoarea", "cpnat:poi", "cpnat:place")
_PERSON_SUBJECT_TYPES = ("cpnat:person",)
# XHTML bodies (dpa) repeat slugline, keywords and headline in <header>: not story text.
_XHTML_FURNITURE = frozenset({"header", "footer", "nav", "aside", "title"})
_ESCAPED_DASH_MARKUP = re.compile(r"</?(?:endash|emdash)\s*/?>")
_TIMESTAMP_DATELINE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}")


def parse_newsml_g2(text: str) -> list[ParsedItem]:
    """All text items of a NewsML-G2 document."""
    root = parse_xml(text)
    name = local(root.tag)
    if name == "newsItem":
        news_items = [root]
    elif name == "newsMessage":
        news_items = check_item_count(descendants(child(root, "itemSet"), "newsItem"))
    elif name == "packageItem":
        news_items = []
    else:
        raise ParseError(ReasonCode.UNSUPPORTED_FORMAT, f"NewsML-G2 <{name}> holds no newsItem")
    items: list[ParsedItem] = []
    for news_item in news_items:
        if _is_text(news_item):
            items.append(_item(news_item, len(items)))
    if not items:
        if news_items:
            raise ParseError(
                ReasonCode.NON_TEXT_ITEM, "NewsML-G2 document holds only picture/video/audio/graphic items"
            )
        if name == "packageItem" or descendant(root, "packageItem") is not None:
            raise ParseError(ReasonCode.NOT_AN_ARTICLE, "NewsML-G2 packageItem holds references, not text")
        raise ParseError(ReasonCode.EMPTY_ITEM, "NewsML-G2 document holds no text newsItem")
    return items


def _is_text(news_item: etree._Element) -> bool:
    item_class = attr(child(child(news_item, "itemMeta"), "itemClass"), "qcode") or ""
    return not any(kind in item_class.lower() for kind in _NON_TEXT_CLASSES)


def _name(element: etree._Element | None) -> str | None:
    """A concept's name: its <name> child, else its literal."""
    if element is None:
        return None
    name = text_of(child(element, "name"))
    return " ".join(name.split()) if name else attr(element, "literal")


def _source(
    item_meta: etree._Element | None, content_meta: etree._Element | None, rights: etree._Element | None
) -> str | None:
    provider = child(item_meta, "provider")
    named = _name(provider)
    if named:
        return named
    for info_source in children(content_meta, "infoSource"):
        named = _name(info_source)
        if named:
            return named
    holder = _name(child(rights, "copyrightHolder"))
    if holder:
        return holder
    qcode = attr(provider, "qcode")
    if qcode:
        return qcode.rpartition(":")[2]
    uri = attr(provider, "uri")
    if uri:
        host = uri.split("//", 1)[-1].split("/", 1)[0]
        return host.removeprefix("www.") or None
    return None


def _headline(content_meta: etree._Element | None) -> str | None:
    headlines = children(content_meta, "headline")
    main = next((h for h in headlines if (attr(h, "role") or "").endswith("main")), None)
    for headline in ([main] if main is not None else []) + headlines:
        text = text_of(headline)
        if text:
            return text
    return None


def _subjects(content_meta: etree._Element | None) -> tuple[list[Subject], list[str], list[str]]:
    subjects: list[Subject] = []
    places: list[str] = []
    people: list[str] = []
    for subject in children(content_meta, "subject"):
        name = _name(subject)
        if not name:
            continue
        kind = (attr(subject, "type") or "").lower()
        if kind in _GEO_SUBJECT_TYPES:
            places.append(name)
        elif kind in _PERSON_SUBJECT_TYPES:
            people.append(name)
        else:
            qcode = attr(subject, "qcode")
            scheme = qcode.partition(":")[0] if qcode and ":" in qcode else None
            subjects.append(Subject(name=name, code=qcode, scheme=scheme))
    return subjects, places, people


def _body(news_item: etree._Element) -> tuple[list[str], list[Caption], etree._Element | None]:
    """Paragraphs and captions of the first text rendition; also the NITF root when the body is NITF."""
    content_set = child(news_item, "contentSet")
    for inline in children(content_set, "inlineXML"):
        nitf = descendant(inline, "nitf")
        if nitf is not None:
            paragraphs, captions = body_parts(child(nitf, "body"))
            return paragraphs, list(captions), nitf
        body = descendant(inline, "body")
        paragraphs = xml_paragraphs(body if body is not None else inline, skip=_XHTML_FURNITURE)
        if paragraphs:
            return paragraphs, [], None
    for inline in children(content_set, "inlineData"):
        data = inline.text or ""
        content_type = (attr(inline, "contenttype") or "").lower()
        if "html" in content_type or looks_like_html(data):
            paragraphs = html_paragraphs(data)
        else:
            paragraphs = split_blocks(data)
        if paragraphs:
            return paragraphs, [], None
    return [], [], None


def _nitf_byline(
    nitf_head: etree._Element | None, body_byline: str | None, creators: list[str]
) -> str | None:
    """The NITF byline, unless it is a placeholder ("By Staff Reporter") and the body names the writer."""
    head = byline_text(nitf_head)
    if body_byline and (head is None or "staff" in head.lower()):
        return body_byline
    return head or (", ".join(creators) or None)


def _item(news_item: etree._Element, index: int) -> ParsedItem:
    item_meta = child(news_item, "itemMeta")
    content_meta = child(news_item, "contentMeta")
    rights = child(news_item, "rightsInfo")
    paragraphs, captions, nitf = _body(news_item)
    nitf_head = child(child(nitf, "body"), "body.head") if nitf is not None else None
    if not paragraphs:
        for description in children(content_meta, "description"):
            paragraphs = (
                xml_paragraphs(description) if len(description) else split_blocks(description.text or "")
            )
            if paragraphs:
                break
    headline = (
        _headline(content_meta)
        or text_of(child(child(nitf_head, "hedline"), "hl1"))
        or text_of(child(child(nitf, "head"), "title"))
        or text_of(child(item_meta, "title"))
    )
    paragraphs = [_ESCAPED_DASH_MARKUP.sub("", p) if "dash" in p else p for p in paragraphs]
    body_byline, paragraphs = byline_paragraph(paragraphs) if nitf is not None else (None, paragraphs)
    subjects, places, people = _subjects(content_meta)
    located = child(content_meta, "located")
    located_name = _name(located)
    dateline = text_of(child(content_meta, "dateline"))
    dateline_timestamp = dateline if dateline and _TIMESTAMP_DATELINE.match(dateline) else None
    if dateline_timestamp:
        dateline = None
    dateline = dateline or dateline_text(nitf_head)
    by = text_of(child(content_meta, "by"))
    creators = [n for c in children(content_meta, "creator") if (n := _name(c))]
    language = attr(child(content_meta, "language"), "tag") or lang_of(news_item)
    urgency = text_of(child(content_meta, "urgency"))
    genre_or_service = _name(child(item_meta, "service")) or _name(child(content_meta, "genre"))
    keywords = [k for e in children(content_meta, "keyword") if (k := text_of(e))]
    pubstatus = attr(child(item_meta, "pubStatus"), "qcode")
    return ParsedItem(
        format=WireFormat.NEWSML_G2,
        item_index=index,
        item_id=attr(news_item, "guid"),
        version=attr(news_item, "version"),
        source=_source(item_meta, content_meta, rights),
        pubstatus=pubstatus,
        headline=" ".join(headline.split()) if headline else None,
        body_paragraphs=tuple(paragraphs),
        byline=" ".join(by.split()) if by else _nitf_byline(nitf_head, body_byline, creators),
        dateline=" ".join(dateline.split()) if dateline else None,
        located=located_name,
        firstcreated=text_of(child(item_meta, "firstCreated"))
        or text_of(child(content_meta, "contentCreated"))
        or dateline_timestamp,
        versioncreated=text_of(child(item_meta, "versionCreated")),
        language=language,
        section=genre_or_service,
        urgency=int(urgency) if urgency and urgency.strip().isdigit() else None,
        subjects=tuple(subjects),
        keywords=tuple(" ".join(k.split()) for k in keywords),
        captions=tuple(captions),
        source_places=tuple(places + ([located_name] if located_name else [])),
        source_people=tuple(people),
    )
