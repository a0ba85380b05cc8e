"""Fast paths in text, dates and page rules give what the slow general code gives."""

from __future__ import annotations

import random
import re
from datetime import datetime

import pytest
from dateutil import parser as dateutil_parser
from ftfy.badness import MOJIBAKE_CATEGORIES, is_bad

from service import dates, text
from service.parse import page_rules

_OLD_SPACES = re.compile(r"[ \t\f\v\r\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_ALPHABET = list(
    "ab c.)(\t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2028\u2029\u2000\u200b\u3000\u202f&;#amp é\u00c3\u00a9\x00"
)


def _old_clean_line(value: str) -> str:
    value = text.fix_encoding(text.unescape(value))
    value = text._INVISIBLE.sub("", value)
    return _OLD_SPACES.sub(" ", value.replace("\n", " ")).strip()


def _random_strings(seed: int, count: int, size: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, size))) for _ in range(count)]


def test_clean_line_collapses_whitespace_as_the_regex_did() -> None:
    """str.split-based collapsing equals the former whitespace regex on every kind of space."""
    for value in _random_strings(seed=7, count=20000, size=24):
        assert text.clean_line(value) == _old_clean_line(value), repr(value)


def test_clean_paragraphs_fast_path_matches_clean_line() -> None:
    """Paragraphs taken as they are give what cleaning each blank-line-separated part gives."""
    values = [*_random_strings(seed=13, count=20000, size=24), "Plain clean text.", "", " lead", "a  b"]
    for value in values:
        expected = [c for part in text._BLANK_LINES.split(value) if (c := _old_clean_line(part))]
        assert text.clean_paragraphs([value]) == expected, repr(value)


def test_mojibake_check_agrees_with_ftfy() -> None:
    """looks_like_mojibake answers as ftfy's is_bad on text dense in the characters it weighs."""
    listed = sorted(text._mojibake_chars()[0].pattern)
    rng = random.Random(21)
    pool = [*listed, *"abcXYZ .,?!\n\t", "é", "ü", "中", "\u2009", "Ã", "Â", "“", "”", "’", "—"]
    # A second, small alphabet around the alternatives that start before a listed character.
    leads = [*"aZq .,?!\u2009", "Ã", "Â", "É", "Ω", "α", "Ж", "ж", "¤", "£", "»", "«", "“", "¹", "×", "€"]
    verdicts = set()
    for attempt in range(200000):
        alphabet = pool if attempt % 2 else leads
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10)))
        value = "x" * rng.randint(0, 3) + value + " y" * rng.randint(0, 3)
        verdict = is_bad(value)
        verdicts.add(verdict)
        assert text.looks_like_mojibake(value) == verdict, repr(value)
    assert verdicts == {True, False}


def test_mojibake_check_on_wire_prose() -> None:
    """Typographic quotes and dashes in real copy are not mojibake; UTF-8 read as cp1252 is."""
    prose = "“We will work with partners,” the minister said — the SCO’s first summit since 2019."
    assert text.looks_like_mojibake(prose) is is_bad(prose) is False
    broken = prose.encode("utf-8").decode("cp1252", errors="replace")
    assert text.looks_like_mojibake(broken) is is_bad(broken) is True


def test_mojibake_characters_are_all_in_the_basic_plane() -> None:
    """Every character ftfy's categories name lies below U+10000, where the class is built from."""
    listed = re.compile("[" + "".join(MOJIBAKE_CATEGORIES.values()) + "]")
    assert not any(listed.match(chr(code)) for code in range(0x10000, 0x110000, 1))


def test_collapse_spaces_is_split_and_join() -> None:
    """collapse_spaces returns what ' '.join(text.split()) returns, for any mix of spaces."""
    for value in _random_strings(seed=5, count=20000, size=16):
        assert text.collapse_spaces(value) == " ".join(value.split()), repr(value)


def test_caption_precheck_never_hides_a_credit() -> None:
    """caption_of finds a trailing credit exactly when a plain search of the pattern does."""
    endings = ["", ")", ") .", ").", ")\n", ") x", " (AP Photo/Evan Vucci)", " (Xinhua/Li Ming) ."]
    rng = random.Random(3)
    for value in _random_strings(seed=11, count=5000, size=30):
        block = "A photo of the summit hall in Samarkand " + value + rng.choice(endings)
        match = page_rules._CREDIT_END.search(block)
        expected = match is not None and len(block) - len(match.group(0)) >= 10
        found = page_rules.caption_of(block)
        if expected:
            assert found is not None and found[1] == match.group("credit").strip(), repr(block)  # type: ignore[union-attr]
        elif not page_rules._CREDIT_START.match(block):
            assert found is None, repr(block)


def test_footer_and_label_checks_match_the_plain_patterns() -> None:
    """_is_footer is `_FOOTER.search`, _is_label the whole-block split and search, on any block."""
    pieces = ["all rights reserved", "ALL Rights RESERVED.", "copyright ", "© ", "(c)", "ſ", "K", "ı"]
    rng = random.Random(17)
    for value in _random_strings(seed=13, count=20000, size=12):
        block = "".join(rng.choice([value, *pieces]) for _ in range(rng.randint(0, 4)))
        assert page_rules._is_footer(block) == bool(page_rules._FOOTER.search(block)), repr(block)
        words = len(block.split())
        plain = words <= page_rules.MAX_LABEL_WORDS and not page_rules._SENTENCE_END.search(block)
        assert page_rules._is_label(block) == (plain and "\n" not in block), repr(block)


@pytest.mark.parametrize(
    ("value", "default_year", "expected"),
    [
        ("September 16, 2022", None, datetime(2022, 9, 16)),
        ("Sept. 15", 2022, datetime(2022, 9, 15)),
        ("March 4, 2024 06:00", None, datetime(2024, 3, 4, 6, 0)),
        ("mar 4 2024 6:05:09", None, datetime(2024, 3, 4, 6, 5, 9)),
    ],
)
def test_prose_dates_read_like_dateutil(value: str, default_year: int | None, expected: datetime) -> None:
    """The common prose shapes are read without dateutil, to the value dateutil gives."""
    assert dates._prose_date(value, default_year) == expected
    assert dateutil_parser.parse(value, default=datetime(default_year or 2000, 1, 1)) == expected


def test_prose_date_without_year_needs_a_default_year() -> None:
    """'Sept. 15' alone is no date: the year is never made up."""
    assert dates._prose_date("Sept. 15", None) is None
    assert dates.parse_date("Sept. 15") is None


def test_prose_date_fast_path_agrees_with_dateutil() -> None:
    """Whatever the fast path accepts (odd days, hours, month spellings), dateutil reads the same."""
    months = [*dates._MONTHS, "March", "SEPT", "Mayo", "Septem", "sEpTeMbEr", "Janu", "Ju"]
    rng = random.Random(9)
    accepted = 0
    for _ in range(20000):
        value = f"{rng.choice(months)}{rng.choice(['', '.'])} {rng.choice([0, 1, 9, 15, 29, 30, 31, 32])}"
        if rng.random() < 0.8:
            value += f"{rng.choice([',', ''])} {rng.choice([1899, 1987, 2023, 2024, 2300])}"
            if rng.random() < 0.6:
                value += f" {rng.choice(['0', '6', '06', '23', '24'])}:{rng.choice(['00', '59', '60'])}"
        default_year = rng.choice([None, 2023, 2024])
        fast = dates._prose_date(value, default_year)
        if fast is None:
            continue
        accepted += 1
        reference = dateutil_parser.parse(value, default=datetime(default_year or 2000, 1, 1))
        assert fast == reference, value
    assert accepted > 1000
