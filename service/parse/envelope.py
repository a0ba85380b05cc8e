"""The wire-ingest envelope: JSON that wraps raw item bytes with metadata (schemas/envelope.json).

{"wire_ingest_envelope": 1, "source": "Xinhua", "format": "text_page",
 "content_type": "text/plain", "encoding": "utf-8", "received_at": "...",
 "payload": "..."} -- or "payload_base64" instead of "payload".

Exactly one payload field is required. The payload is parsed with `format`,
else the format `content_type` implies, else auto-detection; `encoding`
decodes a base64 payload. The envelope's `source` overrides the items'.
"""

from __future__ import annotations

import base64
import binascii

from pydantic import ValidationError

from ..errors import ParseError, ReasonCode
from ..models import Envelope, WireFormat

_CONTENT_TYPES = {
    "application/ninjs+json": WireFormat.NINJS,
    "application/vnd.iptc.ninjs+json": WireFormat.NINJS,
    "application/vnd.iptc.g2.newsitem+xml": WireFormat.NEWSML_G2,
    "application/vnd.iptc.g2.newsmessage+xml": WireFormat.NEWSML_G2,
    "application/nitf+xml": WireFormat.NITF,
    "application/rss+xml": WireFormat.RSS,
    "application/atom+xml": WireFormat.ATOM,
    "text/html": WireFormat.HTML_PAGE,
    "application/xhtml+xml": WireFormat.HTML_PAGE,
    "text/plain": WireFormat.TEXT_PAGE,
}


def read_envelope(document: object) -> Envelope:
    """Validate a decoded JSON document as an envelope; ParseError(INVALID_ENVELOPE) otherwise."""
    try:
        envelope = Envelope.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(document)"
        raise ParseError(ReasonCode.INVALID_ENVELOPE, f"invalid envelope at {where}: {first['msg']}") from exc
    if (envelope.payload is None) == (envelope.payload_base64 is None):
        raise ParseError(
            ReasonCode.INVALID_ENVELOPE, "an envelope needs exactly one of payload, payload_base64"
        )
    if envelope.format is WireFormat.ENVELOPE:
        raise ParseError(ReasonCode.INVALID_ENVELOPE, "envelopes do not nest")
    return envelope


def payload_bytes(envelope: Envelope) -> bytes:
    """The wrapped bytes (text payloads are UTF-8 encoded)."""
    if envelope.payload is not None:
        return envelope.payload.encode("utf-8")
    try:
        return base64.b64decode(envelope.payload_base64 or "", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ParseError(ReasonCode.INVALID_ENVELOPE, f"payload_base64 is not base64: {exc}") from exc


def payload_format(envelope: Envelope) -> WireFormat | None:
    """The payload's format as the envelope states it, directly or through content_type."""
    if envelope.format is not None:
        return envelope.format
    if envelope.content_type:
        return _CONTENT_TYPES.get(envelope.content_type.split(";", 1)[0].strip().lower())
    return None
