"""Countries and leaders as agency copy carries them: a dateline opening the body, leaders' countries."""

from __future__ import annotations

import csv
from datetime import date
from importlib import resources

import pytest

from service.datelines import parse_dateline
from service.enrich import Enricher, load_enricher
from service.models import CountryRole, LeaderRole
from service.settings import EnrichSettings

WHEN = date(1987, 3, 27)


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return load_enricher(EnrichSettings())


def _analyze(enricher: Enricher, headline: str, body: str, when: date = WHEN):  # type: ignore[no-untyped-def]
    lead = body.split(" - ", 1)[0]
    return enricher.analyze(headline, body, when, parse_dateline(lead))


@pytest.mark.parametrize(
    ("lead", "country"),
    [
        ("CAMBRIDGE, Mass., March 26", "US"),  # an AP state abbreviation decides the city
        ("OAK BROOK, ILL., March 2", "US"),  # in capitals, as 1987 copy has it
        ("WASHINGTON, March 27", "US"),
        ("BONN, West Germany, March 3", "DE"),
        ("LONDON, Ontario, March 3", "CA"),  # the country the dateline names wins over the city
    ],
)
def test_a_dateline_opening_the_body_gives_the_dateline_country(
    enricher: Enricher, lead: str, country: str
) -> None:
    """The dateline read from the lead makes its country the dateline country, placed at the lead."""
    analysis = _analyze(enricher, "Results", f"{lead} - The company said sales rose.")
    datelined = [c for c in analysis.countries if c.role is CountryRole.DATELINE]
    assert [c.alpha2 for c in datelined] == [country]
    start = len("Results\n\n")
    assert start <= datelined[0].first_offset < start + len(lead)


def test_a_leader_right_after_the_dateline_starts_the_lead(enricher: Enricher) -> None:
    """'TOKYO, March 2 - Prime Minister Nakasone said' opens the lead, as in a body with no dateline."""
    rest = "Prime Minister Yasuhiro Nakasone said he would visit. Nakasone spoke."
    with_dateline = _analyze(enricher, "Japan plans visit", "TOKYO, March 2 - " + rest)
    without = enricher.analyze("Japan plans visit", rest, WHEN)
    assert [m.salience for m in with_dateline.leaders] == [m.salience for m in without.leaders]
    assert with_dateline.leaders[0].article_role is LeaderRole.SUBJECT


def test_a_subject_leader_makes_their_country_a_story_country(enricher: Enricher) -> None:
    """A story about President Reagan telephoning Thatcher concerns the US, with Reagan as the evidence."""
    body = (
        "LONDON, March 27 - President Reagan telephoned Prime Minister Margaret Thatcher on Friday. "
        "Reagan said the talks went well. Reagan later left for California."
    )
    analysis = _analyze(enricher, "Reagan telephones Thatcher", body)
    by_code = {c.alpha2: c for c in analysis.countries}
    assert by_code["US"].role is CountryRole.SUBJECT
    assert by_code["US"].leaders == ("Q9960",)
    assert by_code["GB"].role is CountryRole.DATELINE


def test_a_passing_leader_adds_no_country(enricher: Enricher) -> None:
    """A leader who is only mentioned does not make their country a subject."""
    body = (
        "SYDNEY, March 27 - Wool prices rose on Friday, dealers said. Demand from mills was strong and "
        "stocks were low. Prices rose for the third week. Dealers expect more gains. "
        "A trade mission is due before a visit by President Reagan's envoy later this year."
    )
    analysis = _analyze(enricher, "Wool prices rise", body)
    us = [c for c in analysis.countries if c.alpha2 == "US"]
    assert not us or (us[0].role is CountryRole.MENTIONED and us[0].leaders == ())


def test_a_leader_out_of_office_names_no_country(enricher: Enricher) -> None:
    """Reagan in 2004 copy leads no country: no story country comes from him."""
    body = "WASHINGTON, June 5 - Former President Ronald Reagan died on Saturday. Reagan was 93."
    analysis = _analyze(enricher, "Ronald Reagan dies", body, date(2004, 6, 5))
    assert all(c.leaders == () for c in analysis.countries)


def _table(name: str) -> list[dict[str, str]]:
    text = resources.files("service").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#")))


@pytest.mark.parametrize("row", _table("dateline_cities.csv"), ids=lambda r: r["city"])
def test_each_dateline_city_places_its_country(enricher: Enricher, row: dict[str, str]) -> None:
    """Every reviewed dateline city, alone in a dateline, gives its country."""
    analysis = _analyze(enricher, "Results", f"{row['city'].upper()}, March 3 - Sales rose.")
    assert [c.alpha2 for c in analysis.countries if c.role is CountryRole.DATELINE] == [row["alpha2"]]


@pytest.mark.parametrize(
    ("lead", "country"),
    [
        ("MURDOCHVILLE, Que., March 3", "CA"),
        ("VANCOUVER, B.C., March 3", "CA"),
        ("HORSHAM, Penn., March 3", "US"),
    ],
)
def test_province_and_state_abbreviations_qualify_a_dateline(
    enricher: Enricher, lead: str, country: str
) -> None:
    """Canadian province abbreviations and Reuters' 'Penn.' name the dateline's country."""
    analysis = _analyze(enricher, "Results", f"{lead} - Sales rose.")
    assert [c.alpha2 for c in analysis.countries if c.role is CountryRole.DATELINE] == [country]


def test_namesakes_in_one_country_do_not_make_a_city_ambiguous(enricher: Enricher) -> None:
    """PORTLAND (Oregon or Maine) is in the US either way."""
    analysis = _analyze(enricher, "Results", "PORTLAND, March 3 - Sales rose.")
    assert [c.alpha2 for c in analysis.countries if c.role is CountryRole.DATELINE] == ["US"]
