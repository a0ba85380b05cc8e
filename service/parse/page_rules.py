"""Rules for scraped article pages that generic extractors miss on news-agency sites.

Shared by the plain-text and the HTML page parsers. Each rule works on one
block (a paragraph or line) of the page:

- breadcrumbs ("Home > Top News >"), lines with no letters ("×", "|"), share
  bars and UI words ("Share", "Print", "Close") are dropped;
- "Updated:" / "Published:" / "Source:" lines are dropped but read: their dates
  become `page_dates`, a name glued in front ("XinhuaUpdated: ...") or after
  "Source:" becomes the source;
- a related-stories heading or a copyright/footer line ends the article;
- a paragraph ending in a photo credit "(Agency/Photographer)" or starting with
  "Photo:" is a caption, not body text;
- a lede repeated at the top of the page (standfirst, then the story) is kept once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..dates import parse_date
from ..text import collapse_spaces
from .places import WIRE_DATELINE, find_place

_BREADCRUMB_SEP = re.compile(r"\s*(?:>|›|»|/|\|)\s*")
_BREADCRUMB_START = re.compile(
    r"^\s*(?:home|homepage|start|startseite|accueil|inicio|news)\s*(?:>|›|»)", re.I
)
_NO_LETTERS = re.compile(r"^[\W_\d]*$")
_UI_WORDS = frozenset(
    {
        "share", "print", "close", "email", "e-mail", "mail", "facebook", "twitter", "x", "whatsapp",
        "linkedin", "telegram", "weibo", "wechat", "copy", "link", "comment", "comments", "font", "size",
        "a", "a+", "a-", "menu", "search", "subscribe", "login", "log", "in", "sign", "advertisement",
        "ad", "tweet", "pin", "save", "bookmark", "listen", "more", "next", "previous", "prev", "back", "top",
        "this", "article", "story", "page", "on",
    }
)  # fmt: skip
_UI_SPLIT = re.compile(r"[\s|,·•/]+")
_META = re.compile(
    r"^(?P<pre>.{0,60}?)\b(?P<label>Last updated|Updated|Published|Posted|Source|Date|Editor|Editors|"
    r"Writer|Reporter|Author|By)\s*:\s*(?P<value>.*)$",
    re.I,
)
# "XinhuaUpdated:" -- a site name glued to the label when the page was saved as text.
_GLUED_LABEL = re.compile(r"([a-z])(Updated|Published|Posted|Source)\s*:")
_DATE_LABELS = frozenset({"last updated", "updated", "published", "posted", "date"})
_SOURCE_LABELS = frozenset({"source"})
_PEOPLE_LABELS = frozenset({"editor", "editors", "writer", "reporter", "author", "by"})
_END_MARKERS = re.compile(
    r"^(?:related (?:news|stories|articles|content|coverage|links)?|more (?:stories|news|from|on)\b.*|"
    r"read more|you may also like|recommended|most (?:read|popular|viewed)|trending|top stories|"
    r"latest news|further reading)\s*:?$",
    re.I,
)
_FOOTER = re.compile(r"^(?:copyright|©|\(c\)|all rights reserved)|all rights reserved\.?$", re.I)
# The second alternative of _FOOTER matches one character per pattern character (no case
# folding to several), so it lies in the last 21: "all rights reserved", ".", a final newline.
_FOOTER_TAIL = 21
# "(Xinhua/Zhai Jianlan)", "(AP Photo/Evan Vucci)", "(Photo: Reuters)", "(Photo by Jane Doe/AFP)"
_CREDIT_END = re.compile(
    r"\s*\((?P<credit>(?:photo(?:graph)?\s*(?:by|:)\s*)?[^()]{2,60}?/[^()]{2,60}|"
    r"(?:photo(?:graph)?|picture|image|file photo)\s*(?:by|:)\s*[^()]{2,60})\)\s*\.?$",
    re.I,
)
_CREDIT_START = re.compile(
    r"^(?:photo|picture|image|file photo)\s*(?:by|:)\s*(?P<credit>[^.]{2,60}?)\s*[.:]\s+", re.I
)
_SENTENCE_END = re.compile(r"[.!?\"”’)]$")
_MONTH_DAY_YEAR = re.compile(
    r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.? \d{1,2}(?:, \d{4})",
)
_AGENCY_IN_CREDIT = re.compile(
    r"^(?:photo(?:graph)?\s*(?:by|:)\s*)?(?P<agency>[A-Z][A-Za-z]+(?: [A-Z][A-Za-z]+)?)\s*(?:Photo)?/"
)

MAX_META_LEN = 160
MAX_HEADLINE_LEN = 250
MAX_LABEL_WORDS = 3


@dataclass
class PageParts:
    """What the page rules pulled out of a list of blocks."""

    headline: str | None = None
    section: str | None = None
    source: str | None = None
    byline: str | None = None
    body: list[str] = field(default_factory=list)
    captions: list[tuple[str, str | None]] = field(default_factory=list)
    page_dates: list[str] = field(default_factory=list)
    updated: str | None = None
    published: str | None = None
    caption_date: str | None = None
    dateline: str | None = None


def is_breadcrumb(block: str) -> bool:
    if len(block) > MAX_META_LEN:
        return False
    if _BREADCRUMB_START.match(block):
        return True
    return block.count(">") >= 2 or block.count("›") >= 2 or block.count("»") >= 2


def is_ui(block: str) -> bool:
    """Lines with no letters or made only of UI words ("Share | Print | ×")."""
    if _NO_LETTERS.match(block):
        return True
    if len(block) > 80:
        return False
    # A loop that stops at the first word of prose (no list, no generator): most short blocks
    # are headlines and short paragraphs.
    empty = True
    for word in _UI_SPLIT.split(block.lower()):
        if word:
            if word not in _UI_WORDS and not _NO_LETTERS.match(word):
                return False
            empty = False
    return not empty


def _credit_at_end(block: str) -> re.Match[str] | None:
    """_CREDIT_END's match in the block, searched only where one can start."""
    # _CREDIT_END must end in ")" (then spaces and a full stop): most blocks fail that test. Its
    # credit holds no parenthesis, so a match opens at the block's last "(" (or the spaces before
    # it): searching from there spares the bounded but costly tries at every earlier "(" (2 µs a
    # byte on "(photo by ////...": 8 s for a 4 MB page).
    if not block.rstrip().removesuffix(".").rstrip().endswith(")"):
        return None
    opening = block.rfind("(")
    return _CREDIT_END.search(block, len(block[:opening].rstrip())) if opening >= 0 else None


