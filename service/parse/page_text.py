"""Scraped article pages saved as plain text (one block per blank-line-separated paragraph)."""

from __future__ import annotations

from ..models import Caption, ParsedItem, WireFormat
from ..text import split_blocks
from . import page_rules

_WRAPPED_LINE_MIN = 50


def parse_text_page(text: str) -> list[ParsedItem]:
    """One item from a plain-text page: the page rules decide headline, body, captions and dates."""
    blocks: list[str] = []
    for block in split_blocks(text):
        if "\n" not in block:  # one line, stripped by split_blocks: the block as it is
            blocks.append(block)
            continue
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        # Pages saved as text keep UI lines glued to a paragraph ("XinhuaUpdated: ...\n×"), while
        # hard-wrapped copy has only long lines before the last: split the first, join the second.
        if any(len(line) < _WRAPPED_LINE_MIN for line in lines[:-1]):
            blocks.extend(lines)
        else:
            blocks.append(" ".join(lines))
    parts = page_rules.apply(blocks)
    return [
        ParsedItem(
            format=WireFormat.TEXT_PAGE,
            source=parts.source,
            headline=parts.headline,
            body_paragraphs=tuple(parts.body),
            byline=parts.byline,
            dateline=parts.dateline,
            # The caption states when the pictured event happened: the best first-created date a page gives.
            firstcreated=parts.published or parts.caption_date,
            versioncreated=parts.updated,
            page_dates=tuple(parts.page_dates),
            section=parts.section,
            captions=tuple(Caption(text=t, credit=c) for t, c in parts.captions),
        )
    ]
