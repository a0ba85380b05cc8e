"""IPTC ninjs 1.x, 2.x and 3.x JSON.

The versions differ in shape, not meaning: 1.x has `headline`, `body_text`,
`body_html`, `subject`, `place`, `associations` as an object; 2.x has
`headlines`/`bodies`/`descriptions` lists of {role, contenttype, value},
`subjects`, `places`, `infosources`; 3.x spells the same keys in camelCase
(`versionCreated`, `pubStatus`) and `associations` as a list. Keys are
compared case-insensitively so one reader covers all three. Superdesk's
ninjs (`guid`, `source`) is accepted too.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import ParseError, ReasonCode
from ..models import Caption, ParsedItem, Subject, WireFormat
from .json_wrappers import text_items, unwrap
from .markup import html_paragraphs

_HTML_TYPES = ("text/html", "application/xhtml+xml", "xhtml", "html")
_PICTURE_TYPES = frozenset({"picture", "image", "graphic", "photo"})


def loads(text: str | bytes) -> Any:
    """JSON to Python, or ParseError(MALFORMED_JSON)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(ReasonCode.MALFORMED_JSON, f"malformed JSON: {exc}") from exc


def _lower_keys(obj: dict[str, Any]) -> dict[str, Any]:
    return {key.lower(): value for key, value in obj.items()}


def _wrong(field: str, expected: str, value: object) -> ParseError:
    return ParseError(
        ReasonCode.WRONG_TYPE, f"ninjs field {field!r} must be {expected}, not {type(value).__name__}"
    )


def _str(obj: dict[str, Any], key: str, *, numbers: bool = False) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    if numbers and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _wrong(key, "a string", value)


