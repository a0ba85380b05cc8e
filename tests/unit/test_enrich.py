"""The enrich stage: countries and time-aware leaders from canonical articles."""

from __future__ import annotations

import gc
from datetime import UTC, date, datetime

import pytest

from service.enrich import Enricher, load_enricher
from service.enrich.enricher import ENRICHER_FIELDS, _collector_paused
from service.enrich.matcher import _ASCII_NORMALIZE, Case, Entry, Matcher, _normalize
from service.models import (
    CanonicalArticle,
    CountryRole,
    Dateline,
    EnrichedArticle,
    LeaderResolution,
    Lineage,
    WireFormat,
)
from service.settings import EnrichSettings

SEED_HEADLINE = "Xi meets with Azerbaijani President Aliyev"
SEED_BODY = (
    "Chinese President Xi Jinping met with Azerbaijani President Ilham Aliyev on Thursday afternoon "
    "at Forumlar Majmuasi Complex in Samarkand, Uzbekistan.\n\n"
    "Xi noted that this year marks the 30th anniversary of the establishment of diplomatic relations "
    "between China and Azerbaijan.\n\n"
    "Aliyev said that Azerbaijan and China are true strategic partners."
)


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return load_enricher(EnrichSettings())


def _article(headline: str, body: str, when: datetime, dateline: Dateline | None = None) -> CanonicalArticle:
    return CanonicalArticle(
        event_id="e1",
        story_id="s1",
        item_id="i1",
        version="1",
        source="test",
        headline=headline,
        body_text=body,
        dateline=dateline,
        firstcreated=when,
        versioncreated=when,
        content_hash="0" * 64,
        lineage=Lineage(
            topic="t", partition=0, offset=0, format=WireFormat.NINJS, parser_version="p", raw_sha256="0" * 64
        ),
    )


def _codes(enricher: Enricher, text: str, when: date = date(2022, 9, 15)) -> list[str]:
    return sorted(c.alpha2 for c in enricher.analyze("", text, when).countries)


def _leaders(enricher: Enricher, text: str, when: date) -> dict[str, tuple[str, bool]]:
    return {m.name: (m.resolved_by.value, m.in_office) for m in enricher.analyze("", text, when).leaders}


def test_seed_story_gives_china_azerbaijan_uzbekistan_and_both_presidents(enricher: Enricher) -> None:
    """The seed story: CN, AZ, UZ and the QIDs of Xi Jinping (Q15031) and Ilham Aliyev (Q57371)."""
    article = _article(SEED_HEADLINE, SEED_BODY, datetime(2022, 9, 15, 10, tzinfo=UTC))
    enriched = enricher.enrich(article)
    assert isinstance(enriched, EnrichedArticle)
    assert {"CN", "AZ", "UZ"} <= {c.alpha2 for c in enriched.countries}
    leaders = {m.wikidata_id: m for m in enriched.leaders}
    assert set(leaders) == {"Q15031", "Q57371"}
    assert leaders["Q15031"].resolved_by is LeaderResolution.TITLE_AND_NAME
    assert leaders["Q57371"].country == "AZ"
    assert all(m.in_office for m in enriched.leaders)
    assert enriched.registry_version == enricher.registry_version
    assert enriched.headline == article.headline and enriched.event_id == article.event_id


def test_enriched_article_round_trips_through_json(enricher: Enricher) -> None:
    """The output validates as the published model (model_construct must not smuggle bad values)."""
    enriched = enricher.enrich(_article(SEED_HEADLINE, SEED_BODY, datetime(2022, 9, 15, tzinfo=UTC)))
    again = EnrichedArticle.model_validate_json(enriched.model_dump_json())
    assert again == enriched


ROUND_TRIP_SAMPLES = [
    (SEED_HEADLINE, SEED_BODY, datetime(2022, 9, 15, tzinfo=UTC), None),
    (
        "Soviet, East German trade talks",
        "Officials in Moscow and Leipzig said President Reagan and Chancellor Kohl would comment. "
        "Georgia's governor spoke in Atlanta; Congo exports rose.",
        datetime(1987, 3, 1, tzinfo=UTC),
        Dateline(text="OAK BROOK, Ill.", city="OAK BROOK"),
    ),
    (
        "Former President Ronald Reagan spoke",
        "Ronald Reagan spoke in Côte d'Ivoire. The French president met Germany's chancellor.",
        datetime(1995, 1, 1, tzinfo=UTC),
        Dateline(text="SAN JOSE, Calif."),
    ),
    ("Quiet day", "Nothing of note happened.", datetime(2020, 1, 1, tzinfo=UTC), None),
]


