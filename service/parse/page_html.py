"""Scraped article pages as HTML: metadata from <meta>/<time>, text from the article region.

The article region is <article>, else <main>, else <body>, with navigation,
headers, footers, asides, forms, scripts and elements whose class or id names
share bars, breadcrumbs, related lists, comments or ads removed. Captions come
from <figcaption> (credit from a nested credit element or the trailing
"(Agency/Photographer)"). The remaining blocks go through the same page rules
as plain-text pages. Only when that finds no paragraph is trafilatura asked
(it is slower, and generic).
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ..errors import ParseError, ReasonCode
from ..models import Caption, ParsedItem, WireFormat
from ..text import collapse_spaces
from . import page_rules
from .markup import parse_html

_REMOVE = "script, style, noscript, template, iframe, svg, nav, header, footer, aside, form, button, select"
_FURNITURE = re.compile(
    r"share|social|breadcrumb|related|recommend|comment|advert|\bads?\b|promo|newsletter|subscribe|"
    r"footer|navbar|\bnav\b|menu|cookie|popup|modal|toolbar|tags?\b|more-stories|most-read|sidebar",
    re.IGNORECASE,
)
_BLOCKS = "p, h2, h3, h4, h5, h6, li, blockquote, pre"
_CREDIT_SELECTOR = ".credit, .caption-credit, .photo-credit, [class*=credit]"


def _meta_index(tree: LexborHTMLParser) -> dict[str, str | None]:
    """The content of the first <meta> (document order) carrying each property/name/itemprop value.

    One pass instead of a `meta[property=x], meta[name=x], meta[itemprop=x]` query per name
    (values compare case-sensitively there too).
    """
    index: dict[str, str | None] = {}
    for node in tree.css("meta"):
        attributes = node.attributes
        for key in ("property", "name", "itemprop"):
            value = attributes.get(key)
            if value is not None and value not in index:
                index[value] = attributes.get("content")
    return index


def _meta(index: dict[str, str | None], *names: str) -> str | None:
    for name in names:
        content = index.get(name)
        if content and content.strip():
            return content.strip()
    return None


def _text(node: LexborNode | None) -> str | None:
    if node is None:
        return None
    text = collapse_spaces(node.text(deep=True, separator=" "))
    return text or None


class _TextBudget:
    """Characters of text the page's blocks and captions may add up to (a few times the page's size).

    A block's text holds the texts of the blocks nested in it, so nested blocks repeat text:
    n nested <blockquote>s hold n²/2 copies of a word. Article pages repeat a little (a quote's
    paragraphs, nested lists); past the budget the page is TOO_COMPLEX instead of quadratic.
    """

    FACTOR = 4

    def __init__(self, page: str) -> None:
        self.left = self.FACTOR * len(page)

    def text(self, node: LexborNode | None) -> str | None:
        text = _text(node)
        if text is not None:
            self.left -= len(text)
            if self.left < 0:
                raise ParseError(
                    ReasonCode.TOO_COMPLEX, f"page text over {self.FACTOR}x its size: blocks nested too deep"
                )
        return text


def _is_furniture(node: LexborNode) -> bool:
    attributes = node.attributes
    if not attributes:  # most paragraphs and spans: nothing to read
        return False
    marker = f"{attributes.get('class') or ''} {attributes.get('id') or ''} {attributes.get('role') or ''}"
    return bool(marker.strip()) and _FURNITURE.search(marker) is not None


def _captions(region: LexborNode, budget: _TextBudget) -> list[Caption]:
    captions: list[Caption] = []
    for figure in region.css("figcaption"):
        credit_node = figure.css_first(_CREDIT_SELECTOR)
        credit = budget.text(credit_node)
        if credit_node is not None:
            credit_node.decompose()
        text = budget.text(figure)
        if not text:
            continue
        found = page_rules.caption_of(text)
        if found is not None:
            text, credit = found[0], credit or found[1]
        captions.append(Caption(text=text, credit=credit.strip("() ") if credit else None))
    for figure in region.css("figure, figcaption, .caption, .wp-caption-text"):
        figure.decompose()
    return captions


def parse_html_page(text: str) -> list[ParsedItem]:
    """One item from an HTML article page."""
    tree = parse_html(text)
    html_node = tree.css_first("html")
    meta = _meta_index(tree)
    title = (
        _meta(meta, "og:title", "twitter:title", "headline")
        or _text(tree.css_first("h1"))
        or _text(tree.css_first("title"))
    )
    canonical = tree.css_first('link[rel="canonical"]')
    item_id = (canonical.attributes.get("href") if canonical is not None else None) or _meta(meta, "og:url")
    published = _meta(meta, "article:published_time", "datePublished", "pubdate", "date", "dc.date")
    modified = _meta(meta, "article:modified_time", "dateModified", "og:updated_time", "last-modified")
    time_node = tree.css_first("time[datetime]")
    if published is None and time_node is not None:
        published = time_node.attributes.get("datetime")
    for node in tree.css(_REMOVE):
        node.decompose()
    region = tree.css_first("article") or tree.css_first("main") or tree.css_first("[role=main]") or tree.body
    blocks: list[str] = []
    captions: list[Caption] = []
    h1_text: str | None = None
    if region is not None:
        for node in region.css("div, section, ul, ol, span, p"):
            if _is_furniture(node):
                node.decompose()
        budget = _TextBudget(text)
        captions = _captions(region, budget)
        h1_text = _text(region.css_first("h1"))
        blocks = [t for node in region.css(_BLOCKS) if (t := budget.text(node))]
    headline = h1_text or title
    parts = page_rules.apply(blocks, headline=headline, collapsed=True)  # budget.text collapses
    body = parts.body
    if not body:
        body = _trafilatura_paragraphs(text)
    lang = html_node.attributes.get("lang") if html_node is not None else None
    # The rest reads <meta> after the removals above, as a query at this point would.
    meta = _meta_index(tree)
    return [
        ParsedItem(
            format=WireFormat.HTML_PAGE,
            item_id=item_id,
            source=_meta(meta, "og:site_name", "publisher", "dc.publisher") or parts.source,
            headline=headline,
            body_paragraphs=tuple(body),
            byline=_meta(meta, "author", "article:author", "byl") or parts.byline,
            dateline=parts.dateline,
            firstcreated=published or parts.published or parts.caption_date,
            versioncreated=modified or parts.updated,
            page_dates=tuple(parts.page_dates),
            language=lang or _meta(meta, "og:locale", "language", "content-language"),
            section=_meta(meta, "article:section") or parts.section,
            keywords=tuple(
                k.strip() for k in (_meta(meta, "keywords", "news_keywords") or "").split(",") if k.strip()
            ),
            captions=tuple(captions) + tuple(Caption(text=t, credit=c) for t, c in parts.captions),
        )
    ]


def _trafilatura_paragraphs(html: str) -> list[str]:
    import trafilatura  # noqa: PLC0415 - slow to import, and needed only for pages our rules cannot read

    extracted = trafilatura.extract(html, include_comments=False, include_tables=False, favor_precision=True)
    return page_rules.apply([p for p in (extracted or "").split("\n") if p.strip()], headline="\x00").body
