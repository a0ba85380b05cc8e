"""Agency formats beyond ninjs/G2/NITF: detection from the bytes, decoding, and refusals with their reason."""

from __future__ import annotations

import pytest

from service.errors import ParseError, ReasonCode
from service.models import WireFormat
from service.parse import parse
from service.parse.decoding import decode

ANPA = (
    b"\x16\x16\x01W0007\x1fdesk\r\n"
    b"b a\x13\x11 BC-US--Bridge-Closure     05-02 0040\r\n"
    b"\x02^BC-US--Bridge Closure,40<\r\n"
    b"^Bridge closed after barge strike<\r\n"
    b"\t   DULUTH, Minn. (AP) _ A barge struck the lift bridge on Tuesday.\r\n"
    b"\x03AP-WF-05-02-23 1700GMT<\r\n\x04"
)
IPTC7901 = (
    b"\x01abc0001 4 i 40  xyz 0001\r\n\r\nPort/strike/\r\n\x02Port workers strike =\r\n\r\n"
    b"Hamburg (xyz) - Port workers walked out.\r\n\x03021700 GMT Mai 23\r\n\x04"
)


def _one(raw: bytes) -> tuple[WireFormat, str | None, tuple[str, ...]]:
    items = parse(raw)
    assert len(items) == 1
    return items[0].format, items[0].headline, items[0].body_paragraphs


def test_anpa_is_detected_from_its_framing() -> None:
    """SYN SYN SOH + selector and sequence opens an ANPA-1312 story: headline from the '^' lines."""
    fmt, headline, body = _one(ANPA)
    assert fmt is WireFormat.ANPA_1312
    assert headline == "Bridge closed after barge strike"
    assert body == ("DULUTH, Minn. (AP) _ A barge struck the lift bridge on Tuesday.",)


def test_iptc7901_is_detected_and_reads_a_german_month() -> None:
    """SOH + "service number priority category words" opens IPTC 7901; 'Mai' is May in the trailer."""
    items = parse(IPTC7901)
    assert items[0].format is WireFormat.IPTC_7901
    assert items[0].headline == "Port workers strike"
    assert items[0].dateline == "Hamburg (xyz)"
    assert items[0].body_paragraphs == ("Port workers walked out.",)
    assert items[0].firstcreated == "2023-05-02T17:00:00Z"


def test_a_multi_story_transmission_gives_one_item_per_story() -> None:
    """Two ANPA stories back to back in one record are two items, numbered in order."""
    items = parse(ANPA + ANPA.replace(b"Bridge closed", b"Bridge reopened"))
    assert [i.headline for i in items] == [
        "Bridge closed after barge strike",
        "Bridge reopened after barge strike",
    ]
    assert [i.item_index for i in items] == [0, 1]


def test_other_control_framing_is_unsupported() -> None:
    """Control characters that are neither ANPA nor IPTC 7901 framing stay unsupported_format."""
    with pytest.raises(ParseError) as info:
        parse(b"\x01hello world, not a wire header\r\n\x02text\x03")
    assert info.value.reason is ReasonCode.UNSUPPORTED_FORMAT


def test_utf8_bytes_under_a_latin1_declaration_decode_as_utf8() -> None:
    """A declared ISO-8859-1 that the bytes contradict (valid UTF-8 accents) does not garble the text."""
    raw = '<?xml version="1.0" encoding="iso-8859-1"?><a>Décès à Zürich</a>'.encode()
    assert "Décès à Zürich" in decode(raw)
    latin1 = '<?xml version="1.0" encoding="iso-8859-1"?><a>Décès</a>'.encode("latin-1")
    assert "Décès" in decode(latin1)


def test_newsml1_without_text_is_a_non_text_item() -> None:
    """A NewsML 1 item whose only ContentItem is a photo is refused as non_text_item, not unsupported."""
    raw = (
        b"<NewsML><NewsItem><NewsComponent><NewsLines><HeadLine>A photo</HeadLine></NewsLines>"
        b'<ContentItem Href="a.jpg"><MediaType FormalName="Photo"/></ContentItem>'
        b"</NewsComponent></NewsItem></NewsML>"
    )
    with pytest.raises(ParseError) as info:
        parse(raw)
    assert info.value.reason is ReasonCode.NON_TEXT_ITEM


G2_NS = b'xmlns="http://iptc.org/std/nar/2006-10-01/"'


def _reason(raw: bytes) -> ReasonCode:
    with pytest.raises(ParseError) as info:
        parse(raw)
    return info.value.reason


def test_g2_package_is_not_an_article() -> None:
    """A packageItem only references other items: not_an_article, never unsupported_format."""
    raw = b"<packageItem " + G2_NS + b' guid="p" version="1"><groupSet><group><itemRef residref="a"/>'
    raw += b"</group></groupSet></packageItem>"
    assert _reason(raw) is ReasonCode.NOT_AN_ARTICLE


def test_g2_and_ninjs_pictures_are_refused_the_same_way() -> None:
    """A picture is non_text_item in NewsML-G2 and in ninjs alike, not a text article nor empty_item."""
    g2 = b"<newsItem " + G2_NS + b' guid="g" version="1"><itemMeta><itemClass qcode="ninat:picture"/>'
    g2 += b"</itemMeta><contentMeta><headline>Harbour at dawn</headline></contentMeta></newsItem>"
    ninjs = b'{"uri": "u1", "type": "picture", "headline": "Harbour at dawn", "body_text": "A caption"}'
    assert _reason(g2) is ReasonCode.NON_TEXT_ITEM
    assert _reason(ninjs) is ReasonCode.NON_TEXT_ITEM


