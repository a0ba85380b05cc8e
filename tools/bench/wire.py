"""Render a story as a wire item in each supported format (about 3 KB each).

The shapes follow the real samples the parsers are tested on (IPTC ninjs,
NewsML-G2 newsItem with inline NITF, NITF 3.x, RSS 2.0, Atom, a scraped page
saved as text, an article page in HTML, and the wire-ingest JSON envelope).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import format_datetime

import orjson

from tools.corpus import Story

FORMATS = ("ninjs", "newsml_g2", "nitf", "rss", "atom", "text_page", "html_page", "envelope")


@dataclass(frozen=True)
class WireItem:
    """What one rendering needs: the story plus the item's identity and version."""

    story: Story
    item_id: str
    version: int
    source: str
    headline: str
    paragraphs: tuple[str, ...]
    created: datetime
    updated: datetime
    pubstatus: str = "usable"
    byline: str = "By Staff Reporter"


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _x(text: str) -> str:
    return html.escape(text, quote=True)


def _paras(item: WireItem) -> str:
    return "".join(f"<p>{_x(p)}</p>" for p in item.paragraphs)


def render_ninjs(item: WireItem) -> str:
    document = {
        "uri": item.item_id,
        "type": "text",
        "version": str(item.version),
        "firstcreated": _iso(item.created),
        "versioncreated": _iso(item.updated),
        "pubstatus": item.pubstatus,
        "language": "en",
        "headline": item.headline,
        "byline": item.byline,
        "located": item.story.city,
        "copyrightholder": item.source,
        "body_text": "\n\n".join(item.paragraphs),
    }
    return orjson.dumps(document).decode()


def _nitf(item: WireItem, namespace: str = "") -> str:
    city = (
        f"<dateline><location><city>{_x(item.story.city)}</city></location></dateline>"
        if item.story.city
        else ""
    )
    return (
        f"<nitf{namespace}><head><title>{_x(item.headline)}</title><docdata>"
        f'<doc-id id-string="{_x(item.item_id)}"/><du-key version="{item.version}"/>'
        f'<date.release norm="{item.created:%Y%m%dT%H%M%S}+0000"/>'
        f'<date.issue norm="{item.updated:%Y%m%dT%H%M%S}+0000"/>'
        f'<doc.copyright holder="{_x(item.source)}"/></docdata></head>'
        f"<body><body.head><hedline><hl1>{_x(item.headline)}</hl1></hedline>"
        f"<byline>{_x(item.byline)}</byline>{city}</body.head>"
        f"<body.content>{_paras(item)}</body.content></body></nitf>"
    )


def render_nitf(item: WireItem) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + _nitf(item)


def render_newsml_g2(item: WireItem) -> str:
    located = f"<located><name>{_x(item.story.city)}</name></located>" if item.story.city else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="{_x(item.item_id)}" '
        f'version="{item.version}" standard="NewsML-G2" standardversion="2.24" xml:lang="en">'
        f'<itemMeta><itemClass qcode="ninat:text"/><provider literal="{_x(item.source)}"/>'
        f"<versionCreated>{_iso(item.updated)}</versionCreated>"
        f'<pubStatus qcode="stat:{item.pubstatus}"/></itemMeta>'
        f"<contentMeta><contentCreated>{_iso(item.created)}</contentCreated>{located}"
        f'<infoSource role="cpnat:originator"><name>{_x(item.source)}</name></infoSource>'
        f'<language tag="en"/><headline>{_x(item.headline)}</headline></contentMeta>'
        f'<contentSet><inlineXML contenttype="application/nitf+xml">'
        f"{_nitf(item, ' xmlns=' + chr(34) + 'http://iptc.org/std/NITF/2006-10-18/' + chr(34))}"
        f"</inlineXML></contentSet></newsItem>"
    )


