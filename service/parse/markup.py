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
# Every scan below is linear in the fragment: a pattern that rescans the rest of the text from
# each candidate start (".*?" to a closing tag that never comes, "[^>]*" with no ">" left, two
# "\s*" around an optional "/") turns 128 KB of "<script>" into seconds of event-loop time.
_SKIPPED = ("script", "style", "noscript", "template", "svg")
_SKIP_OPEN = re.compile(r"<(" + "|".join(_SKIPPED) + r")\b", re.IGNORECASE)
_SKIP_CLOSE = {name: re.compile(rf"</{name}\s*+>", re.IGNORECASE) for name in _SKIPPED}
_HTML_BLOCK = re.compile(
    r"<\s*+/?\s*+(?:p|div|h[1-6]|li|ul|ol|blockquote|pre|tr|table|section|article|header|footer|figure|"
    r"figcaption|dd|dt|dl)\b[^>]*+>|<\s*+br\s*+/?\s*+>|<\s*+hr\b[^>]*+>",
    re.IGNORECASE,
)
# "<", optional "/", a tag name, then ">" directly, after "/" or after whitespace and attributes.
_LOOKS_HTML = re.compile(r"<\s*+/?\s*+[A-Za-z][A-Za-z0-9]*+(?:\s[^<>]*+|/\s*+)?>")


# Lexbor's tree building slows with the square of the nesting depth of block elements
# (200,000 nested divs: about a minute; 40,000: 38 s on a busy core), and every block's
# text holds its nested blocks' texts. Real article pages have a few thousand tags and
# nest containers a few dozen deep; the depth is estimated from the tags before any tree exists.
MAX_HTML_TAGS = 50_000
MAX_HTML_DEPTH = 500
# Containers that nest in the tree builder (a <p>, <li> or heading start tag closes an open one).
_CONTAINER = re.compile(
    r"<(/?)(?:div|section|article|aside|nav|main|header|footer|blockquote|figure|figcaption|pre|ul|ol|dl|"
    r"table|form|fieldset|details|summary|dialog|address|center|menu|dir|listing|hgroup|object)\b",
    re.IGNORECASE,
)


def check_tag_count(text: str) -> None:
    """TOO_COMPLEX for markup with more tags than any article page has (one C pass, before any regex)."""
    if text.count("<") > MAX_HTML_TAGS:
        raise ParseError(
            ReasonCode.TOO_COMPLEX, f"HTML with more than {MAX_HTML_TAGS} tags is not an article page"
        )


def check_nesting(text: str) -> None:
    """TOO_COMPLEX when containers open more than MAX_HTML_DEPTH deep (opening minus closing tags).

    An upper bound of the tree's depth: the tree builder also closes elements implicitly.
    """
    # Each level opens with a "<": markup with no more of them than the limit cannot pass it, and
    # counting them is one C pass where the tag scan costs ~20 µs on a 3 KB article page.
    if text.count("<") <= MAX_HTML_DEPTH:
        return
    depth = 0
    for tag in _CONTAINER.finditer(text):
        if tag.group(1):
            depth = max(depth - 1, 0)
            continue
        depth += 1
        if depth > MAX_HTML_DEPTH:
            raise ParseError(
                ReasonCode.TOO_COMPLEX,
                f"HTML containers nested over {MAX_HTML_DEPTH} deep: not an article",
            )


def parse_html(text: str) -> HTMLParser:
    """Lexbor's tree of an HTML document or fragment, refusing pathological markup first."""
    check_tag_count(text)
    check_nesting(text)
    return HTMLParser(text)


def looks_like_html(text: str) -> bool:
    """True when a string carries tags (RSS descriptions may be plain text or HTML)."""
    return "<" in text and _LOOKS_HTML.search(text) is not None


def drop_skipped(fragment: str) -> str:
    r"""Each <script>, <style>, <noscript>, <template> and <svg> up to its closing tag becomes one space.

    What `re.sub(r"<(script|...)\b.*?</\1\s*>", " ", fragment, flags=IGNORECASE | DOTALL)` gives,
    but an element found unclosed once is never searched for again: no closing tag after one
    opening tag means none after a later one either, so each character is scanned a bounded
    number of times.
    """
    parts: list[str] = []
    kept_from = 0
    position = 0
    unclosed: set[str] = set()
    while len(unclosed) < len(_SKIPPED) and (opening := _SKIP_OPEN.search(fragment, position)):
        name = opening.group(1).lower()
        closing = None if name in unclosed else _SKIP_CLOSE[name].search(fragment, opening.end())
        if closing is None:
            unclosed.add(name)
            position = opening.end()
            continue
        parts += (fragment[kept_from : opening.start()], " ")
        kept_from = position = closing.end()
    if not parts:
        return fragment
    parts.append(fragment[kept_from:])
    return "".join(parts)


def mark_blocks(fragment: str) -> str:
    """Block-level tags (and <br>, <hr>) replaced by a blank line, so their texts stay paragraphs."""
    # Every alternative ends in ">": past the last one nothing matches, and before it each
    # "[^>]*" stops at a ">" that ends its match, so no stretch of text is scanned twice.
    end = fragment.rfind(">") + 1
    return _HTML_BLOCK.sub("\n\n", fragment[:end]) + fragment[end:]


def html_paragraphs(fragment: str) -> list[str]:
    """Paragraph texts of an HTML fragment: scripts and styles dropped, entities decoded."""
    if not looks_like_html(fragment):
        return split_blocks(fragment)
    check_tag_count(fragment)
    tree = parse_html(mark_blocks(drop_skipped(fragment)))
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
            if len(child):
                _walk(child, out, skip)
            elif child.text:  # a leaf block (most <p>): what _walk would do, without the call
                out.extend(split_blocks(child.text))
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
