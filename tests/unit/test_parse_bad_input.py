"""Bad input ends as a ParseError/NormalizeError with a stable reason code, never another exception."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service import ids
from service.errors import NormalizeError, ParseError, ReasonCode
from service.models import RecordMeta, WireFormat
from service.normalize import normalize
from service.parse import parse

RECORD = RecordMeta(topic="wire.raw", partition=0, offset=0)

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<newsItem><contentMeta><headline>&lol3;</headline></contentMeta></newsItem>"""

G2 = (
    b'<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="g" version="1"><itemMeta>'
    b"<versionCreated>2022-09-16T10:00:00Z</versionCreated></itemMeta><contentMeta>"
    b"<headline>Caf\xc3\xa9 headline</headline></contentMeta></newsItem>"
)


def reason_of(raw: bytes, **kwargs: object) -> ReasonCode:
    with pytest.raises(ParseError) as info:
        parse(raw, **kwargs)  # type: ignore[arg-type]
    return info.value.reason


def test_billion_laughs_is_forbidden() -> None:
    """An internal DTD with entity declarations is refused before any expansion."""
    assert reason_of(BILLION_LAUGHS) is ReasonCode.FORBIDDEN_XML


def test_billion_laughs_is_forbidden_when_format_forced() -> None:
    """The XML guard also holds when a source forces the format (detection skipped)."""
    assert reason_of(BILLION_LAUGHS, hint=WireFormat.NEWSML_G2) is ReasonCode.FORBIDDEN_XML


def test_xxe_file_entity_is_forbidden_and_never_read(tmp_path: Path) -> None:
    """An external entity pointing at a local file is refused and the file's content appears nowhere."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT-4711")
    raw = (
        f'<?xml version="1.0"?><!DOCTYPE nitf [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        "<nitf><body><body.head><hedline><hl1>&xxe;</hl1></hedline></body.head></body></nitf>"
    ).encode()
    with pytest.raises(ParseError) as info:
        parse(raw, hint=WireFormat.NITF)
    assert info.value.reason is ReasonCode.FORBIDDEN_XML
    assert "TOP-SECRET" not in str(info.value)


def test_xxe_in_utf16_is_forbidden(tmp_path: Path) -> None:
    """The entity check is not fooled by a UTF-16 encoding."""
    raw = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><rss/>'
    )
    assert reason_of(raw.encode("utf-16")) is ReasonCode.FORBIDDEN_XML


def test_parameter_entity_is_forbidden() -> None:
    """Parameter entities (the out-of-band XXE variant) are refused too."""
    raw = b'<!DOCTYPE x [<!ENTITY % p SYSTEM "http://example.invalid/x.dtd"> %p;]><nitf/>'
    assert reason_of(raw) is ReasonCode.FORBIDDEN_XML


@pytest.mark.parametrize("cut", [20, 60, 150, len(G2) - 5])
def test_truncated_xml_is_malformed(cut: int) -> None:
    """A NewsML-G2 document cut short is MALFORMED_XML."""
    assert reason_of(G2[:cut], hint=WireFormat.NEWSML_G2) is ReasonCode.MALFORMED_XML


def test_truncated_xml_auto_detected() -> None:
    """Truncation after the root element's name is still detected as XML and reported as malformed."""
    assert reason_of(G2[:150]) is ReasonCode.MALFORMED_XML


@pytest.mark.parametrize("raw", [b'{"uri": "x", "headline": "Xi me', b"{", b'{"a": [1, 2}'])
def test_truncated_json_is_malformed(raw: bytes) -> None:
    """Truncated or broken JSON is MALFORMED_JSON."""
    assert reason_of(raw) is ReasonCode.MALFORMED_JSON


@pytest.mark.parametrize(
    "document",
    [
        {"uri": "x", "headline": 42},
        {"uri": ["x"], "headline": "h"},
        {"headline": "h", "keywords": "not a list"},
        {"headline": "h", "keywords": [1, 2]},
        {"headline": "h", "urgency": "high"},
        {"headlines": {"value": "x"}},
        {"headlines": [{"value": 5}]},
        {"headline": "h", "associations": "pic"},
        {"headline": "h", "subjects": ["politics"]},
        ["a", "list", "at", "the", "top"],
        "just a string",
    ],
)
def test_wrong_json_types(document: object) -> None:
    """A ninjs field of the wrong JSON type is WRONG_TYPE, naming the field."""
    assert reason_of(json.dumps(document).encode(), hint=WireFormat.NINJS) is ReasonCode.WRONG_TYPE