@pytest.mark.parametrize(("headline", "body", "when", "dateline"), ROUND_TRIP_SAMPLES)
def test_enriched_article_validates_from_its_dump(
    enricher: Enricher, headline: str, body: str, when: datetime, dateline: Dateline | None
) -> None:
    """Fields built without validation hold valid values of the exact types validation gives."""
    enriched = enricher.enrich(_article(headline, body, when, dateline))
    again = EnrichedArticle.model_validate(enriched.model_dump())
    assert again == enriched
    # repr tells a str from a StrEnum member, a list from a tuple and 1 from 1.0, which == does not.
    built = ("countries", "leaders", "registry_version", "enricher_version", "matching_language")
    assert [repr(getattr(again, f)) for f in built] == [repr(getattr(enriched, f)) for f in built]


@pytest.mark.parametrize(("headline", "body", "when", "dateline"), ROUND_TRIP_SAMPLES)
def test_output_models_hold_every_field_in_order(
    enricher: Enricher, headline: str, body: str, when: datetime, dateline: Dateline | None
) -> None:
    """Models built without validation hold every field, in declaration order, all marked as set."""
    enriched = enricher.enrich(_article(headline, body, when, dateline))
    models = (enriched, *enriched.countries, *enriched.leaders)
    assert enriched.countries or dateline is None
    for model in models:
        fields = list(type(model).model_fields)
        assert list(model.__dict__) == fields
        assert model.model_fields_set == set(fields)


def test_enriched_article_is_what_model_construct_builds(enricher: Enricher) -> None:
    """The fast construction equals model_construct field for field, including the fields-set."""
    article = _article(SEED_HEADLINE, SEED_BODY, datetime(2022, 9, 15, tzinfo=UTC))
    enriched = enricher.enrich(article)
    reference = EnrichedArticle.model_construct(
        **dict(article),
        countries=enriched.countries,
        leaders=enriched.leaders,
        registry_version=enriched.registry_version,
        enricher_version=enriched.enricher_version,
        matching_language=enriched.matching_language,
    )
    assert list(enriched.__dict__.items()) == list(reference.__dict__.items())
    assert enriched.model_fields_set == reference.model_fields_set
    assert (enriched.__pydantic_extra__, enriched.__pydantic_private__) == (None, None)
    assert enriched.model_dump_json() == reference.model_dump_json()


def test_enriched_article_adds_only_the_enricher_fields() -> None:
    """The fast construction relies on EnrichedArticle = CanonicalArticle + ENRICHER_FIELDS, no post-init."""
    added = set(EnrichedArticle.model_fields) - set(CanonicalArticle.model_fields)
    assert added == ENRICHER_FIELDS
    assert EnrichedArticle.__pydantic_post_init__ is None
    assert EnrichedArticle.model_config.get("extra") == "forbid"


def test_enrich_is_deterministic(enricher: Enricher) -> None:
    """Same input, same output."""
    article = _article(SEED_HEADLINE, SEED_BODY, datetime(2022, 9, 15, tzinfo=UTC))
    assert enricher.enrich(article).model_dump() == enricher.enrich(article).model_dump()


def test_country_mention_fields(enricher: Enricher) -> None:
    """Codes, counts, offsets into headline + blank line + body, headline flag and roles."""
    analysis = enricher.analyze(
        "Azerbaijan talks", "Talks in Baku and in Azerbaijan. China too.", date(2022, 1, 1)
    )
    by_code = {c.alpha2: c for c in analysis.countries}
    azerbaijan = by_code["AZ"]
    assert (azerbaijan.alpha3, azerbaijan.numeric, azerbaijan.name) == ("AZE", "031", "Azerbaijan")
    assert azerbaijan.mentions == 3
    assert azerbaijan.first_offset == 0 and azerbaijan.in_headline
    assert azerbaijan.role is CountryRole.SUBJECT and azerbaijan.salience == 1.0
    china = by_code["CN"]
    text = "Azerbaijan talks\n\nTalks in Baku and in Azerbaijan. China too."
    assert text[china.first_offset : china.first_offset + 5] == "China"
    assert china.role is CountryRole.MENTIONED and not china.in_headline