def caption_of(block: str) -> tuple[str, str] | None:
    """(caption text, credit) when the block is a photo caption."""
    match = _credit_at_end(block)
    if match is not None and len(block) - len(match.group(0)) >= 10:
        return block[: match.start()].rstrip(), match.group("credit").strip()
    match = _CREDIT_START.match(block)
    if match is not None:
        return block[match.end() :].strip(), match.group("credit").strip()
    return None


def agency_of_credit(credit: str) -> str | None:
    """'Xinhua/Zhai Jianlan' -> 'Xinhua'; 'AP Photo/Evan Vucci' -> 'AP'."""
    match = _AGENCY_IN_CREDIT.match(credit)
    return match.group("agency") if match else None


def _read_meta(block: str, parts: PageParts) -> bool:
    """Consume an 'Updated:'-style line (possibly several joined by '|'); False when it is not one."""
    if len(block) > MAX_META_LEN or ":" not in block:
        return False
    block = _GLUED_LABEL.sub(r"\1 \2:", block)
    pieces = [p.strip() for p in block.split("|")] if "|" in block else [block]
    found: list[tuple[str, str, str]] = []
    loose: list[str] = []
    for piece in pieces:
        match = _META.match(piece)
        if match is None:
            loose.append(piece)
            continue
        found.append(
            (match.group("pre").strip(" |-–—,"), match.group("label").lower(), match.group("value").strip())
        )
    if not found:
        return False
    for _, label, value in found:
        words = len(value.split())
        if label in _DATE_LABELS:
            if parse_date(value) is None:
                return False
        elif (label in _SOURCE_LABELS and words > 6) or (label in _PEOPLE_LABELS and words > 8):
            return False
    for pre, label, value in found:
        if pre and len(pre.split()) <= 4 and parts.source is None:
            parts.source = pre
        if label in _DATE_LABELS:
            parts.page_dates.append(value)
            if label in {"published", "posted", "date"}:
                parts.published = parts.published or value
            else:
                parts.updated = parts.updated or value
        elif label in _SOURCE_LABELS:
            parts.source = value or parts.source
        elif label in {"by", "writer", "reporter", "author"}:
            parts.byline = parts.byline or value
    for piece in loose:
        if piece[:3].lower() == "by " and len(piece.split()) <= 8:
            parts.byline = parts.byline or piece[3:].strip()
        elif parts.source is None and 0 < len(piece.split()) <= 3 and not _NO_LETTERS.match(piece):
            parts.source = piece
    return True


