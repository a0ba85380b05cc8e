"""Scans stay linear on hostile input: each attack of `SCAN_ATTACKS` at 2 MB ends with the right result.

Before issue 11 these records took minutes to hours (quadratic, cubic or exponential scans on
the event loop), so a regression shows here as a test that hangs; elapsed time is never
asserted (tools/bench_scans.py prints the time per doubling). The rewritten scans are also
compared with the regexes they replaced on short random inputs, where those are fast.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.errors import ParseError, ReasonCode
from service.models import ParsedItem, RecordMeta
from service.normalize import normalize
from service.parse import parse
from service.parse.markup import MAX_HTML_DEPTH, drop_skipped, looks_like_html, mark_blocks
from service.parse.page_rules import _CREDIT_END, _credit_at_end
from service.parse.places import _IN_PLACE, find_place
from service.parse.xml_safety import MAX_ITEMS, declares_dtd
from tests.faults.hostile import SCAN_ATTACKS

BIG = 2_000_000
RECORD = RecordMeta(topic="wire.raw", partition=0, offset=0, timestamp=datetime(2024, 5, 1, tzinfo=UTC))


def reason_of(raw: bytes) -> ReasonCode:
    with pytest.raises(ParseError) as caught:
        parse(raw)
    return caught.value.reason


def one_item(raw: bytes) -> ParsedItem:
    items = parse(raw)
    assert len(items) == 1
    return items[0]


# ---------------------------------------------------------------- the attacks at 2 MB

REFUSED = {
    # More than MAX_HTML_TAGS tags: refused by the tag count, before any regex sees them.
    "unclosed_script": ReasonCode.TOO_COMPLEX,
    "unclosed_block_tag": ReasonCode.TOO_COMPLEX,
    # Not well-formed XML, once the DTD scan has found no internal subset.
    "repeated_doctype": ReasonCode.MALFORMED_XML,
    "unclosed_comment": ReasonCode.MALFORMED_XML,
    # Nested deeper than MAX_HTML_DEPTH, refused before lexbor builds the tree.
    "nested_blocks": ReasonCode.TOO_COMPLEX,
    # More than MAX_ITEMS items.
    "many_items": ReasonCode.TOO_COMPLEX,
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_attacks_end_with_their_reason(name: str) -> None:
    """A 2 MB attack that no parser should accept ends with its reason code."""
    assert reason_of(SCAN_ATTACKS[name](BIG)) == REFUSED[name]


def test_sets_of_attacks_are_complete() -> None:
    """Every attack has a result test here (a new one must get its own)."""
    parsed = {
        "tag_whitespace",
        "attribute_whitespace",
        "hyphenated_place",
        "many_entities",
        "parenthesised_credits",
    }
    assert set(SCAN_ATTACKS) == set(REFUSED) | parsed


def test_lone_angle_bracket_before_whitespace_keeps_the_text() -> None:
    """'<' and 2 MB of spaces (once cubic): the paragraph and the stray '<' survive."""
    item = one_item(SCAN_ATTACKS["tag_whitespace"](BIG))
    assert item.body_paragraphs == ("Lead paragraph.", "<")


def test_unfinished_tag_in_plain_text_is_text() -> None:
    """'<a' and 2 MB of spaces (once quadratic in the HTML sniffing) is plain text."""
    item = one_item(SCAN_ATTACKS["attribute_whitespace"](BIG))
    assert item.body_paragraphs == ("Lead paragraph. <a",)


def test_hyphen_run_after_in_is_no_place() -> None:
    """'in A-A-A-...' with no country (once exponential) is a page without a dateline."""
    item = one_item(SCAN_ATTACKS["hyphenated_place"](BIG))
    assert item.headline == "Leaders open the summit"
    assert item.dateline is None
    assert item.body_paragraphs[0].startswith("Leaders met in A-A-A-")
    hyphens = "A-" * (BIG // 2)
    assert find_place(f"Leaders met in {hyphens} on Friday.") is None
    assert find_place(f"Leaders met in {hyphens}A, France on Friday.") == f"{hyphens}A, France"


def test_credit_after_many_parentheses_is_found() -> None:
    """2 MB of '(photo by ///...' ending in ')': the last group is the credit, the rest the caption."""
    item = one_item(SCAN_ATTACKS["parenthesised_credits"](BIG))
    assert item.body_paragraphs == ()
    assert len(item.captions) == 1
    caption = item.captions[0]
    assert caption.credit == "photo by " + "/" * 50
    assert caption.text.startswith("The summit opened on Friday. (photo by /")
    assert caption.text.endswith("/")


def test_many_entities_are_decoded() -> None:
    """2 MB of named entities in NITF become their characters."""
    item = one_item(SCAN_ATTACKS["many_entities"](BIG))
    assert item.headline == "Café"
    assert item.body_paragraphs[0][:6] == "é&é&é&"
    assert set(item.body_paragraphs[0]) == {"é", "&"}


# ---------------------------------------------------------------- past the cheap checks
# The same shapes, spread out so that the tag count lets them through to the scans.


def ninjs(body_html: str) -> bytes:
    return orjson.dumps({"uri": "urn:scan", "headline": "Scan", "body_html": body_html})


def test_unclosed_scripts_under_the_tag_limit_are_scanned_once() -> None:
    """40,000 unclosed '<script>' 50 bytes apart: the closed one before them is dropped, the rest is text."""
    filler = "x" * 42
    body = "<p>Lead.</p><script>var a = 1;</script><p>Second.</p>" + f"<script>{filler}" * 40_000
    paragraphs = one_item(ninjs(body)).body_paragraphs
    assert paragraphs[:2] == ("Lead.", "Second.")
    assert "var a" not in "".join(paragraphs)
    assert paragraphs[2].count("<script>") == 40_000 - 1  # lexbor keeps the first as the element


def test_unclosed_block_tags_under_the_tag_limit() -> None:
    """40,000 '<p ' without '>', 50 bytes apart, after two real paragraphs."""
    body = "<p>Lead.</p><p>Second.</p>" + ("<p " + "x" * 47) * 40_000
    assert one_item(ninjs(body)).body_paragraphs == ("Lead.", "Second.")


def test_doctype_scan_reaches_a_late_internal_subset() -> None:
    """2 MB of '<!DOCTYPE ' then '[': the internal subset is still found (FORBIDDEN_XML)."""
    raw = SCAN_ATTACKS["repeated_doctype"](BIG) + b"[ <!-- -->"
    assert reason_of(raw) == ReasonCode.FORBIDDEN_XML


def test_nesting_at_the_depth_limit_is_parsed() -> None:
    """Containers nested exactly MAX_HTML_DEPTH deep (and closed) are still an article."""
    nested = (
        "<div>" * (MAX_HTML_DEPTH - 1) + "<p>Deep paragraph of the story.</p>" + "</div>" * MAX_HTML_DEPTH
    )
    page = f"<html><body><article><h1>Deep page headline</h1>{nested}</article></body></html>"
    item = one_item(page.encode())
    assert item.body_paragraphs == ("Deep paragraph of the story.",)


def test_nested_blocks_under_the_depth_limit_exhaust_the_text_budget() -> None:
    """Groups of 499 nested blockquotes with a word each repeat their text ~250x: TOO_COMPLEX."""
    group = "<blockquote>word " * 499 + "</blockquote>" * 499
    page = f"<html><body><article><h1>Quoted page headline</h1>{group * 40}</article></body></html>"
    assert reason_of(page.encode()) == ReasonCode.TOO_COMPLEX


def test_a_thousand_item_feed_gives_every_item() -> None:
    """A 1,000-item RSS feed: every item, in order, each normalizable."""
    items = "".join(
        f"<item><title>Story number {i} of the day</title><guid>g-{i}</guid>"
        f"<description><![CDATA[<p>Paragraph one of story {i}.</p><p>Paragraph two.</p>]]></description>"
        "</item>"
        for i in range(1000)
    )
    raw = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>{items}</channel></rss>'
    parsed = parse(raw.encode())
    assert [item.item_id for item in parsed] == [f"g-{i}" for i in range(1000)]
    assert parsed[999].body_paragraphs == ("Paragraph one of story 999.", "Paragraph two.")
    assert normalize(parsed[999], RECORD, raw_sha256="0" * 64).headline == "Story number 999 of the day"


def test_item_limit_is_inclusive() -> None:
    """MAX_ITEMS items are accepted, one more is TOO_COMPLEX."""
    head = '<?xml version="1.0"?><rss><channel><title>Wire</title>'
    item = "<item><title>t</title></item>"
    assert len(parse((head + item * MAX_ITEMS + "</channel></rss>").encode())) == MAX_ITEMS
    assert reason_of((head + item * (MAX_ITEMS + 1) + "</channel></rss>").encode()) == ReasonCode.TOO_COMPLEX


# ---------------------------------------------------------------- same answers as the old regexes

OLD_SKIP = re.compile(r"<(script|style|noscript|template|svg)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
OLD_BLOCK = re.compile(
    r"<\s*/?\s*(?:p|div|h[1-6]|li|ul|ol|blockquote|pre|tr|table|section|article|header|footer|figure|"
    r"figcaption|dd|dt|dl)\b[^>]*>|<\s*br\s*/?\s*>|<\s*hr\b[^>]*>",
    re.IGNORECASE,
)
OLD_LOOKS_HTML = re.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?\s*>")
OLD_FORBIDDEN = re.compile(r"<!DOCTYPE[^>\[]*\[|<!ENTITY|<!ELEMENT|<!ATTLIST", re.IGNORECASE)
OLD_IN_PLACE = re.compile(
    r"\bin (?P<city>[A-Z][\w'’.-]+(?:[ -][A-Z][\w'’.-]+){0,3}), "
    r"(?P<country>[A-Z][\w'’.-]+(?: [A-Z][\w'’.-]+){0,3})"
)

MARKUP_PIECES = [
    "<", ">", "/", " ", "\n", "x", "A", "<script>", "</script>", "</SCRIPT >", "<style", "</style>",
    "<svg/>", "</svg>", "<p>", "<p ", "</p>", "<div class='a'>", "<br/>", "< br / >", "<hr>", "<h2>",
    "<pre>", "<b>", "</b>", "<a href=x>", "<noscript>", "</noscript>", "<template>", "</template>",
]  # fmt: skip
DTD_PIECES = [
    "<!DOCTYPE ",
    "<!doctype x",
    "[",
    "]",
    ">",
    "<!ENTITY",
    "<!ELEMENT",
    "<!attlist",
    "<!",
    " ",
    "a",
]
PLACE_PIECES = ["in ", "In ", "A", "a", "-", " ", ", ", ".", "'", "Paris", "France", "New", "York", "S"]
SMALL = settings(max_examples=300, deadline=None)


def pieces(alphabet: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(alphabet), max_size=40).map("".join)


@SMALL
@given(pieces(MARKUP_PIECES))
def test_drop_skipped_matches_the_old_regex(text: str) -> None:
    """drop_skipped gives what the lazy script/style regex gave."""
    assert drop_skipped(text) == OLD_SKIP.sub(" ", text)


@SMALL
@given(pieces(MARKUP_PIECES))
def test_mark_blocks_matches_the_old_regex(text: str) -> None:
    """mark_blocks gives what the block-tag regex gave."""
    assert mark_blocks(text) == OLD_BLOCK.sub("\n\n", text)


@SMALL
@given(pieces(MARKUP_PIECES))
def test_looks_like_html_matches_the_old_regex(text: str) -> None:
    """The possessive HTML sniffing pattern finds tags exactly where the old one did."""
    assert looks_like_html(text) == ("<" in text and OLD_LOOKS_HTML.search(text) is not None)


@SMALL
@given(pieces(DTD_PIECES))
def test_declares_dtd_matches_the_old_regex(text: str) -> None:
    """declares_dtd (str and bytes) refuses exactly what the old DTD regex refused."""
    expected = OLD_FORBIDDEN.search(text) is not None
    assert declares_dtd(text) == expected
    assert declares_dtd(text.encode()) == expected


@SMALL
@given(pieces(PLACE_PIECES))
def test_find_place_matches_the_old_regex(text: str) -> None:
    """The possessive 'in City, Country' pattern finds the same phrases as the backtracking one."""
    new = [m.group(0) for m in _IN_PLACE.finditer(text)]
    assert new == [m.group(0) for m in OLD_IN_PLACE.finditer(text)]


CAPTION_PIECES = ["(", ")", " ", "  ", "\t", ".", "/", "a", "Xinhua", "photo by ", "Photo: ", "x" * 30]


@SMALL
@given(pieces(CAPTION_PIECES))
def test_credit_search_matches_the_search_from_the_start(block: str) -> None:
    """Searching the credit from the last '(' finds what a search from the start found."""
    found = _credit_at_end(block)
    expected = _CREDIT_END.search(block) if block.rstrip().removesuffix(".").rstrip().endswith(")") else None
    assert (found and (found.span(), found.group("credit"))) == (
        expected and (expected.span(), expected.group("credit"))
    )