def test_oversize() -> None:
    """An item larger than the configured limit is OVERSIZE (checked before decoding)."""
    assert reason_of(b"x" * 2000, max_item_bytes=1000) is ReasonCode.OVERSIZE


def test_oversize_envelope_payload() -> None:
    """The limit applies to an envelope's decoded payload as well."""
    payload = base64.b64encode(b"y" * 5000).decode()
    envelope = json.dumps({"wire_ingest_envelope": 1, "payload_base64": payload}).encode()
    assert reason_of(envelope, max_item_bytes=6000) is ReasonCode.OVERSIZE


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe\x00\xd8\x41\x00",  # UTF-16 BOM, then a lone surrogate
        b"\xef\xbb\xbfheadline \xff\xfe\xfa body",  # UTF-8 BOM, then bytes that are not UTF-8
        bytes(range(0, 32)) * 20,  # control characters only
    ],
)
def test_invalid_encoding(raw: bytes) -> None:
    """Bytes no text encoding explains are INVALID_ENCODING."""
    assert reason_of(raw) is ReasonCode.INVALID_ENCODING


def test_unknown_envelope_encoding() -> None:
    """An envelope naming an encoding Python does not know is INVALID_ENCODING."""
    envelope = {
        "wire_ingest_envelope": 1,
        "encoding": "klingon-8",
        "payload_base64": base64.b64encode(b"hi").decode(),
    }
    assert reason_of(json.dumps(envelope).encode()) is ReasonCode.INVALID_ENCODING


def test_latin1_declared_in_xml_is_decoded() -> None:
    """An XML encoding declaration is honoured (ISO-8859-1 bytes read correctly)."""
    raw = G2.replace(b"<newsItem", b'<?xml version="1.0" encoding="ISO-8859-1"?><newsItem', 1)
    raw = raw.replace("Café".encode(), "Café".encode("latin-1"))
    assert parse(raw)[0].headline == "Café headline"


def test_utf16_with_bom_is_decoded() -> None:
    """A UTF-16 document with a byte-order mark parses like its UTF-8 twin."""
    text = G2.decode("utf-8")
    assert parse(text.encode("utf-16"))[0].headline == "Café headline"


def test_cp1252_text_page_is_detected() -> None:
    """Legacy single-byte text without any declaration is decoded by detection, not rejected."""
    text = (
        "Xi meets Aliyev\n\nThe president said the talks were \u201cfruitful\u201d in S\u00e3o Paulo style.\n"
    )
    item = parse(text.encode("cp1252"))[0]
    assert item.headline == "Xi meets Aliyev"
    assert "\u201cfruitful\u201d" in item.body_paragraphs[0]


@pytest.mark.parametrize("raw", [b"", b"   \n\t  ", b"\xef\xbb\xbf  "])
def test_empty_record(raw: bytes) -> None:
    """An empty or blank record is EMPTY_ITEM."""
    assert reason_of(raw) is ReasonCode.EMPTY_ITEM


def test_item_without_headline_and_body_is_empty_item() -> None:
    """A well-formed item with neither headline nor body fails normalization with EMPTY_ITEM."""
    items = parse(b'{"uri": "urn:x", "versioncreated": "2022-09-16T10:00:00Z"}')
    with pytest.raises(NormalizeError) as info:
        normalize(items[0], RECORD, raw_sha256="0" * 64)
    assert info.value.reason is ReasonCode.EMPTY_ITEM


def test_empty_rss_feed() -> None:
    """A feed with no item is EMPTY_ITEM."""
    assert reason_of(b'<rss version="2.0"><channel><title>t</title></channel></rss>') is ReasonCode.EMPTY_ITEM


