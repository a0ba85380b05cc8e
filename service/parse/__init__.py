"""Parse stage: raw bytes of any supported wire format -> ParsedItems, or a ParseError with a reason code.

`parse` never raises anything but ParseError: the bytes are checked for size,
decoded (BOMs, declarations, detection), their format detected (or taken
from `hint`), envelopes unwrapped, and the format's parser run. A document
holding several items (NewsML-G2 newsMessage, RSS/Atom feed) gives one
ParsedItem per item, numbered by `item_index`.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ParseError, ReasonCode
from ..models import Envelope, ParsedItem, WireFormat
from .anpa import parse_anpa
from .decoding import decode, decode_json
from .detect import detect, detect_transmission
from .envelope import payload_bytes, payload_format, read_envelope
from .feeds import parse_atom, parse_rss
from .framing import decode_transmission
from .iptc7901 import parse_iptc7901
from .newsml1 import parse_newsml1
from .newsml_g2 import parse_newsml_g2
from .ninjs import loads, parse_ninjs
from .nitf import parse_nitf
from .page_html import parse_html_page
from .page_text import parse_text_page
from .ritzau import parse_ritzau

__all__ = ["PARSER_VERSION", "parse"]

# Bump whenever the ParsedItems for the same bytes change (it is part of each event's lineage).
PARSER_VERSION = "1.1.0"

DEFAULT_MAX_ITEM_BYTES = 4 * 1024 * 1024

_PARSERS: dict[WireFormat, Callable[[str], list[ParsedItem]]] = {
    WireFormat.NINJS: parse_ninjs,
    WireFormat.NEWSML_G2: parse_newsml_g2,
    WireFormat.NITF: parse_nitf,
    WireFormat.RSS: parse_rss,
    WireFormat.ATOM: parse_atom,
    WireFormat.HTML_PAGE: parse_html_page,
    WireFormat.TEXT_PAGE: parse_text_page,
    WireFormat.ANPA_1312: parse_anpa,
    WireFormat.IPTC_7901: parse_iptc7901,
    WireFormat.NEWSML_1: parse_newsml1,
    WireFormat.RITZAU: parse_ritzau,
}
# Formats told from their raw bytes, decoded their own way: control-character framing is not
# "binary", and their legacy code page is known (Windows-1252) rather than guessed.
_TRANSMISSIONS = (WireFormat.ANPA_1312, WireFormat.IPTC_7901)


def parse(
    raw: bytes, *, hint: WireFormat | None = None, max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES
) -> list[ParsedItem]:
    """Parse one raw record into its items; ParseError(reason, message) for every bad input."""
    try:
        return _parse(raw, hint=hint, max_item_bytes=max_item_bytes)
    except ParseError:
        raise
    except RecursionError as exc:
        raise ParseError(ReasonCode.MALFORMED_XML, "document nested too deeply") from exc
    except Exception as exc:
        # The last resort the contract promises: a bug in a parser still ends as a reason code.
        raise ParseError(ReasonCode.INTERNAL_ERROR, f"parser failed: {type(exc).__name__}: {exc}") from exc


def _check_size(raw: bytes, max_item_bytes: int) -> None:
    if len(raw) > max_item_bytes:
        raise ParseError(
            ReasonCode.OVERSIZE, f"item of {len(raw)} bytes exceeds the limit of {max_item_bytes}"
        )
    if not raw.strip():
        raise ParseError(ReasonCode.EMPTY_ITEM, "empty record")


def _parse(raw: bytes, *, hint: WireFormat | None, max_item_bytes: int) -> list[ParsedItem]:
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise ParseError(ReasonCode.WRONG_TYPE, f"raw item must be bytes, not {type(raw).__name__}")
    raw = bytes(raw)
    _check_size(raw, max_item_bytes)
    transmission = detect_transmission(raw) if hint in (None, *_TRANSMISSIONS) else None
    if transmission is not None:
        return _run(hint or transmission, decode_transmission(raw))
    text = decode_json(raw) if raw.lstrip()[:1] in (b"{", b"[") else decode(raw)
    wire_format = hint or detect(text)
    # An envelope announces itself; a per-source hint then applies to its payload instead.
    # (Without a hint, `wire_format` is detect(text) already.)
    if (
        hint is not None
        and wire_format is not WireFormat.ENVELOPE
        and text.lstrip()[:1] == "{"
        and detect(text) is WireFormat.ENVELOPE
    ):
        wire_format = WireFormat.ENVELOPE
    if wire_format is WireFormat.ENVELOPE:
        return _parse_envelope(text, hint=hint, max_item_bytes=max_item_bytes)
    return _run(wire_format, text)


def _run(wire_format: WireFormat, text: str) -> list[ParsedItem]:
    items = _PARSERS[wire_format](text)
    if not items:
        raise ParseError(ReasonCode.EMPTY_ITEM, f"{wire_format.value} document holds no item")
    return [
        item if item.item_index == index else item.model_copy(update={"item_index": index})
        for index, item in enumerate(items)
    ]


def _parse_envelope(text: str, *, hint: WireFormat | None, max_item_bytes: int) -> list[ParsedItem]:
    envelope: Envelope = read_envelope(loads(text))
    payload = payload_bytes(envelope)
    _check_size(payload, max_item_bytes)
    inner = (
        decode(payload, envelope.encoding) if envelope.payload_base64 is not None else envelope.payload or ""
    )
    wire_format = payload_format(envelope)
    if wire_format is None:
        wire_format = hint if hint not in (None, WireFormat.ENVELOPE) else detect(inner)
    if wire_format is WireFormat.ENVELOPE:
        raise ParseError(ReasonCode.INVALID_ENVELOPE, "envelopes do not nest")
    items = _run(wire_format, inner)
    if envelope.source:
        items = [item.model_copy(update={"source": envelope.source}) for item in items]
    return items
