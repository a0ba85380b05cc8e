"""The text a fingerprint is computed from: the feed's packaging removed, the story kept."""

from __future__ import annotations

import pytest

from service.dedupe import Deduplicator, MemoryStore
from service.dedupe.testing import make_article
from service.dedupe.text import fingerprint_text
from service.models import Relation
from service.settings import DedupeBackend, DedupeSettings

STORY = (
    "Acme Corp said it will buy back up to 750,000 common shares in the open market "
    "from time to time within the next year.\n\n"
    "Morgan Stanley will act as agent."
)


def test_packaging_at_the_edges_is_removed() -> None:
    """Slug, tag, byline paragraph, lead dateline and footers go; the story's words stay in order."""
    text = fingerprint_text(
        "UPDATE 2-Acme to repurchase shares (corrected)",
        "By Jane Doe, Wire B correspondent\n\nNEW YORK, March 2 - " + STORY + "\n\n"
        "(Reporting by Jane Doe; editing by the night desk)\n\n"
        "Copyright 1987 Wire B. All rights reserved.",
        dateline="NEW YORK, March 2",
    )
    assert text == "Acme to repurchase shares\n\n" + STORY


@pytest.mark.parametrize(
    "byline",
    ["By MARY SMITH, Associated Press Writer", "From our wire services", "WIRE B NEWS SERVICE", "Staff"],
)
def test_byline_styles(byline: str) -> None:
    """Bylines and desk credits in several agencies' styles open no fingerprint."""
    assert fingerprint_text("Acme buys back shares", f"{byline}\n\n{STORY}") == fingerprint_text(
        "Acme buys back shares", STORY
    )


@pytest.mark.parametrize(
    "opening",
    [
        "By noon, Acme shares had fallen.",
        "By Tuesday, the strike had ended",
        "It was called off by union staff.",
    ],
)
def test_paragraphs_that_only_look_like_packaging_stay(opening: str) -> None:
    """A short opening that is the story, and a byline-like paragraph mid-story, are kept."""
    assert opening in fingerprint_text("Acme falls", f"{opening}\n\n{STORY}")
    middle = f"{STORY}\n\nBy Jane Doe\n\nThe offer ends in May."
    assert "Jane Doe" in fingerprint_text("Acme falls", middle)


async def test_a_short_story_repackaged_by_another_feed_is_a_near_duplicate() -> None:
    """A one-sentence story with another feed's slug, byline and footer joins the original's story.

    Packaging is most of such a reprint's words: their shingles alone estimate ~0.46.
    """
    short = "Acme Corp said it will buy back up to 750,000 common shares in the open market."
    settings = DedupeSettings(backend=DedupeBackend.MEMORY)
    dedupe = Deduplicator(MemoryStore(window_seconds=86_400.0, max_stories=100), settings)
    first = await dedupe.decide(
        make_article(source="wire-a", headline="ACME TO REPURCHASE SHARES", body=short)
    )
    reprint = make_article(
        source="wire-b",
        item_id="other",
        headline="WRAPUP-Acme To Repurchase Shares",
        body="By Jane Doe, Wire B correspondent\n\n"
        + short
        + "\n\nFor more business news, subscribe to the Wire B daily digest.",
    )
    out = await dedupe.decide(reprint)
    await dedupe.close()
    assert out.dedupe.relation is Relation.NEAR_DUPLICATE
    assert out.story_id == first.story_id


def test_dateline_is_removed_only_where_the_article_has_it() -> None:
    """The body loses the dateline normalize found at its start (and the dash), nothing when it has none."""
    body = "LONDON (Reuters) - " + STORY
    assert fingerprint_text("H", body, dateline="LONDON (Reuters)") == "H\n\n" + STORY
    assert fingerprint_text("H", body) == "H\n\n" + body
    assert fingerprint_text("H", STORY, dateline="PARIS") == "H\n\n" + STORY


def test_hostile_input_is_read_in_one_pass() -> None:
    """2 MB of open tags in a headline and a body of one huge paragraph end (a quadratic scan would hang)."""
    headline = "(adds " * 350_000 + "(corrected)"
    body = "By Jane Doe\n\n" + "word " * 400_000 + "\n\nCopyright 1987 Wire B."
    text = fingerprint_text(headline, body)
    assert text.startswith("(adds (adds") and not text.endswith("Wire B.")
    assert "By Jane Doe" not in text