def _is_label(block: str) -> bool:
    # split() stops once there are too many words to be a label; _SENTENCE_END matches the last
    # character or the one before a final newline, so only the last two are searched.
    return (
        len(block.split(None, MAX_LABEL_WORDS)) <= MAX_LABEL_WORDS
        and not _SENTENCE_END.search(block[-2:])
        and "\n" not in block
    )


def _is_footer(block: str) -> bool:
    """`_FOOTER.search(block)`, its end-anchored alternative tried only where it can start."""
    return (
        _FOOTER.match(block) is not None
        or _FOOTER.search(block, max(len(block) - _FOOTER_TAIL, 0)) is not None
    )


def _norm(block: str) -> str:
    return _norm_collapsed(collapse_spaces(block))


def _norm_collapsed(block: str) -> str:
    """`_norm` of a block whose whitespace is already collapsed (every block `apply` keeps)."""
    return block.rstrip(".…").strip().lower()


def apply(blocks: list[str], *, headline: str | None = None, collapsed: bool = False) -> PageParts:
    """Run the page rules over the page's blocks in order (headline given when markup told us).

    `collapsed`: every block is already `collapse_spaces` output (HTML blocks are), so the
    rules need not scan each again for whitespace to collapse.
    """
    parts = PageParts(headline=headline)
    headline_key = _norm(headline) if headline is not None else None
    kept: list[str] = []
    kept_keys: list[str] = []  # `_norm_collapsed` of each kept block, for `_drop_repeated_lede`
    for raw_block in blocks:
        block = raw_block if collapsed else collapse_spaces(raw_block)
        if not block:
            continue
        if is_breadcrumb(block) or is_ui(block):
            continue
        if _END_MARKERS.match(block) and parts.headline is not None and kept:
            break
        if len(block) < MAX_META_LEN and _is_footer(block):
            if kept:
                break
            continue
        if _read_meta(block, parts):
            continue
        if parts.headline is None:
            if _is_label(block) and len(block.split()) < 3:
                parts.section = parts.section or block
                continue
            if len(block) <= MAX_HEADLINE_LEN:
                parts.headline = block
                continue
        elif not kept and _is_label(block) and _norm_collapsed(block) != _norm(parts.headline):
            parts.section = parts.section or block
            continue
        key = _norm_collapsed(block)
        if key == headline_key:
            continue
        caption = caption_of(block)
        if caption is not None:
            parts.captions.append(caption)
            if parts.caption_date is None:
                date_match = _MONTH_DAY_YEAR.search(caption[0])
                if date_match is not None:
                    parts.caption_date = date_match.group(0)
            continue
        kept.append(block)
        kept_keys.append(key)
    parts.body = _drop_repeated_lede(kept, kept_keys)
    if parts.source is None:
        for _, credit in parts.captions:
            agency = agency_of_credit(credit) if credit else None
            if agency:
                parts.source = agency
                break
    parts.dateline = _dateline(parts)
    return parts


def _drop_repeated_lede(paragraphs: list[str], normalized: list[str]) -> list[str]:
    """Keep the first copy of a paragraph; a standfirst that a later paragraph starts with goes too.

    The paragraphs are blocks `apply` kept, their whitespace already collapsed; `normalized`
    holds their `_norm_collapsed` keys, which `apply` has computed already.
    """
    seen: set[str] = set()
    out: list[str] = []
    for index, (paragraph, key) in enumerate(zip(paragraphs, normalized, strict=True)):
        if key in seen:
            continue
        # A truncated standfirst ("Chinese President Xi ... met with...") ahead of the full lede.
        if (
            index < 2
            and len(key) > 40
            and any(other != key and other.startswith(key) for other in normalized[index + 1 : index + 4])
        ):
            continue
        seen.add(key)
        out.append(paragraph)
    return out


def _dateline(parts: PageParts) -> str | None:
    """Place of the story: 'in City, Country' in the first body sentence, else in the first caption."""
    if parts.body and WIRE_DATELINE.match(parts.body[0]):
        return None  # the story's own dateline; normalize reads it with its date
    if parts.body:
        first_sentence = parts.body[0].split(". ", 1)[0]
        place = find_place(first_sentence)
        if place is not None:
            return place
    for text, _ in parts.captions[:1]:
        place = find_place(text)
        if place is not None:
            return place
    return None