def _list(obj: dict[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _wrong(key, "a list", value)
    return value


def _objects(obj: dict[str, Any], key: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in _list(obj, key):
        if not isinstance(entry, dict):
            raise _wrong(f"{key}[]", "an object", entry)
        out.append(_lower_keys(entry))
    return out


def _int(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise _wrong(key, "an integer", value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise _wrong(key, "an integer", value)


def _value_of(entries: list[dict[str, Any]], key: str) -> tuple[str | None, str | None]:
    """(value, contenttype) of the main entry of a 2.x list such as headlines or bodies."""
    if not entries:
        return None, None
    main = next(
        (e for e in entries if e.get("role") in ("main", "body", "text", "html", "xhtml")), entries[0]
    )
    value = main.get("value")
    if value is not None and not isinstance(value, str):
        raise _wrong(f"{key}[].value", "a string", value)
    contenttype = main.get("contenttype")
    return value, contenttype if isinstance(contenttype, str) else None


def _body(item: dict[str, Any]) -> tuple[str, ...]:
    html_body = _str(item, "body_html") or _str(item, "body_xhtml")
    if html_body:
        return tuple(html_paragraphs(html_body))
    text_body = _str(item, "body_text")
    if text_body:
        return tuple(html_paragraphs(text_body))
    bodies = _objects(item, "bodies")
    # Prefer an HTML body: its paragraph breaks are explicit.
    html_entry = next((b for b in bodies if str(b.get("contenttype", "")).lower() in _HTML_TYPES), None)
    value, _ = _value_of([html_entry] if html_entry else bodies, "bodies")
    if value:
        return tuple(html_paragraphs(value))
    # Short items (NTB's, flashes) carry their only text as the description.
    description = _str(item, "description_html") or _str(item, "description_text")
    if not description:
        description, _ = _value_of(_objects(item, "descriptions"), "descriptions")
    return tuple(html_paragraphs(description)) if description else ()


def _headline(item: dict[str, Any]) -> str | None:
    headline = _str(item, "headline")
    if headline:
        return headline
    value, _ = _value_of(_objects(item, "headlines"), "headlines")
    return value


def _byline(item: dict[str, Any]) -> str | None:
    byline = _str(item, "byline") or _str(item, "by")
    if byline:
        return byline
    candidates = [b.get("byline") or b.get("name") for b in _objects(item, "bylines")]
    names = [n for n in candidates if isinstance(n, str) and n]
    return ", ".join(names) or None


def _names(entries: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(str(e["name"]) for e in entries if isinstance(e.get("name"), str) and e["name"])


def _subjects(item: dict[str, Any]) -> tuple[Subject, ...]:
    out: list[Subject] = []
    for entry in _objects(item, "subjects") + _objects(item, "subject"):
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            continue
        code = entry.get("code") or entry.get("qcode") or entry.get("uri") or entry.get("literal")
        scheme = entry.get("scheme")
        out.append(
            Subject(
                name=name,
                code=str(code) if isinstance(code, str | int) else None,
                scheme=scheme if isinstance(scheme, str) else None,
            )
        )
    return tuple(out)


def _source(item: dict[str, Any]) -> str | None:
    for entry in _objects(item, "infosources") + _objects(item, "infosource"):
        name = entry.get("name")
        if (
            isinstance(name, str)
            and name
            and entry.get("role") in (None, "originator", "source", "creditline")
        ):
            return name
    for key in ("source", "provider", "copyrightholder"):
        value = item.get(key)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            return str(value["name"])
    return None


def _caption_text(assoc: dict[str, Any]) -> str | None:
    for key in ("description_text", "caption"):
        value = assoc.get(key)
        if isinstance(value, str) and value.strip():
            return value
    for key in ("descriptions", "headlines"):
        value, _ = _value_of(
            [_lower_keys(e) for e in assoc.get(key, []) if isinstance(e, dict)]
            if isinstance(assoc.get(key), list)
            else [],
            key,
        )
        if value:
            return value
    value = assoc.get("description_html") or assoc.get("body_text") or assoc.get("headline")
    if isinstance(value, str) and value.strip():
        return " ".join(html_paragraphs(value))
    return None


def _captions(item: dict[str, Any]) -> tuple[Caption, ...]:
    raw = item.get("associations")
    if raw is None:
        return ()
    if isinstance(raw, dict):
        entries = list(raw.values())
    elif isinstance(raw, list):
        entries = raw
    else:
        raise _wrong("associations", "an object or a list", raw)
    out: list[Caption] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        assoc = _lower_keys(entry)
        if str(assoc.get("type", "picture")).lower() not in _PICTURE_TYPES:
            continue
        text = _caption_text(assoc)
        if not text:
            continue
        credit = (
            assoc.get("byline") or assoc.get("by") or assoc.get("creditline") or assoc.get("copyrightholder")
        )
        out.append(Caption(text=text, credit=credit if isinstance(credit, str) and credit.strip() else None))
    return tuple(out)


def _located(item: dict[str, Any]) -> str | None:
    value = item.get("located")
    if isinstance(value, dict):
        name = value.get("name")
        return name if isinstance(name, str) else None
    if value is not None and not isinstance(value, str):
        raise _wrong("located", "a string", value)
    return value


def item_from_object(obj: object) -> ParsedItem:
    """One ninjs object (already decoded JSON) to a ParsedItem; WRONG_TYPE on a bad shape."""
    if not isinstance(obj, dict):
        raise _wrong("(document)", "an object", obj)
    item = _lower_keys(obj)
    keywords = _list(item, "keywords")
    if not all(isinstance(k, str) for k in keywords):
        raise _wrong("keywords[]", "a string", next(k for k in keywords if not isinstance(k, str)))
    places = _objects(item, "places") + _objects(item, "place")
    services = _objects(item, "service")
    section = services[0].get("name") if services else None
    return ParsedItem(
        format=WireFormat.NINJS,
        item_id=_str(item, "uri") or _str(item, "guid"),
        version=_str(item, "version", numbers=True),
        source=_source(item),
        pubstatus=_str(item, "pubstatus"),
        headline=_headline(item),
        body_paragraphs=_body(item),
        byline=_byline(item),
        located=_located(item),
        firstcreated=_str(item, "firstcreated"),
        versioncreated=_str(item, "versioncreated"),
        language=_str(item, "language"),
        section=section if isinstance(section, str) else None,
        urgency=_int(item, "urgency"),
        subjects=_subjects(item),
        keywords=tuple(k for k in keywords if k.strip()),
        captions=_captions(item),
        source_places=_names(places),
        source_people=_names(_objects(item, "people") + _objects(item, "person")),
    )


def parse_ninjs(text: str) -> list[ParsedItem]:
    """A ninjs document: one object, or the items of an API wrapper (see json_wrappers)."""
    objects = text_items(unwrap(loads(text)))
    return [item_from_object(obj).model_copy(update={"item_index": i}) for i, obj in enumerate(objects)]
