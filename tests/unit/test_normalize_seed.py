"""The seed story: a Xinhua page scraped as plain text, end to end through parse and normalize."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from service import ids
from service.models import CanonicalArticle, RecordMeta, WireFormat
from service.normalize import normalize
from service.parse import parse

SEED = Path(__file__).resolve().parents[2] / "service" / "data" / "samples" / "xinhua_xi_aliyev_samarkand.txt"
LEDE = "Chinese President Xi Jinping met with Azerbaijani President Ilham Aliyev"


@pytest.fixture(scope="module")
def article() -> CanonicalArticle:
    raw = SEED.read_bytes()
    items = parse(raw)
    assert len(items) == 1
    record = RecordMeta(topic="wire.raw", partition=0, offset=0)
    return normalize(items[0], record, raw_sha256=ids.sha256_hex(raw))


def test_seed_is_detected_as_text_page(article: CanonicalArticle) -> None:
    """Plain text with no markup is read by the text-page parser."""
    assert article.lineage.format is WireFormat.TEXT_PAGE


def test_seed_headline_and_source(article: CanonicalArticle) -> None:
    """The headline is the first real line; the source is the name glued to 'Updated:'."""
    assert article.headline == "Xi meets with Azerbaijani President Aliyev"
    assert article.source == "Xinhua"
    assert article.section == "Leaders"


def test_seed_dateline_is_samarkand_uzbekistan(article: CanonicalArticle) -> None:
    """The dateline comes from 'in Samarkand, Uzbekistan' in the first body sentence."""
    assert article.dateline is not None
    assert article.dateline.city == "Samarkand"
    assert article.dateline.country == "Uzbekistan"


def test_seed_dates(article: CanonicalArticle) -> None:
    """firstcreated is the caption's 'Sept. 15, 2022'; versioncreated the 'Updated: September 16, 2022'."""
    assert article.firstcreated.date() == date(2022, 9, 15)
    assert article.versioncreated.date() == date(2022, 9, 16)
    assert "versioncreated_from_record" not in article.date_flags


def test_seed_body_starts_once_and_ends_with_attendees(article: CanonicalArticle) -> None:
    """The lede repeated at the top of the page is kept once; the body ends with the attendees."""
    assert article.body_text.startswith(LEDE)
    assert article.body_text.count(LEDE) == 1
    assert article.body_text.endswith("He Lifeng and other officials attended the meeting.")


def test_seed_caption_is_not_body(article: CanonicalArticle) -> None:
    """The photo caption becomes a Caption with its credit and leaves the body."""
    assert len(article.captions) == 1
    caption = article.captions[0]
    assert caption.credit == "Xinhua/Zhai Jianlan"
    assert caption.text.startswith("Chinese President Xi Jinping meets with")
    assert "Zhai Jianlan" not in article.body_text
    assert "Sept. 15, 2022" not in article.body_text


@pytest.mark.parametrize(
    "junk", ["Home >", "Home", "×", "XinhuaUpdated", "Updated:", "Top News", "\nLeaders\n"]
)
def test_seed_body_has_no_page_furniture(article: CanonicalArticle, junk: str) -> None:
    """Breadcrumbs, UI glyphs, the 'Updated:' line and the section label are not body text."""
    assert junk not in article.body_text


def test_seed_paragraphs_are_clean(article: CanonicalArticle) -> None:
    """Paragraphs are separated by exactly one blank line, without stray whitespace."""
    paragraphs = article.body_text.split("\n\n")
    assert len(paragraphs) == 7
    assert all(p == p.strip() and "\n" not in p and "  " not in p for p in paragraphs)


def test_seed_ids_are_deterministic(article: CanonicalArticle) -> None:
    """Parsing the same bytes again yields the same event, item and story IDs."""
    raw = SEED.read_bytes()
    again = normalize(
        parse(raw)[0], RecordMeta(topic="t", partition=1, offset=9), raw_sha256=ids.sha256_hex(raw)
    )
    assert (again.event_id, again.item_id, again.story_id) == (
        article.event_id,
        article.item_id,
        article.story_id,
    )
    assert article.content_hash == ids.sha256_hex(article.headline + "\n\n" + article.body_text)
    assert article.language == "en"
