"""Text hygiene shared by the parsers and the normalizer: one place decides what clean text is.

Clean text is Unicode NFC, with HTML entities decoded, mojibake repaired where
ftfy can tell, control and zero-width characters removed and whitespace runs
collapsed. Typographic quotes and dashes are kept: they are part of the copy.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import cache

import ftfy
from ftfy.badness import BADNESS_RE, MOJIBAKE_CATEGORIES

# ftfy's defaults straighten curly quotes and fold character widths; wire copy keeps both.
_FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,
    uncurl_quotes=False,
    fix_character_width=False,
    fix_latin_ligatures=False,
    normalization="NFC",
    explain=False,
)

# Zero-width and bidi marks, soft hyphens and C0/C1 controls (tab and newline handled as whitespace).
_INVISIBLE = re.compile(
    "[\u00ad\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\ufeff\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]"
)
_BLANK_LINES = re.compile(r"\n\s*\n")
_ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]{1,31});")


def _expand(character_class: str) -> set[str]:
    """The characters of a regex class body (ranges expanded); ftfy's all lie below U+10000."""
    pattern = re.compile("[" + character_class + "]")
    return {chr(code) for code in range(0x80, 0x10000) if pattern.match(chr(code))}


@cache
def _mojibake_chars() -> tuple[re.Pattern[str], frozenset[str]]:
    """Every non-ASCII character ftfy's BADNESS_RE names (as one class), and those that can
    follow the ASCII or whitespace character some of its alternatives start with."""
    chars = _expand("".join(MOJIBAKE_CATEGORIES.values()))
    chars.update(c for c in BADNESS_RE.pattern if not c.isascii())
    # "[a-zA-Z][Greek/Cyrillic]", "\s[upper accented]", "[a-z][upper accented]", "[a-z]\s?[ÃÂ]",
    # "[a-z.,?!]Â": the only alternatives that do not start on one of `chars`.
    leads = _expand(
        MOJIBAKE_CATEGORIES["lower_common"]
        + MOJIBAKE_CATEGORIES["upper_common"]
        + MOJIBAKE_CATEGORIES["upper_accented"]
    )
    return re.compile("[" + "".join(re.escape(c) for c in sorted(chars)) + "]"), frozenset(leads)


def looks_like_mojibake(text: str) -> bool:
    """`ftfy.badness.is_bad`, trying BADNESS_RE only where one of its matches can start.

    BADNESS_RE tries ~40 alternatives at every position (~0.3 µs a character: 80 µs for a
    paragraph with curly quotes). Each alternative holds a character of `_mojibake_chars` and
    starts on it, or one character before it (two for "[a-z]\\s[ÃÂ]") when it is a letter
    that such an alternative names; only those positions are tried.
    """
    chars, leads = _mojibake_chars()
    tried = -1
    for match in chars.finditer(text):
        position = match.start()
        char = match.group()
        back = 2 if char in "ÃÂ" else 1 if char in leads else 0
        for start in range(max(position - back, tried + 1), position + 1):
            if BADNESS_RE.match(text, start):
                return True
        tried = position
    return False


def fix_encoding(text: str) -> str:
    """Repair mojibake (UTF-8 read as Latin-1 and the like) when ftfy detects it; else NFC only."""
    if text.isascii():
        return text
    # The mojibake check is cheap (see looks_like_mojibake); the full fixer only runs when it fires.
    if "\u00c3" in text or "\u00e2" in text or "\u00c2" in text or looks_like_mojibake(text):
        text = ftfy.fix_text(text, _FTFY_CONFIG)
    return unicodedata.normalize("NFC", text)


def unescape(text: str) -> str:
    """Decode HTML/XML character references (also double-escaped ones such as '&amp;amp;')."""
    for _ in range(2):
        if "&" not in text or not _ENTITY.search(text):
            break
        text = html.unescape(text)
    return text


def clean_line(text: str) -> str:
    """One paragraph or field: entities, mojibake, invisible characters, and whitespace on one line."""
    text = unescape(text)
    text = fix_encoding(text)
    # Every character _INVISIBLE removes is non-printable, and so is every whitespace character
    # but the plain space: printable text is clean once it has no double, leading or trailing space.
    if text.isprintable():
        if "  " not in text and text[:1] != " " and text[-1:] != " ":
            return text
    else:
        text = _INVISIBLE.sub("", text)
    # str.split() splits on exactly the whitespace left once _INVISIBLE has run (tab, newline,
    # no-break and typographic spaces); a regex sub would replace every single space instead.
    return " ".join(text.split())


def collapse_spaces(text: str) -> str:
    """`" ".join(text.split())`, without a string per word when the text is already collapsed."""
    # The plain space is the only printable whitespace character (see clean_line).
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())


def clean_optional(text: str | None) -> str | None:
    """`clean_line` for optional fields: empty results become None."""
    if text is None:
        return None
    cleaned = clean_line(text)
    return cleaned or None


def clean_paragraphs(paragraphs: tuple[str, ...] | list[str]) -> list[str]:
    """Clean each paragraph; a paragraph holding blank lines is split; empty ones are dropped."""
    out: list[str] = []
    for paragraph in paragraphs:
        # Most wire paragraphs are clean already: printable ASCII, no entity, spaces collapsed.
        if (
            paragraph.isascii()
            and paragraph.isprintable()
            and "&" not in paragraph
            and "  " not in paragraph
            and paragraph[:1] != " "
            and paragraph[-1:] != " "
        ):
            if paragraph:
                out.append(paragraph)
            continue
        for part in _BLANK_LINES.split(paragraph) if "\n" in paragraph else (paragraph,):
            cleaned = clean_line(part)
            if cleaned:
                out.append(cleaned)
    return out


def split_blocks(text: str) -> list[str]:
    """Split plain text into paragraphs on blank lines (line breaks inside one are kept)."""
    if "\n" not in text and "\r" not in text:  # one block: no regex split needed
        text = text.strip()
        return [text] if text else []
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [stripped for block in _BLANK_LINES.split(text) if (stripped := block.strip())]
