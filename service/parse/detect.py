"""Which parser a document needs, from its first bytes (decoded text)."""

from __future__ import annotations

import re

from ..errors import ParseError, ReasonCode
from ..models import WireFormat
from .framing import ANPA_START, IPTC7901_START
from .xml_safety import declares_dtd

_SNIFF = 4096
_ROOT = re.compile(r"<(?![?!/])([A-Za-z_][\w.:-]*)")
_HTML_HINT = re.compile(r"<!DOCTYPE\s+html|<(?:html|head|body|article|div|p|meta|title)\b", re.IGNORECASE)
_ENVELOPE_KEY = re.compile(r'"wire_ingest_envelope"\s*:')
_ROOTS = {
    "newsitem": WireFormat.NEWSML_G2,
    "newsmessage": WireFormat.NEWSML_G2,
    "packageitem": WireFormat.NEWSML_G2,
    "nitf": WireFormat.NITF,
    "rss": WireFormat.RSS,
    "rdf": WireFormat.RSS,
    "feed": WireFormat.ATOM,
    "entry": WireFormat.ATOM,
    "html": WireFormat.HTML_PAGE,
    "newsml": WireFormat.NEWSML_1,
    "rbnews": WireFormat.RITZAU,
    "xmlnewsqueuedresponse": WireFormat.RITZAU,
}
_HTML_ROOTS = frozenset({"head", "body", "article", "div", "p", "main", "section", "meta", "title", "h1"})
# Start-of-header/start-of-text control characters open ANPA-1312 and IPTC 7901 transmissions.
_TRANSMISSION_CONTROLS = ("\x01", "\x02", "\x16")


def _skip_prolog(head: str) -> str:
    """Drop leading whitespace, XML declaration, comments and doctype before the root element."""
    position = 0
    while True:
        while position < len(head) and head[position].isspace():
            position += 1
        if head.startswith("<?", position):
            end = head.find("?>", position)
        elif head.startswith("<!--", position):
            end = head.find("-->", position)
            end = end + 1 if end >= 0 else end
        elif head.startswith("<!", position) and not head.startswith("<![CDATA[", position):
            end = head.find(">", position)
            end = end - 1 if end >= 0 else end
        else:
            return head[position:]
        if end < 0:
            return head[position:]
        position = end + 2


def detect_transmission(raw: bytes) -> WireFormat | None:
    """ANPA-1312 or IPTC 7901 from the first bytes (SOH and the header line), else None."""
    if ANPA_START.match(raw):
        return WireFormat.ANPA_1312
    if IPTC7901_START.match(raw):
        return WireFormat.IPTC_7901
    return None


def detect(text: str) -> WireFormat:
    """Guess the wire format of decoded text; ParseError(UNSUPPORTED_FORMAT) when nothing fits."""
    head = text[:_SNIFF].lstrip("\ufeff \t\r\n")
    if not head:
        raise ParseError(ReasonCode.EMPTY_ITEM, "empty document")
    if any(c in head[:64] for c in _TRANSMISSION_CONTROLS):
        transmission = detect_transmission(head[:256].encode("utf-8", "replace"))
        if transmission is None:
            raise ParseError(
                ReasonCode.UNSUPPORTED_FORMAT,
                "control-character framing that is neither ANPA-1312 nor IPTC 7901",
            )
        return transmission
    first = head[0]
    if first in "{[":
        return WireFormat.ENVELOPE if _ENVELOPE_KEY.search(head) else WireFormat.NINJS
    if first == "<":
        if declares_dtd(head):
            raise ParseError(
                ReasonCode.FORBIDDEN_XML, "XML with a DTD internal subset or entity declarations"
            )
        body = _skip_prolog(head)
        match = _ROOT.match(body)
        if match is not None:
            name = match.group(1).rpartition(":")[2].lower()
            if name in _ROOTS:
                return _ROOTS[name]
        # HTML fragments without <html> (scraped bodies) start with an HTML element; other XML
        # vocabularies (NewsML 1, fragments) are unsupported even when they contain <p> or <title>.
        if (match is None or match.group(1).lower() in _HTML_ROOTS) and _HTML_HINT.search(head):
            return WireFormat.HTML_PAGE
        root = match.group(1) if match else "?"
        raise ParseError(ReasonCode.UNSUPPORTED_FORMAT, f"unsupported XML document (root element {root!r})")
    return WireFormat.TEXT_PAGE
