"""NITF 3.x XML (and the 2006 namespaced variant): head/docdata, body.head, body.content, media captions."""

from __future__ import annotations

import re

from lxml import etree

from ..errors import ParseError, ReasonCode
from ..models import Caption, ParsedItem, Subject, WireFormat
from .markup import xml_paragraphs
from .xml_safety import attr, child, descendant, descendants, lang_of, local, parse_xml, text_of

_NON_BODY = frozenset({"media", "body.end", "note"})
_MACHINE_DATE = re.compile(r"^\d{8}T\d{4,6}")
# "By" and two to six capitalised names (initials, hyphens, "and"): a byline typed as the first paragraph.
_BYLINE_MAX = 100
_BYLINE_PARAGRAPH = re.compile(r"^By\s+[A-Z][\w.'’-]*(?:\s+(?:and\s+)?[A-Z][\w.'’-]*){1,5}$")


def parse_nitf(text: str) -> list[ParsedItem]:
    """One item from a NITF document."""
    root = parse_xml(text)
    if local(root.tag) != "nitf":
        raise ParseError(ReasonCode.UNSUPPORTED_FORMAT, f"expected a <nitf> root, found <{local(root.tag)}>")
    return [item_from_nitf(root, WireFormat.NITF)]


def body_parts(body: etree._Element | None) -> tuple[list[str], list[Caption]]:
    """Paragraphs of body.content (media and notes left out) and the captions of its media."""
    content = child(body, "body.content")
    if content is None:
        return [], []
    captions: list[Caption] = []
    for media in descendants(content, "media"):
        caption = text_of(child(media, "media-caption"))
        if caption:
            captions.append(Caption(text=caption, credit=text_of(child(media, "media-producer"))))
    return xml_paragraphs(content, skip=_NON_BODY), captions


def byline_paragraph(paragraphs: list[str]) -> tuple[str | None, list[str]]:
    """A first paragraph that is only a byline ("By Jonathan Underhill") and the paragraphs without it."""
    if paragraphs and len(paragraphs[0]) < _BYLINE_MAX and _BYLINE_PARAGRAPH.match(paragraphs[0].strip()):
        return paragraphs[0].strip(), paragraphs[1:]
    return None, paragraphs


def byline_text(body_head: etree._Element | None) -> str | None:
    """Byline without its title element (<byttl>): 'By Meredith Jameson'."""
    byline = child(body_head, "byline")
    if byline is None:
        return None
    parts = [byline.text or ""]
    for element in byline:
        if local(element.tag) != "byttl":
            parts.append("".join(str(t) for t in element.itertext()))
        parts.append(element.tail or "")
    text = " ".join("".join(parts).split()).strip(" ,")
    return text or None


def dateline_text(body_head: etree._Element | None) -> str | None:
    """Dateline as written; a <story.date> holding a machine timestamp (EFE) is left out."""
    dateline = child(body_head, "dateline")
    if dateline is None:
        return None
    parts = [dateline.text or ""]
    for element in dateline:
        value = "".join(str(t) for t in element.itertext())
        if not (local(element.tag) == "story.date" and _MACHINE_DATE.match(value.strip())):
            parts.append(value)
        parts.append(element.tail or "")
    text = " ".join("".join(parts).split()).strip(" ,")
    return text or None


def item_from_nitf(root: etree._Element, wire_format: WireFormat, index: int = 0) -> ParsedItem:
    """A ParsedItem from a <nitf> element (also used for NITF inside NewsML-G2 inlineXML)."""
    head = child(root, "head")
    docdata = child(head, "docdata")
    body = child(root, "body")
    body_head = child(body, "body.head")
    hedline = child(body_head, "hedline")
    headline = text_of(child(hedline, "hl1")) or text_of(child(head, "title"))
    paragraphs, captions = body_parts(body)
    body_byline, paragraphs = byline_paragraph(paragraphs)
    if not paragraphs:
        abstract = child(body_head, "abstract")
        paragraphs = xml_paragraphs(abstract) if abstract is not None else []
    doc_id = child(docdata, "doc-id")
    du_key = child(docdata, "du-key")
    urgency = attr(child(docdata, "urgency"), "ed-urg")
    copyright_element = child(docdata, "doc.copyright")
    distributor = text_of(child(body_head, "distributor"))
    source = (
        attr(copyright_element, "holder")
        or attr(doc_id, "regsrc")
        or attr(child(head, "pubdata"), "name")
        or (" ".join(distributor.split()) if distributor else None)
    )
    subjects = [
        Subject(name=name, code=attr(element, "tobject.subject.refnum"), scheme="iptc-subjectcode")
        for element in descendants(head, "tobject.subject")
        if (name := attr(element, "tobject.subject.matter") or attr(element, "tobject.subject.type"))
    ]
    keywords = [k for e in descendants(docdata, "keyword") if (k := attr(e, "key"))]
    tobject = child(head, "tobject")
    section = attr(tobject, "tobject.type")
    release = attr(child(docdata, "date.release"), "norm")
    issue = attr(child(docdata, "date.issue"), "norm")
    publication = attr(child(head, "pubdata"), "date.publication")
    story_date = attr(descendant(body_head, "story.date"), "norm")
    located = text_of(descendant(child(body_head, "dateline"), "location"))
    return ParsedItem(
        format=wire_format,
        item_index=index,
        item_id=attr(doc_id, "id-string") or text_of(doc_id),
        version=attr(du_key, "version"),
        source=source,
        pubstatus=attr(docdata, "management-status"),
        headline=headline,
        body_paragraphs=tuple(paragraphs),
        byline=byline_text(body_head) or body_byline,
        dateline=dateline_text(body_head),
        located=" ".join(located.split()) if located else None,
        firstcreated=release or story_date,
        versioncreated=issue or publication,
        language=attr(root, "baselang") or lang_of(root) or lang_of(body),
        section=section,
        urgency=int(urgency) if urgency and urgency.strip().isdigit() else None,
        subjects=tuple(subjects),
        keywords=tuple(keywords),
        captions=tuple(captions),
    )
