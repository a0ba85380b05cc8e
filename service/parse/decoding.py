"""Bytes to text: byte-order marks, XML encoding declarations, then detection.

UTF-8 is tried first because nearly every wire item is UTF-8; charset-normalizer
only runs on the rest. Bytes no codec explains become INVALID_ENCODING.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

from ..errors import ParseError, ReasonCode

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_XML_DECL_ENCODING = re.compile(rb"^\s*<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([A-Za-z0-9._-]{1,40})[\"']")
_HTML_META_CHARSET = re.compile(
    rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?([A-Za-z0-9._-]{1,40})", re.IGNORECASE
)
# Text that decodes but is mostly control characters is binary, not a wire item.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F])
_MAX_CONTROL_RATIO = 0.1
_PREFERRED_LEGACY = ("cp1252", "latin_1", "iso8859_15")


def bom_encoding(raw: bytes) -> str | None:
    """The encoding a byte-order mark announces, if any."""
    for bom, name in _BOMS:
        if raw.startswith(bom):
            return name
    return None


def _declared(raw: bytes) -> str | None:
    match = _XML_DECL_ENCODING.match(raw[:300])
    if match is None:
        match = _HTML_META_CHARSET.search(raw[:4096])
    if match is None:
        return None
    name = match.group(1).decode("ascii").lower()
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _control_count(sample: str) -> int:
    if sample.isascii():
        # bytes.translate deletes in one C pass; the regex scan costs ~4 ns a character.
        data = sample.encode("ascii")
        return len(data) - len(data.translate(None, _CONTROL_BYTES))
    return len(_CONTROL.findall(sample))


def _check_text(text: str) -> str:
    if text and _control_count(text[:4096]) > _MAX_CONTROL_RATIO * min(len(text), 4096):
        raise ParseError(ReasonCode.INVALID_ENCODING, "text is mostly control characters (binary data?)")
    return text


def decode(raw: bytes, declared: str | None = None) -> str:
    """Decode raw item bytes to str, or raise ParseError(INVALID_ENCODING)."""
    bom = bom_encoding(raw)
    if bom is not None:
        try:
            return _check_text(raw.decode(bom).lstrip("\ufeff"))
        except UnicodeDecodeError as exc:
            raise ParseError(
                ReasonCode.INVALID_ENCODING, f"bytes do not match their {bom} BOM: {exc}"
            ) from exc
    candidates: list[str] = []
    if declared:
        try:
            candidates.append(codecs.lookup(declared).name)
        except LookupError as exc:
            raise ParseError(ReasonCode.INVALID_ENCODING, f"unknown encoding {declared!r}") from exc
    in_document = _declared(raw)
    if in_document and not _utf8_contradicts(raw, in_document):
        candidates.append(in_document)
    candidates.append("utf-8")
    for name in candidates:
        try:
            return _check_text(raw.decode(name))
        except UnicodeDecodeError:
            continue
    encoding = _detect(raw)
    if encoding is None:
        raise ParseError(ReasonCode.INVALID_ENCODING, "no text encoding explains these bytes")
    try:
        return _check_text(raw.decode(encoding))
    except (UnicodeDecodeError, LookupError) as exc:
        raise ParseError(ReasonCode.INVALID_ENCODING, f"detected {encoding} but decoding failed") from exc


def decode_json(raw: bytes) -> str:
    """JSON text: UTF-8 by RFC 8259 (or UTF-16/32 with a BOM); anything else is INVALID_ENCODING.

    Guessing a legacy code page for a JSON document with invalid UTF-8 bytes
    publishes garbled text (0x80 0x80 read as Cyrillic "АА"), so such an item is
    dead-lettered rather than half-repaired; its bytes are kept for a redrive.
    """
    if bom_encoding(raw) is not None:
        return decode(raw)
    try:
        return _check_text(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ParseError(
            ReasonCode.INVALID_ENCODING, f"JSON is not valid UTF-8 at byte {exc.start}: {exc.reason}"
        ) from exc


def _utf8_contradicts(raw: bytes, declared: str) -> bool:
    """True when a single-byte charset is declared but the bytes are non-ASCII UTF-8.

    Valid multi-byte UTF-8 sequences almost never occur by chance in Latin-1 or
    Windows-1252 text, so such bytes are UTF-8 with a wrong declaration (AFP's
    "iso-8859-1" items): decoding them as declared would garble every accent.
    """
    if declared.replace("_", "-").startswith(("utf", "ucs")) or raw.isascii():
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _detect(raw: bytes) -> str | None:
    """charset-normalizer's pick; among equally clean candidates the Western code pages win.

    On short wire copy many single-byte code pages decode without chaos and the
    coherence score cannot tell them apart; Windows-1252 is by far the most common
    legacy encoding on news wires, so it is preferred over an equally clean cp775.
    """
    matches = from_bytes(raw[: 64 * 1024])
    best = matches.best()
    if best is None:
        return None
    clean = {m.encoding for m in matches if m.percent_chaos <= best.percent_chaos}
    for preferred in _PREFERRED_LEGACY:
        if preferred in clean:
            return preferred
    return str(best.encoding)