@pytest.mark.parametrize(
    "raw",
    [
        b"<contentMeta><headline>fragment</headline></contentMeta>",
        b"\x16\x16\x01a2001 r u bc-anpa-item 09-15 0412\r\r\n\x02^Xi meets Aliyev in Samarkand<\r\n"
        + b"text " * 40,
    ],
)
def test_unsupported_format(raw: bytes) -> None:
    """Unknown XML vocabularies and control framing that is not ANPA/IPTC 7901: UNSUPPORTED_FORMAT."""
    assert reason_of(raw) is ReasonCode.UNSUPPORTED_FORMAT


@pytest.mark.parametrize(
    "raw",
    [
        b"<NewsML><NewsItem/></NewsML>",
        b"<NewsML><NewsItem><title>t</title><p>NewsML 1 body text</p></NewsItem></NewsML>",
    ],
)
def test_newsml1_without_content_item_is_empty(raw: bytes) -> None:
    """A NewsML 1 NewsItem with no ContentItem at all (not even a photo) is EMPTY_ITEM."""
    assert reason_of(raw) is ReasonCode.EMPTY_ITEM


@pytest.mark.parametrize(
    "envelope",
    [
        {"wire_ingest_envelope": 1},
        {"wire_ingest_envelope": 1, "payload": "a", "payload_base64": "YQ=="},
        {"wire_ingest_envelope": 1, "payload_base64": "not base64!"},
        {"wire_ingest_envelope": 2, "payload": "a"},
        {"wire_ingest_envelope": 1, "payload": "a", "format": "carrier-pigeon"},
        {"wire_ingest_envelope": 1, "payload": "a", "format": "envelope"},
        {"wire_ingest_envelope": 1, "payload": 5},
        {"wire_ingest_envelope": 1, "payload": "a", "unknown_key": True},
    ],
)
def test_invalid_envelope(envelope: dict[str, object]) -> None:
    """Envelopes with no/both payloads, bad base64, unknown formats or nesting are INVALID_ENVELOPE."""
    assert reason_of(json.dumps(envelope).encode()) is ReasonCode.INVALID_ENVELOPE


def test_envelope_source_overrides_and_payload_is_parsed() -> None:
    """An envelope's payload is parsed by detection and its source replaces the item's."""
    envelope = {"wire_ingest_envelope": 1, "source": "Kabar", "payload": G2.decode()}
    (item,) = parse(json.dumps(envelope).encode())
    assert item.format is WireFormat.NEWSML_G2
    assert item.source == "Kabar"


def test_no_date_and_no_record_timestamp_is_invalid_date() -> None:
    """Without any date in the item or on the record, normalization refuses to make one up."""
    (item,) = parse(b'{"uri": "u", "headline": "h", "versioncreated": "not a date"}')
    with pytest.raises(NormalizeError) as info:
        normalize(item, RECORD, raw_sha256="0" * 64)
    assert info.value.reason is ReasonCode.INVALID_DATE


def test_impossible_date_falls_back_to_record_with_flags() -> None:
    """An impossible date is flagged as unparseable and the record timestamp is used, flagged."""
    (item,) = parse(b'{"uri": "u", "headline": "h", "versioncreated": "2022-02-30T10:00:00Z"}')
    record = RecordMeta(topic="t", partition=0, offset=1, timestamp=datetime(2022, 9, 16, tzinfo=UTC))
    article = normalize(item, record, raw_sha256=ids.sha256_hex(b""))
    assert article.versioncreated == record.timestamp
    assert {"versioncreated_unparseable", "versioncreated_from_record"} <= set(article.date_flags)


def test_non_bytes_input_is_a_parse_error() -> None:
    """Passing a str instead of bytes is reported as WRONG_TYPE, not a TypeError."""
    assert reason_of("text", hint=None) is ReasonCode.WRONG_TYPE  # type: ignore[arg-type]


def test_pathologically_nested_html_page_is_refused_quickly() -> None:
    """A page with more tags than any article page is TOO_COMPLEX, before the quadratic tree build."""
    nested = "<div>" * 60_000 + "deep" + "</div>" * 60_000
    raw = f"<html><head><title>Deep</title></head><body>{nested}</body></html>".encode()
    with pytest.raises(ParseError) as caught:
        parse(raw, max_item_bytes=8 * 1024 * 1024)
    assert caught.value.reason == ReasonCode.TOO_COMPLEX