def test_dateline_country_has_dateline_role(enricher: Enricher) -> None:
    """A place in the dateline marks its country in_dateline, including AP state abbreviations."""
    analysis = enricher.analyze("Results", "Shares rose.", date(1987, 3, 1), Dateline(text="OAK BROOK, Ill."))
    (country,) = analysis.countries
    assert country.alpha2 == "US" and country.in_dateline and country.role is CountryRole.DATELINE
    assert country.first_offset == -1


def test_dateline_qualifier_wins_over_a_same_named_capital(enricher: Enricher) -> None:
    """ "SAN JOSE, Calif." is in the US, not Costa Rica."""
    analysis = enricher.analyze("X", "Y", date(1987, 3, 1), Dateline(text="SAN JOSE, Calif."))
    assert [c.alpha2 for c in analysis.countries] == ["US"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Exports from Nigeria rose.", ["NG"]),
        ("Exports from Niger rose.", ["NE"]),
        ("Papua New Guinea signed.", ["PG"]),
        ("Guinea signed.", ["GN"]),
        ("Officials in Niamey said.", ["NE"]),
        ("Officials in Samarkand said.", ["UZ"]),
        ("The U.S. and Britain agreed.", ["GB", "US"]),
        ("Let us talk turkey in Ivory Coast.", ["CI"]),
        ("Talks in Côte d'Ivoire and Cote d'Ivoire.", ["CI"]),
        ("Beijing said on Monday.", ["CN"]),
        ("The Uzbek side and the Azerbaijani side met.", ["AZ", "UZ"]),
        ("A South Korean firm.", ["KR"]),
        ("Latin American debt.", []),
        ("The guinea pig escaped.", []),
    ],
)
def test_country_forms_and_ambiguity(enricher: Enricher, text: str, expected: list[str]) -> None:
    """Longest match, word boundaries, case rules, variants, demonyms and cities."""
    assert _codes(enricher, text) == expected


def test_georgia_is_the_us_state_with_us_context(enricher: Enricher) -> None:
    """Georgia with Atlanta is the US state; Georgia with Tbilisi or alone is GE."""
    assert _codes(enricher, "Georgia's governor spoke in Atlanta.") == ["US"]
    assert _codes(enricher, "Georgia and Armenia signed in Tbilisi.") == ["AM", "GE"]
    assert _codes(enricher, "Georgia held elections.") == ["GE"]


def test_congo_needs_context_and_date(enricher: Enricher) -> None:
    """Plain Congo: CD with Kinshasa, CG with Brazzaville, otherwise by date (Zaire era -> CG)."""
    assert _codes(enricher, "Congo troops in Kinshasa.") == ["CD"]
    assert _codes(enricher, "Congo officials in Brazzaville.") == ["CG"]
    assert _codes(enricher, "Congo exports oil.", date(1987, 3, 1)) == ["CG"]
    assert _codes(enricher, "Zaire exports copper.", date(1987, 3, 1)) == ["CD"]


def test_historical_entities_follow_the_iso_3166_3_policy(enricher: Enricher) -> None:
    """USSR -> SU, East Germany -> DD, West Germany -> DE, Yugoslavia -> YU, Czechoslovakia -> CS."""
    when = date(1987, 3, 1)
    assert _codes(enricher, "The Soviet Union and East Germany.", when) == ["DD", "SU"]
    assert _codes(enricher, "West Germany and Yugoslavia.", when) == ["DE", "YU"]
    assert _codes(enricher, "Czechoslovakia exports.", when) == ["CS"]
    assert _codes(enricher, "Officials in Moscow and Prague said.", when) == ["CS", "SU"]
    assert _codes(enricher, "Officials in Moscow and Prague said.", date(2020, 1, 1)) == ["CZ", "RU"]


