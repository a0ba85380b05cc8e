"""The only way XML enters the service: lxml with entities, DTDs and the network off.

A document type declaration with an internal subset or any entity
declaration is refused outright (FORBIDDEN_XML): billion-laughs and XXE both
need one. A bare external `<!DOCTYPE nitf SYSTEM "nitf.dtd">`, as older NITF
feeds send, is allowed because the DTD is never loaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.entities import name2codepoint
from typing import Any, AnyStr, Generic, cast

from lxml import etree

from ..errors import ParseError, ReasonCode

_PARSER_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
    "strip_cdata": True,
}


@dataclass(frozen=True, slots=True)
class _DtdScan(Generic[AnyStr]):
    """The patterns `declares_dtd` needs, for bytes or for str."""

    marker: AnyStr  # "<!": documents without one (most) skip the case-insensitive scans
    declaration: re.Pattern[AnyStr]
    doctype: re.Pattern[AnyStr]
    doctype_end: re.Pattern[AnyStr]
    bracket: AnyStr


_DTD_BYTES = _DtdScan(
    b"<!",
    re.compile(rb"<!(?:ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE),
    re.compile(rb"<!DOCTYPE", re.IGNORECASE),
    re.compile(rb"[>\[]"),
    b"[",
)
_DTD_TEXT = _DtdScan(
    "<!",
    re.compile(r"<!(?:ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE),
    re.compile(r"<!DOCTYPE", re.IGNORECASE),
    re.compile(r"[>\[]"),
    "[",
)


def declares_dtd(data: bytes | str) -> bool:
    r"""True when the document holds "<!DOCTYPE" with an internal subset "[" (before its ">"), or
    "<!ENTITY", "<!ELEMENT" or "<!ATTLIST" anywhere (case-insensitive): all refused before parsing.

    What `re.search(r"<!DOCTYPE[^>\[]*\[|<!ENTITY|<!ELEMENT|<!ATTLIST", data, re.I)` finds, in
    linear time: that pattern scans from every "<!DOCTYPE" to the next ">" or "[", so 160 KB of
    repeated "<!DOCTYPE " cost seconds. Here the doctypes that share one ">" or "[" share one scan.
    """
    if isinstance(data, bytes):
        return _declares_dtd(data, _DTD_BYTES)
    return _declares_dtd(data, _DTD_TEXT)


def _declares_dtd(data: AnyStr, scan: _DtdScan[AnyStr]) -> bool:
    if scan.marker not in data:
        return False
    if scan.declaration.search(data):
        return True
    resume = 0
    for doctype in scan.doctype.finditer(data):
        if doctype.start() < resume:
            continue  # inside the doctype just scanned: its end is this one's end too
        end = scan.doctype_end.search(data, doctype.end())
        if end is None:
            return False
        if end.group() == scan.bracket:
            return True
        resume = end.end()
    return False


_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
# XML's own five entities are left to lxml: escaped HTML in feeds holds dozens of &lt;/&gt;.
_NAMED_ENTITY = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos);)([A-Za-z][A-Za-z0-9]{1,31});")
_XML_ENTITIES = frozenset({b"amp", b"lt", b"gt", b"quot", b"apos"})


def _numeric_entity(match: re.Match[bytes]) -> bytes:
    name = match.group(1)
    codepoint = name2codepoint.get(name.decode("ascii"))
    if name in _XML_ENTITIES or codepoint is None:
        return match.group(0)
    return b"&#%d;" % codepoint


def _parser() -> etree.XMLParser:
    # XMLParser objects are not thread-safe to share while parsing; creation is cheap.
    return etree.XMLParser(**_PARSER_OPTIONS)  # type: ignore[arg-type]


def parse_xml(raw: bytes | str) -> etree._Element:
    """Parse an XML document safely; ParseError(FORBIDDEN_XML | MALFORMED_XML) otherwise."""
    if isinstance(raw, str):
        if declares_dtd(raw):
            raise ParseError(
                ReasonCode.FORBIDDEN_XML, "XML with a DTD internal subset or entity declarations"
            )
        # lxml refuses str input that still carries an encoding declaration.
        data = _XML_DECL.sub("", raw, count=1).encode("utf-8")
    else:
        if declares_dtd(raw):
            raise ParseError(
                ReasonCode.FORBIDDEN_XML, "XML with a DTD internal subset or entity declarations"
            )
        data = raw
    # NITF feeds use HTML entities (&eacute;) that only their DTD, never loaded, defines: without
    # the DTD lxml would drop them (or fail), so they become character references first.
    if b"&" in data and _NAMED_ENTITY.search(data):
        data = _NAMED_ENTITY.sub(_numeric_entity, data)
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise ParseError(ReasonCode.MALFORMED_XML, f"malformed XML: {exc}") from exc
    except ValueError as exc:
        raise ParseError(ReasonCode.MALFORMED_XML, f"unreadable XML: {exc}") from exc
    if root is None:
        raise ParseError(ReasonCode.MALFORMED_XML, "empty XML document")
    dtd: Any = root.getroottree().docinfo.internalDTD  # lxml-stubs lack DTD.iterentities/elements
    # A bare <!DOCTYPE x SYSTEM "..."> shows up here too; only declarations are refused.
    if dtd is not None and (any(True for _ in dtd.iterentities()) or any(True for _ in dtd.elements())):
        raise ParseError(ReasonCode.FORBIDDEN_XML, "XML with an internal DTD")
    return root


# More items than any feed or news message carries. Building an item costs ~30 µs even when
# it is empty: a 4 MB record of "<item/>" (600,000 items) took 15 s. Refused once lxml has
# parsed the document (linear, in C), before any item is built.
MAX_ITEMS = 10_000


def check_item_count(elements: list[etree._Element]) -> list[etree._Element]:
    """The item elements of a document, or ParseError(TOO_COMPLEX) when there are over MAX_ITEMS."""
    if len(elements) > MAX_ITEMS:
        raise ParseError(
            ReasonCode.TOO_COMPLEX, f"document with {len(elements)} items (more than {MAX_ITEMS})"
        )
    return elements


def local(tag: object) -> str:
    """Element name without its namespace ('' for comments and processing instructions)."""
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def text_of(element: etree._Element | None) -> str | None:
    """All text inside an element (markup dropped), or None when absent or blank."""
    if element is None:
        return None
    # itertext yields str subclasses; str() on each (the stubs' str | bytes) only costs time.
    text = "".join(cast("Iterator[str]", element.itertext()))
    return text if text.strip() else None


# The lookups below filter with lxml's "{*}name" (any namespace or none), which tests each
# element's name in C instead of calling `local` on every child in Python.


def child(element: etree._Element | None, name: str) -> etree._Element | None:
    """First direct child with this local name (any namespace)."""
    if element is None:
        return None
    return next(element.iterchildren("{*}" + name), None)


def children(element: etree._Element | None, name: str) -> list[etree._Element]:
    """Direct children with this local name (any namespace)."""
    if element is None:
        return []
    return list(element.iterchildren("{*}" + name))


def descendant(element: etree._Element | None, name: str) -> etree._Element | None:
    """First descendant with this local name (any namespace)."""
    if element is None:
        return None
    return next(element.iterdescendants("{*}" + name), None)


def descendants(element: etree._Element | None, name: str) -> list[etree._Element]:
    """All descendants with this local name (any namespace), in document order."""
    if element is None:
        return []
    return list(element.iterdescendants("{*}" + name))


def attr(element: etree._Element | None, name: str) -> str | None:
    """Attribute value by local name (namespaced or not), None when absent or blank."""
    if element is None:
        return None
    suffix = "}" + name
    for key, value in cast("list[tuple[str, str]]", element.items()):
        if (key == name or key.endswith(suffix)) and value.strip():
            return str(value)
    return None


def lang_of(element: etree._Element | None) -> str | None:
    """The xml:lang in force on an element (its own or an ancestor's)."""
    while element is not None:
        value = element.get("{http://www.w3.org/XML/1998/namespace}lang")
        if value:
            return value
        element = element.getparent()
    return None
