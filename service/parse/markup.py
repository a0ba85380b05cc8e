"""Markup to paragraphs: HTML fragments (feeds, ninjs body_html) and XHTML/XML bodies (G2, NITF)."""

from __future__ import annotations

import re

from lxml import etree
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from ..errors import ParseError, ReasonCode
from ..text import split_blocks
from .xml_safety import local

BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "li",
        "blockquote",
        "pre",
        "td",
        "th",
        "dd",
        "dt",
        "section",
        "article",
        "header",
        "footer",
        "figure",
        "figcaption",
        "caption",
        "tr",
        "hl1",
        "hl2",
        "block",
        "nitf-table",
        "table",
        "ul",
        "ol",
        "dl",
        "body",
        "html",
        "br",
        "hr",
    }
)
_SKIP_TAGS = frozenset(
    {"script", "style", "noscript", "iframe", "object", "embed", "svg", "template", "head"}
)
_HTML_SKIP = re.compile(r"<(script|style|noscript|template|svg)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_HTML_BLOCK = re.compile(
    r"<\s*/?\s*(?:p|div|h[1-6]|li|ul|ol|blockquote|pre|tr|table|section|article|header|footer|figure|"
    r"figcaption|dd|dt|dl)\b[^>]*>|<\s*br\s*/?\s*>|<\s*hr\b[^>]*>",
    re.IGNORECASE,
)
_LOOKS_HTML = re.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?\s*>")


# Lexbor's tree building slows with the square of the nesting depth of block elements
# (200,000 nested divs: about a minute). Real article pages have a few thousand tags.
MAX_HTML_TAGS = 50_000


def parse_html(text: str) -> HTMLParser:
    """Lexbor's tree of an HTML document or fragment, refusing pathological markup first."""
    if text.count("<") > MAX_HTML_TAGS:
        raise ParseError(
            ReasonCode.TOO_COMPLEX, f"HTML with more than {MAX_HTML_TAGS} tags is not an article page"
        )
    return HTMLParser(text)


def looks_like_html(text: str) -> bool:
    """True when a string carries tags (RSS descriptions may be plain text or HTML)."""
    return "<" in text and _LOOKS_HTML.search(text) is not None


def html_paragraphs(fragment: str) -> list[str]:
    """Paragraph texts of an HTML fragment: scripts and styles dropped, entities decoded."""
    if not looks_like_html(fragment):
        return split_blocks(fragment)
    marked = _HTML_BLOCK.sub("\n\n", _HTML_SKIP.sub(" ", fragment))
    tree = parse_html(marked)
    root = tree.body or tree.root
    text = root.text(deep=True, separator="") if root is not None else ""
    return split_blocks(text)


def xml_paragraphs(container: etree._Element, skip: frozenset[str] = frozenset()) -> list[str]:
    """Paragraphs of an XML/XHTML body: one per innermost block element, loose text split on blank lines.

    Elements named in `skip` (e.g. NITF <media>) are left out with their content.
    """
    out: list[str] = []
    _walk(container, out, _SKIP_TAGS | skip)
    return [p for p in (s.strip() for s in out) if p]


def _has_block_child(element: etree._Element) -> bool:
    return any(local(child.tag) in BLOCK_TAGS for child in element)


def _walk(element: etree._Element, out: list[str], skip: frozenset[str]) -> None:
    if not len(element):  # a leaf (most <p>): its text is all there is
        if element.text and local(element.tag) not in skip:
            out.extend(split_blocks(element.text))
        return
    if not _has_block_child(element):
        out.extend(split_blocks("".join(_inline_text(element, skip))))
        return
    if element.text and element.text.strip():
        out.extend(split_blocks(element.text))
    for child in element:
        name = local(child.tag)
        if name in skip or name == "":
            pass
        elif name in BLOCK_TAGS:
            _walk(child, out, skip)
        else:
            out.extend(split_blocks("".join(_inline_text(child, skip))))
        if child.tail and child.tail.strip():
            out.extend(split_blocks(child.tail))


def _inline_text(element: etree._Element, skip: frozenset[str]) -> list[str]:
    parts: list[str] = []
    if local(element.tag) in skip:
        return parts
    if element.text:
        parts.append(element.text)
    for child in element:
        name = local(child.tag)
        if name == "br":
            parts.append("\n\n")
        elif name and name not in skip:
            parts.extend(_inline_text(child, skip))
        if child.tail:
            parts.append(child.tail)
    return parts
