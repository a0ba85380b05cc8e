"""The JSON wrappers news APIs put around ninjs: which objects inside are the items.

- a bare ninjs object: itself;
- BBC-style search results `{"total": n, "item": [ninjs, ...]}` (also `"items"`): each entry;
- the AP Media API `{"api_version": ..., "data": {"item": {...}}}` and its feeds
  `{"data": {"items": [{"item": {...}}, ...]}}`: each `item`.

AP Media API items are ninjs-like but name their stable ID `altids.itemid` (the
`uri` carries per-request query parameters) and carry text only as links to
renditions (NITF, ANPA) to be downloaded: such an item has no story of its own.
"""

from __future__ import annotations

from typing import Any

from ..errors import ParseError, ReasonCode

NON_TEXT_TYPES = frozenset({"picture", "image", "graphic", "photo", "video", "audio"})
_BODY_KEYS = ("body_html", "body_text", "body_xhtml", "bodies", "description_text", "description_html")


def _is_item(value: object) -> bool:
    return isinstance(value, dict) and any(k in value for k in ("headline", "headlines", "uri", "guid"))


def unwrap(document: Any) -> list[dict[str, Any]]:
    """The ninjs objects of a JSON document (a bare item or an API wrapper)."""
    if not isinstance(document, dict):
        return [document]
    if _is_item(document) and "data" not in document:
        return [document]
    for key in ("item", "items"):
        entries = document.get(key)
        if isinstance(entries, list) and entries and all(isinstance(e, dict) for e in entries):
            return entries
    data = document.get("data")
    if isinstance(data, dict):
        if isinstance(data.get("item"), dict):
            return [_ap_media(data["item"])]
        entries = data.get("items")
        if isinstance(entries, list):
            return [
                _ap_media(e["item"])
                for e in entries
                if isinstance(e, dict) and isinstance(e.get("item"), dict)
            ]
    return [document]


def _ap_media(item: dict[str, Any]) -> dict[str, Any]:
    """An AP Media API item as ninjs: its stable `altids.itemid` as the ID."""
    altids = item.get("altids")
    itemid = altids.get("itemid") if isinstance(altids, dict) else None
    return {**item, "uri": itemid} if isinstance(itemid, str) and itemid else item


def item_type(obj: dict[str, Any]) -> str:
    value = obj.get("type")
    return value.lower() if isinstance(value, str) else "text"


def text_items(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The text items; ParseError(NON_TEXT_ITEM | LINKS_ONLY) when there is none to publish."""
    texts = [o for o in objects if not isinstance(o, dict) or item_type(o) not in NON_TEXT_TYPES]
    if not texts and objects:
        kinds = sorted({item_type(o) for o in objects})
        raise ParseError(ReasonCode.NON_TEXT_ITEM, f"ninjs item of type {', '.join(kinds)}: no story text")
    with_text = [o for o in texts if not isinstance(o, dict) or _has_text(o)]
    if texts and not with_text and all(isinstance(o.get("renditions"), dict) for o in texts):
        raise ParseError(
            ReasonCode.LINKS_ONLY, "the wrapper holds only links to renditions (download the NITF/ANPA text)"
        )
    return texts


def _has_text(obj: dict[str, Any]) -> bool:
    return any(obj.get(key) for key in _BODY_KEYS)
