"""Leader salience: the people an article is about are subjects; passing mentions are kept as mentioned."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from service.enrich import Enricher, load_enricher
from service.enrich.leader_salience import (
    SUBJECT_SCORE,
    Evidence,
    credits_other,
    evidence,
    salience,
    score,
)
from service.models import CanonicalArticle, LeaderMention, LeaderRole, Lineage, WireFormat
from service.settings import EnrichSettings

SEED_HEADLINE = "Xi meets with Azerbaijani President Aliyev"
SEED_BODY = (
    "Chinese President Xi Jinping met with Azerbaijani President Ilham Aliyev on Thursday afternoon "
    "at Forumlar Majmuasi Complex in Samarkand, Uzbekistan.\n\n"
    "Xi noted that this year marks the 30th anniversary of the establishment of diplomatic relations "
    "between China and Azerbaijan.\n\n"
    "Aliyev said that Azerbaijan and China are true strategic partners."
)
WHEN_1987 = date(1987, 4, 1)


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return load_enricher(EnrichSettings())


def _by_name(
    enricher: Enricher, headline: str, body: str, when: date = WHEN_1987
) -> dict[str, LeaderMention]:
    return {m.name: m for m in enricher.analyze(headline, body, when).leaders}


def test_seed_story_keeps_xi_and_aliyev_as_subjects(enricher: Enricher) -> None:
    """Both presidents of the seed story are its subjects, with salience at least 0.5."""
    article = CanonicalArticle(
        event_id="e1",
        story_id="s1",
        item_id="i1",
        version="1",
        source="test",
        headline=SEED_HEADLINE,
        body_text=SEED_BODY,
        firstcreated=datetime(2022, 9, 15, tzinfo=UTC),
        versioncreated=datetime(2022, 9, 15, tzinfo=UTC),
        content_hash="0" * 64,
        lineage=Lineage(
            topic="t", partition=0, offset=0, format=WireFormat.NINJS, parser_version="p", raw_sha256="0" * 64
        ),
    )
    leaders = {m.wikidata_id: m for m in enricher.enrich(article).leaders}
    assert set(leaders) == {"Q15031", "Q57371"}
    for mention in leaders.values():
        assert mention.article_role is LeaderRole.SUBJECT
        assert 0.5 <= mention.salience <= 1.0


def test_passing_mention_is_kept_as_mentioned(enricher: Enricher) -> None:
    """A leader named once, in passing, is still output, with role `mentioned`."""
    leaders = _by_name(
        enricher,
        "CANADA WELCOMES LATEST ACID RAIN PLEDGE",
        "Prime Minister Brian Mulroney said in Ottawa he welcomed the plan. Mulroney said talks "
        "would go on. The plan was sent to President Reagan on Monday.",
    )
    assert leaders["Ronald Reagan"].article_role is LeaderRole.MENTIONED
    assert leaders["Ronald Reagan"].salience < 0.5
    assert leaders["Brian Mulroney"].article_role is LeaderRole.SUBJECT


def test_headline_mention_makes_a_subject(enricher: Enricher) -> None:
    """A leader named in the headline is a subject even when the body names them once."""
    leaders = _by_name(
        enricher, "CANADA WELCOMES LATEST REAGAN ACID RAIN PLEDGE", "The plan of President Reagan."
    )
    assert leaders["Ronald Reagan"].article_role is LeaderRole.SUBJECT


def test_office_in_an_all_capitals_headline_counts_as_a_headline_mention(enricher: Enricher) -> None:
    """ "TURKISH PREMIER HINTS ..." names the office holder: case cannot tell "HINTS" from a name."""
    leaders = _by_name(enricher, "TURKISH PREMIER HINTS AT AEGEAN TALKS", "Officials said talks may follow.")
    assert leaders["Turgut Özal"].first_offset == len("TURKISH ")
    assert leaders["Turgut Özal"].article_role is LeaderRole.SUBJECT


def test_all_capitals_headline_title_before_a_known_name_is_that_person(enricher: Enricher) -> None:
    """ "PRESIDENT REAGAN VOWS" is still read as title and name, not as the office alone."""
    (reagan,) = enricher.analyze("PRESIDENT REAGAN VOWS TO VETO", "No tax rise.", WHEN_1987).leaders
    assert reagan.name == "Ronald Reagan" and reagan.resolved_by.value == "title_and_name"


def test_repeated_sentence_subject_is_a_subject(enricher: Enricher) -> None:
    """Two body mentions that start sentences make a subject; two in mid-sentence do not."""
    subject = _by_name(
        enricher,
        "TRADE TALKS OPEN",
        "Talks began on Monday. President Reagan said he hoped for a deal. "
        "Reagan added that tariffs would stay.",
    )
    passing = _by_name(
        enricher,
        "TRADE TALKS OPEN",
        "Talks began after a letter to President Reagan on Monday, and a reply from Reagan followed.",
    )
    assert subject["Ronald Reagan"].article_role is LeaderRole.SUBJECT
    assert passing["Ronald Reagan"].article_role is LeaderRole.MENTIONED


def test_headline_crediting_someone_else_demotes_a_body_only_leader(enricher: Enricher) -> None:
    """ "BAKER SAYS ..." makes Baker the actor: three body mentions of Reagan are not enough."""
    body = (
        "Treasury Secretary Baker spoke on Monday. President Reagan backs the plan, and Reagan will sign it."
    )
    plain = _by_name(enricher, "DOLLAR PLAN ADVANCES", body)
    credited = _by_name(enricher, "BAKER SAYS DOLLAR PLAN ADVANCES", body)
    assert plain["Ronald Reagan"].article_role is LeaderRole.SUBJECT
    assert credited["Ronald Reagan"].article_role is LeaderRole.MENTIONED


def test_another_leader_in_the_headline_demotes_one_only_in_the_body(enricher: Enricher) -> None:
    """With Nakasone in the headline, Reagan's two plain body mentions make him mentioned."""
    leaders = _by_name(
        enricher,
        "NAKASONE TO VISIT WASHINGTON",
        "Prime Minister Yasuhiro Nakasone will meet President Reagan, "
        "and Reagan aides said talks would cover trade.",
    )
    assert leaders["Yasuhiro Nakasone"].article_role is LeaderRole.SUBJECT
    assert leaders["Ronald Reagan"].article_role is LeaderRole.MENTIONED