def _g2_nitf(title: bytes, body_head: bytes, content: bytes) -> bytes:
    """A G2 newsItem without a contentMeta headline whose body is an inline NITF document."""
    return (
        b"<newsItem " + G2_NS + b' guid="g" version="1"><contentSet><inlineXML><nitf>'
        b"<head><title>" + title + b"</title></head><body><body.head>" + body_head + b"</body.head>"
        b"<body.content>" + content + b"</body.content></body></nitf></inlineXML></contentSet></newsItem>"
    )


def test_g2_with_nitf_body_takes_the_nitf_title_as_headline() -> None:
    """No contentMeta headline: the inner NITF head/title is the headline, not the first body line."""
    raw = _g2_nitf(
        b"Receivers name acting chief", b"", b"<p>The receivers named an acting chief on Tuesday.</p>"
    )
    assert parse(raw)[0].headline == "Receivers name acting chief"


def test_g2_escaped_dash_markup_keeps_the_dash() -> None:
    """STT's escaped <endash>-</endash> inside text becomes the dash alone ("35-40")."""
    raw = (
        b"<newsItem " + G2_NS + b' guid="g" version="1"><contentMeta><headline>H</headline></contentMeta>'
        b"<contentSet><inlineXML><html><body><p>Between 35&lt;endash&gt;-&lt;/endash&gt;40 per cent.</p>"
        b"</body></html></inlineXML></contentSet></newsItem>"
    )
    assert parse(raw)[0].body_paragraphs == ("Between 35-40 per cent.",)


def test_g2_timestamp_dateline_is_a_date_not_a_place() -> None:
    """A <dateline> holding "2014-07-16 13:00:03 GMT+00:00" is no dateline; it dates the item."""
    raw = (
        b"<newsItem " + G2_NS + b' guid="g" version="1"><contentMeta><headline>H</headline>'
        b"<dateline>2014-07-16 13:00:03 GMT+00:00</dateline></contentMeta></newsItem>"
    )
    item = parse(raw)[0]
    assert item.dateline is None
    assert item.firstcreated == "2014-07-16 13:00:03 GMT+00:00"


def test_api_wrappers_give_their_items() -> None:
    """BBC-style {"item": [...]} gives each ninjs item; AP Media data.item takes altids.itemid as its ID."""
    bbc = b'{"total": 2, "item": [{"uri": "a", "headline": "One", "body_text": "x"},'
    bbc += b' {"uri": "b", "type": "picture", "headline": "Photo"},'
    bbc += b' {"uri": "c", "headline": "Two", "body_text": "y"}]}'
    assert [(i.item_id, i.headline) for i in parse(bbc)] == [("a", "One"), ("c", "Two")]
    ap = b'{"api_version": "2", "data": {"item": {"uri": "https://x/y?qt=1", "altids": {"itemid": "abc"},'
    ap += b' "type": "text", "headline": "Three", "body_html": "<p>z</p>"}}}'
    assert [(i.item_id, i.headline, i.body_paragraphs) for i in parse(ap)] == [("abc", "Three", ("z",))]


def test_a_wrapper_with_only_rendition_links_is_links_only() -> None:
    """An AP Media API text item that only links to its NITF/ANPA renditions is refused as links_only."""
    raw = b'{"api_version": "2", "data": {"item": {"altids": {"itemid": "abc"}, "type": "text",'
    raw += b' "headline": "BC-Slug", "renditions": {"nitf": {"href": "https://x/nitf"}}}}}'
    assert _reason(raw) is ReasonCode.LINKS_ONLY


def test_json_with_invalid_utf8_is_invalid_encoding() -> None:
    """JSON must be UTF-8: bad bytes dead-letter as invalid_encoding instead of a guessed code page."""
    assert _reason(b'{"uri": "a", "headline": "Caf\x80\x80 opens"}') is ReasonCode.INVALID_ENCODING


WXR = (
    b'<rss version="2.0" xmlns:wp="http://wordpress.org/export/1.2/"><channel><title>Blog</title>'
    b"<item><title>logo.png</title><wp:post_type>attachment</wp:post_type></item>"
    b"%s</channel></rss>"
)


def test_wordpress_attachments_are_not_articles() -> None:
    """A WXR attachment item is skipped; an export of attachments only is not_an_article."""
    post = b"<item><title>Council approves budget</title><description>It passed.</description>"
    post += b"<wp:post_type>post</wp:post_type></item>"
    assert [i.headline for i in parse(WXR % post)] == ["Council approves budget"]
    assert _reason(WXR % b"") is ReasonCode.NOT_AN_ARTICLE


def test_a_byline_typed_as_the_first_paragraph_moves_to_the_byline() -> None:
    """NITF inside G2 (Scoop): "By Jonathan Underhill" opening the body replaces a "Staff Reporter" byline."""
    raw = _g2_nitf(
        b"T",
        b"<byline>By<person>Staff Reporter</person></byline>",
        b"<p>By Jonathan Underhill</p><p>The receivers acted.</p>",
    )
    item = parse(raw)[0]
    assert item.byline == "By Jonathan Underhill"
    assert item.body_paragraphs == ("The receivers acted.",)
