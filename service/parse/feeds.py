"""RSS 2.0 (and RSS 1.0/RDF) and Atom feeds: each item/entry becomes its own ParsedItem.

The body is content:encoded (RSS) or content (Atom) when present, else the
description/summary; HTML in them (escaped or in CDATA) is reduced to
paragraphs. The source is the channel/feed title, or the feed author.
A bare Atom <entry> document is one item.
"""

from __future__ import annotations

from lxml import etree

from ..errors import ParseError, ReasonCode
from ..models import Caption, ParsedItem, Subject, WireFormat
from .markup import html_paragraphs, xml_paragraphs
from .page_rules import is_ui
from .xml_safety import (
    attr,
    check_item_count,
    child,
    children,
    descendants,
    lang_of,
    local,
    parse_xml,
    text_of,
)

_CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
_WP_NOT_ARTICLES = frozenset({"attachment", "nav_menu_item", "revision", "wp_block"})


def _clean(text: str | None) -> str | None:
    return " ".join(text.split()) if text and text.strip() else None


def _rich(element: etree._Element | None) -> list[str]:
    """Paragraphs of a text construct that may hold HTML (escaped/CDATA) or inline XHTML."""
    if element is None:
        return []
    if local(element.tag) in ("content", "summary") and (attr(element, "type") or "").lower() == "xhtml":
        paragraphs = xml_paragraphs(element)
    else:
        paragraphs = html_paragraphs("".join(str(t) for t in element.itertext()))
    # Feed descriptions often end in a share bar ("Share this") copied from the site.
    return [p for p in paragraphs if not is_ui(p)]


def _rich_line(element: etree._Element | None) -> str | None:
    paragraphs = _rich(element)
    return " ".join(paragraphs) if paragraphs else None


def parse_rss(text: str) -> list[ParsedItem]:
    """Every <item> of an RSS 2.0 or RSS 1.0 (RDF) feed."""
    root = parse_xml(text)
    if local(root.tag) not in ("rss", "RDF"):
        raise ParseError(ReasonCode.UNSUPPORTED_FORMAT, f"expected an RSS feed, found <{local(root.tag)}>")
    channel = child(root, "channel")
    source = _clean(text_of(child(channel, "title")))
    language = _clean(text_of(child(channel, "language"))) or lang_of(root)
    entries = check_item_count(descendants(root, "item"))
    # A WordPress export (WXR) lists media uploads as items too: an attachment is not an article.
    articles = [
        e for e in entries if (text_of(child(e, "post_type")) or "post").strip() not in _WP_NOT_ARTICLES
    ]
    if entries and not articles:
        raise ParseError(ReasonCode.NOT_AN_ARTICLE, "WordPress export holds only attachments")
    items = [_rss_item(item, index, source, language) for index, item in enumerate(articles)]
    if not items:
        raise ParseError(ReasonCode.EMPTY_ITEM, "RSS feed holds no item")
    return items


def _rss_item(item: etree._Element, index: int, source: str | None, language: str | None) -> ParsedItem:
    encoded = item.find(f"{{{_CONTENT_NS}}}encoded")
    body = _rich(encoded) or _rich(child(item, "description"))
    guid = _clean(text_of(child(item, "guid")))
    link = _clean(text_of(child(item, "link")))
    creators = [c for e in children(item, "creator") if (c := _clean(text_of(e)))]
    categories = [c for e in children(item, "category") if (c := _clean(text_of(e)))]
    captions = [
        Caption(text=caption, credit=_clean(text_of(child(content, "credit"))))
        for content in children(item, "content") + children(item, "thumbnail")
        if (caption := _rich_line(child(content, "description")))
    ]
    return ParsedItem(
        format=WireFormat.RSS,
        item_index=index,
        item_id=guid or link,
        source=_clean(text_of(child(item, "source"))) or source,
        headline=_rich_line(child(item, "title")),
        body_paragraphs=tuple(body),
        byline=", ".join(creators) or _clean(text_of(child(item, "author"))),
        versioncreated=_clean(text_of(child(item, "pubDate"))) or _clean(text_of(child(item, "date"))),
        language=_clean(text_of(child(item, "language"))) or language,
        keywords=tuple(categories),
        captions=tuple(captions),
    )


def parse_atom(text: str) -> list[ParsedItem]:
    """Every <entry> of an Atom feed, or the one entry of an entry document."""
    root = parse_xml(text)
    name = local(root.tag)
    if name == "entry":
        return [_atom_entry(root, 0, _author(root))]
    if name != "feed":
        raise ParseError(ReasonCode.UNSUPPORTED_FORMAT, f"expected an Atom feed, found <{name}>")
    source = _author(root) or _rich_line(child(root, "title"))
    entries = check_item_count(children(root, "entry"))
    items = [_atom_entry(entry, index, source) for index, entry in enumerate(entries)]
    if not items:
        raise ParseError(ReasonCode.EMPTY_ITEM, "Atom feed holds no entry")
    return items


def _author(element: etree._Element) -> str | None:
    names = [n for a in children(element, "author") if (n := _clean(text_of(child(a, "name"))))]
    return ", ".join(names) or None


def _atom_entry(entry: etree._Element, index: int, source: str | None) -> ParsedItem:
    body = _rich(child(entry, "content")) or _rich(child(entry, "summary"))
    entry_source = child(entry, "source")
    categories = children(entry, "category")
    link = next(
        (attr(e, "href") for e in children(entry, "link") if attr(e, "rel") in (None, "alternate")), None
    )
    return ParsedItem(
        format=WireFormat.ATOM,
        item_index=index,
        item_id=_clean(text_of(child(entry, "id"))) or link,
        source=(_rich_line(child(entry_source, "title")) if entry_source is not None else None) or source,
        headline=_rich_line(child(entry, "title")),
        body_paragraphs=tuple(body),
        byline=_author(entry),
        firstcreated=_clean(text_of(child(entry, "published"))),
        versioncreated=_clean(text_of(child(entry, "updated"))),
        language=lang_of(child(entry, "content")) or lang_of(entry),
        keywords=tuple(k for e in categories if (k := attr(e, "label") or attr(e, "term"))),
        subjects=tuple(
            Subject(name=name, code=attr(e, "term"), scheme=attr(e, "scheme"))
            for e in categories
            if (name := attr(e, "label")) and attr(e, "scheme")
        ),
    )