@pytest.mark.parametrize(
    ("headline", "expected"),
    [
        ("BAKER SAYS U.S. OPPOSES SOVIET BANK MEMBERSHIP", True),
        ("U.S. MAY DROP TARIFFS IF JAPAN OPENS UP - YEUTTER", True),
        ("STERLING REBOUNDS ON LAWSON TARGET-DENIAL", True),
        ("U.S. BUDGET DIRECTOR PREDICTS COMPROMISE", True),
        ("Xi meets with Azerbaijani President Aliyev", False),
        ("JAPAN TRIES TO STEM STOCKS DIVE", False),
        ("U.S.-JAPAN TALKS SEEN NO DELAY TO TARIFFS", False),
    ],
)
def test_credits_other(headline: str, expected: bool) -> None:
    """Attribution ("X SAYS", "- X", "X-DENIAL") and officials' titles count as crediting someone."""
    assert credits_other(headline) is expected


def test_evidence_classifies_mentions_by_position() -> None:
    """Headline, sentence-initial (after a full stop or quote) and other body mentions are told apart."""
    text = 'HEADLINE\n\nWe met. Reagan said. The U.S. Reagan aide. "Reagan."'
    phrases = [text.index("HEADLINE"), *(i for i in range(len(text)) if text.startswith("Reagan", i))]
    found = evidence(text, len("HEADLINE"), phrases, headline_names_other=False, credited=True)
    assert found == Evidence(headline=1, sentence_start=2, other=1, other_actor=False)
    body_only = evidence(text, len("HEADLINE"), phrases[1:], headline_names_other=False, credited=True)
    assert body_only.other_actor


def test_a_mention_opening_the_lead_is_a_subject_alone() -> None:
    """The phrase at `lead_start` (after a dateline, or first in the body) weighs 3: a subject by itself."""
    text = "TRADE RIGHTS ENDED\n\nWASHINGTON, March 2 - President Reagan ended the trade rights."
    lead_start = text.index("President")
    found = evidence(text, len("TRADE RIGHTS ENDED"), [lead_start], False, False, lead_start=lead_start)
    assert found == Evidence(lead=1)
    assert salience(score(found))[1] is LeaderRole.SUBJECT
    elsewhere = evidence(text, len("TRADE RIGHTS ENDED"), [lead_start], False, False)
    assert salience(score(elsewhere))[1] is LeaderRole.MENTIONED


def test_score_and_salience() -> None:
    """The score is the documented weighted sum, never below zero; salience is score / 6, capped at 1."""
    assert score(Evidence(headline=1)) == SUBJECT_SCORE
    assert score(Evidence(sentence_start=1, other=1)) == 3.0
    assert score(Evidence(other=1, other_actor=True)) == 0.0
    assert salience(3.0) == (0.5, LeaderRole.SUBJECT)
    assert salience(2.0) == (0.333, LeaderRole.MENTIONED)
    assert salience(12.0) == (1.0, LeaderRole.SUBJECT)


def test_mentions_of_a_leaders_government_weigh_half(enricher: Enricher) -> None:
    """ "The Reagan administration" names the government: three such mentions do not make Reagan a subject."""
    government = _by_name(
        enricher,
        "TRADE TALKS OPEN",
        "Talks began on Monday with envoys of President Reagan, and the Reagan administration said "
        "the Reagan administration's offer stood, as Reagan's government had said before.",
    )
    person = _by_name(
        enricher,
        "TRADE TALKS OPEN",
        "Talks began on Monday with envoys of President Reagan, and Reagan said the offer of Reagan stood, "
        "as Reagan had said before.",
    )
    assert government["Ronald Reagan"].mentions == person["Ronald Reagan"].mentions == 4
    assert government["Ronald Reagan"].article_role is LeaderRole.MENTIONED
    assert person["Ronald Reagan"].article_role is LeaderRole.SUBJECT


def test_evidence_counts_government_mentions_apart() -> None:
    """A body mention followed by "administration", "'s government" or "cabinet" is a government mention."""
    text = "HEADLINE\n\nThe Kohl government met. Kohl's cabinet agreed, Kohl said."
    phrases = [i for i in range(len(text)) if text.startswith("Kohl", i)]
    ends = [start + len("Kohl") for start in phrases]
    found = evidence(text, len("HEADLINE"), phrases, False, False, ends=ends)
    assert found == Evidence(government=2, other=1)
    assert score(found) == 2.0