def render_rss(item: WireItem) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>{_x(item.source)}</title><link>https://news.example.com/</link>"
        f"<description>{_x(item.source)} top news</description><language>en</language>"
        f"<item><title>{_x(item.headline)}</title><link>https://news.example.com/{item.story.number}</link>"
        f'<guid isPermaLink="false">{_x(item.item_id)}</guid>'
        f"<pubDate>{format_datetime(item.updated)}</pubDate>"
        f"<dc:creator>{_x(item.byline)}</dc:creator>"
        f"<content:encoded><![CDATA[{_paras(item)}]]></content:encoded></item></channel></rss>"
    )


def render_atom(item: WireItem) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">'
        f"<title>{_x(item.source)}</title><id>tag:news.example.com,2024:feed</id>"
        f"<updated>{_iso(item.updated)}</updated>"
        f"<entry><id>{_x(item.item_id)}</id><title>{_x(item.headline)}</title>"
        f"<published>{_iso(item.created)}</published><updated>{_iso(item.updated)}</updated>"
        f"<author><name>{_x(item.byline)}</name></author>"
        f'<link href="https://news.example.com/{item.story.number}"/>'
        f'<content type="html">{_x(_paras(item))}</content></entry></feed>'
    )


def render_text_page(item: WireItem) -> str:
    stamp = f"{item.updated:%B} {item.updated.day}, {item.updated:%Y %H:%M}"
    return "\n\n".join(
        [
            "Home >  World > ",
            item.headline,
            f"{item.source}Updated:  {stamp}",
            "Share | Print",
            *item.paragraphs,
            "Related News",
            "Editor: Staff",
        ]
    )


def render_html_page(item: WireItem) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_x(item.headline)} - {_x(item.source)}</title>"
        f'<meta property="og:site_name" content="{_x(item.source)}">'
        f'<meta property="article:published_time" content="{_iso(item.created)}">'
        f'<meta property="article:modified_time" content="{_iso(item.updated)}">'
        '</head><body><nav><a href="/">Home</a> &gt; <a href="/world">World</a></nav>'
        f"<article><h1>{_x(item.headline)}</h1>"
        f'<p class="byline">{_x(item.byline)}</p>{_paras(item)}</article>'
        "<footer>Copyright News Example. All rights reserved.</footer></body></html>"
    )


def render_envelope(item: WireItem) -> str:
    document = {
        "wire_ingest_envelope": 1,
        "source": item.source,
        "format": "text_page",
        "content_type": "text/plain",
        "received_at": _iso(item.updated),
        "payload": render_text_page(item),
    }
    return orjson.dumps(document).decode()


RENDERERS: dict[str, Callable[[WireItem], str]] = {
    "ninjs": render_ninjs,
    "newsml_g2": render_newsml_g2,
    "nitf": render_nitf,
    "rss": render_rss,
    "atom": render_atom,
    "text_page": render_text_page,
    "html_page": render_html_page,
    "envelope": render_envelope,
}


def render(wire_format: str, item: WireItem, target_bytes: int) -> bytes:
    """The item in `wire_format`, its body cut at a paragraph so the whole is about `target_bytes`."""
    renderer = RENDERERS[wire_format]
    paragraphs = list(item.paragraphs)
    overhead = len(renderer(_with_paragraphs(item, ())).encode())
    budget = max(400, target_bytes - overhead)
    kept: list[str] = []
    size = 0
    for paragraph in paragraphs:
        if kept and size + len(paragraph) > budget:
            remaining = budget - size
            if remaining > 120:  # finish with a cut sentence rather than leave the item short
                cut = paragraph[:remaining].rsplit(". ", 1)[0]
                kept.append(cut if cut.endswith(".") else cut + ".")
            break
        kept.append(paragraph)
        size += len(paragraph) + 9
    return renderer(_with_paragraphs(item, tuple(kept))).encode()


def _with_paragraphs(item: WireItem, paragraphs: tuple[str, ...]) -> WireItem:
    return replace(item, paragraphs=paragraphs)