def test_leader_by_full_name_title_and_surname(enricher: Enricher) -> None:
    """Full name, title + surname, and a bare surname after the full name all resolve."""
    when = date(2022, 9, 15)
    assert _leaders(enricher, "Ilham Aliyev arrived.", when) == {"Ilham Aliyev": ("full_name", True)}
    assert _leaders(enricher, "President Aliyev arrived.", when) == {"Ilham Aliyev": ("title_and_name", True)}
    analysis = enricher.analyze("Aliyev visits", "Ilham Aliyev arrived. Aliyev said.", when)
    (aliyev,) = analysis.leaders
    assert aliyev.mentions == 3 and aliyev.first_offset == 0


def test_bare_surname_alone_is_not_resolved(enricher: Enricher) -> None:
    """A surname without a title or an earlier full name is too ambiguous ("Bush", "Sharif")."""
    assert _leaders(enricher, "Bush said.", date(2005, 1, 1)) == {}


def test_title_alone_resolves_to_the_office_holder_on_the_article_date(enricher: Enricher) -> None:
    """ "the French president" and "Germany's chancellor" depend on the date."""
    text = "The French president met Germany's chancellor."
    assert _leaders(enricher, text, date(1987, 3, 1)) == {
        "François Mitterrand": ("office", True),
        "Helmut Kohl": ("office", True),
    }
    assert _leaders(enricher, text, date(2022, 9, 15)) == {
        "Emmanuel Macron": ("office", True),
        "Olaf Scholz": ("office", True),
    }


def test_title_followed_by_another_name_or_office_is_not_the_holder(enricher: Enricher) -> None:
    """ "Chinese Vice President", "British Chancellor of the Exchequer Nigel Lawson" name no leader."""
    assert _leaders(enricher, "Chinese Vice President Wang Qishan said.", date(2022, 1, 1)) == {}
    assert (
        _leaders(enricher, "British Chancellor of the Exchequer Nigel Lawson said.", date(1987, 3, 1)) == {}
    )
    assert _leaders(enricher, "French President Jean Dupont said.", date(2022, 1, 1)) == {}


def test_person_out_of_office_is_linked_and_flagged(enricher: Enricher) -> None:
    """A former (or future) leader is linked with in_office false."""
    assert _leaders(enricher, "Former President Ronald Reagan spoke.", date(1995, 1, 1)) == {
        "Ronald Reagan": ("title_and_name", False)
    }
    assert _leaders(enricher, "Ronald Reagan spoke.", date(1975, 1, 1)) == {
        "Ronald Reagan": ("full_name", False)
    }


def test_shared_surname_resolves_by_date(enricher: Enricher) -> None:
    """ "President Bush" is the father in 1990 and the son in 2005."""
    (father,) = enricher.analyze("", "President Bush said.", date(1990, 6, 1)).leaders
    (son,) = enricher.analyze("", "President Bush said.", date(2005, 6, 1)).leaders
    assert (father.wikidata_id, son.wikidata_id) == ("Q23505", "Q207")


def test_transliterated_and_line_broken_names_resolve(enricher: Enricher) -> None:
    """ "Weizsaecker" for Weizsäcker and a name split over two lines still match."""
    when = date(1987, 3, 1)
    assert "Richard von Weizsäcker" in _leaders(enricher, "President Richard von Weizsaecker said.", when)
    assert "Yasuhiro Nakasone" in _leaders(enricher, "Prime Minister Yasuhiro\nNakasone said.", when)


def test_ascii_text_is_matched_as_bytes_exactly_as_str() -> None:
    """The bytes path (ASCII text) normalizes every character as `_normalize` does, and finds the same."""
    every = "".join(map(chr, range(128)))
    assert every.encode().translate(_ASCII_NORMALIZE).decode() == _normalize(every)
    matcher = Matcher(
        [("New York", Entry("place", "NY", Case.CAPITALIZED)), ("US", Entry("c", "US", Case.EXACT))]
    )
    for text in ("New-York, US; new york us", "New\u00a0York, US; new york us"):  # the second is not ASCII
        hits = [(h.start, h.end, h.text) for h in matcher.scan(text)]
        assert hits == [(0, 8, text[:8]), (10, 12, "US")]


def test_collector_paused_while_loading_and_restored_after() -> None:
    """The enricher loads with the cycle collector off; the caller's setting comes back, also on error."""
    assert gc.isenabled()
    with _collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), _collector_paused():
        raise RuntimeError("a load that fails")
    assert gc.isenabled()
    gc.disable()
    try:
        with _collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()
