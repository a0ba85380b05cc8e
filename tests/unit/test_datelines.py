"""Datelines read from the start of the lead, in the styles agencies file them, and through normalize."""

from __future__ import annotations

import random

import orjson
import pytest

from service import datelines, ids
from service.datelines import english_month_day, lead_dateline, parse_dateline
from service.models import CanonicalArticle, RecordMeta
from service.normalize import normalize
from service.parse import parse


def test_openings_all_hold_what_the_precheck_looks_for() -> None:
    """Whatever _OPENING matches holds a credit parenthesis or a dash, as the pre-check assumes."""
    pieces = ["PARIS", "New York", ", ", ",", "France", " (AFP) ", "(Reuters)", " - ", "-", "--", " – ", "—"]
    pieces += ["_", ".-", " ", "\n", "12 mars", "Sept. 15", "said the", "x" * 45, ")", "(", "é", "1"]
    rng = random.Random(29)
    matched = 0
    for _ in range(30000):
        lead = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 9))) + " The story."
        opening = lead[: datelines._OPENING_SPAN]
        if datelines._OPENING.match(opening):
            matched += 1
            assert datelines._OPENING_NEEDS.search(opening), repr(lead)
    assert matched > 1000  # the generator does build openings


@pytest.mark.parametrize(
    ("lead", "text", "agency", "rest"),
    [
        ("WASHINGTON, March 27 - The Treasury said", "WASHINGTON, March 27", None, "The Treasury"),
        ("CAMBRIDGE, Mass., March 26 - Harvard said", "CAMBRIDGE, Mass., March 26", None, "Harvard"),
        ("WINSTON-SALEM, N.C., March 3 - RJR said", "WINSTON-SALEM, N.C., March 3", None, "RJR"),
        (
            "SAMARKAND, Uzbekistan, Sept. 15 (Xinhua) -- Chinese President",
            "SAMARKAND, Uzbekistan, Sept. 15 (Xinhua)",
            "Xinhua",
            "Chinese",
        ),
        ("LONDON (Reuters) - Oil prices rose", "LONDON (Reuters)", "Reuters", "Oil"),
        ("NEW YORK (AP) — Stocks fell", "NEW YORK (AP)", "AP", "Stocks"),
        ("PARIS, 12 mars (AFP) - Le gouvernement", "PARIS, 12 mars (AFP)", "AFP", "Le"),
        ("Madrid, 12 mar (EFE).- El Gobierno", "Madrid, 12 mar (EFE)", "EFE", "El"),
        ("Berlin (dpa) - Die Bundesregierung", "Berlin (dpa)", "dpa", "Die"),
        ("WASHINGTON - The Senate voted", "WASHINGTON", None, "The"),
    ],
)
def test_lead_datelines_in_agency_styles(lead: str, text: str, agency: str | None, rest: str) -> None:
    """Each agency style yields the dateline as written, its credit, and where the story starts."""
    found = lead_dateline(lead)
    assert found is not None
    assert (found.text, found.agency) == (text, agency)
    assert lead[found.end :].startswith(rest)


@pytest.mark.parametrize(
    "lead",
    [
        "By John Smith - The Treasury said",  # a byline
        "BY JOHN SMITH - The Treasury said",
        "UPDATE 2-Oil prices rise on supply fears",  # a wire slug
        "10:30 GMT - Oil prices rose",  # a timestamp
        "March 27 - The Treasury said",  # a date is not a place
        "Monday - The Treasury said",
        "However, the company said - and then",  # prose
        "The long-term debt - was cut",
        "Mr. Smith, 45, said - nothing",
        "OPEC AGREES TO CUT OUTPUT - sources",  # a headline in capitals, too long for a city
        "WASHINGTON, March 27 -",  # nothing after the dash
        "Texaco Inc's long-term debt was cut",  # a hyphen inside a word is no dash
    ],
)
def test_what_is_not_a_lead_dateline(lead: str) -> None:
    """Bylines, slugs, timestamps, dates and prose never become a dateline."""
    assert lead_dateline(lead) is None


@pytest.mark.parametrize(
    ("text", "city", "country", "date"),
    [
        ("CAMBRIDGE, Mass., March 26", "Cambridge", "United States", "March 26"),
        ("OAK BROOK, ILL., March 2", "Oak Brook", "United States", "March 2"),
        ("SAMARKAND, Uzbekistan, Sept. 15 (Xinhua)", "Samarkand", "Uzbekistan", "Sept. 15"),
        ("PARIS, 12 mars (AFP)", "Paris", None, "12 mars"),
        ("LEBANON", None, "Lebanon", None),
    ],
)
def test_parse_dateline_parts(text: str, city: str | None, country: str | None, date: str | None) -> None:
    """City, the country a later part names (a state abbreviation names the US), the date as written."""
    dateline = parse_dateline(text)
    assert dateline is not None
    assert (dateline.city, dateline.country, dateline.date) == (city, country, date)


@pytest.mark.parametrize(
    ("written", "english"),
    [
        ("12 mars", "Mar 12"),
        ("Sept. 15", "Sep 15"),
        ("12. März", "Mar 12"),
        ("3 de abril de 2024", "Apr 3, 2024"),
    ],
)
def test_dateline_dates_in_agency_languages(written: str, english: str) -> None:
    """French, German and Spanish month words resolve like English ones."""
    assert english_month_day(written) == english


def _ninjs(headline: str, body: str, versioncreated: str = "2024-03-13T08:00:00Z") -> CanonicalArticle:
    item = {"uri": "urn:test:1", "headline": headline, "body_text": body, "versioncreated": versioncreated}
    raw = orjson.dumps(item)
    (item,) = parse(raw)
    record = RecordMeta(topic="wire.raw", partition=0, offset=0)
    return normalize(item, record, raw_sha256=ids.sha256_hex(raw))


def test_normalize_fills_the_dateline_from_the_lead_and_keeps_the_body() -> None:
    """A ninjs item without a dateline field gets the lead's; body_text is left as it came."""
    body = "CAMBRIDGE, Mass., March 26 - Harvard University said on Thursday it would expand."
    article = _ninjs("Harvard to expand", body, versioncreated="1987-03-27T10:00:00Z")
    assert article.dateline is not None
    assert (article.dateline.city, article.dateline.country) == ("Cambridge", "United States")
    assert article.body_text == body
    assert article.firstcreated.date().isoformat() == "1987-03-26"
    assert "firstcreated_from_dateline" in article.date_flags


def test_normalize_reads_a_french_dateline_date() -> None:
    """'12 mars' in an AFP dateline fills firstcreated like an English date would."""
    body = "PARIS, 12 mars (AFP) - Le gouvernement a annoncé jeudi un plan."
    article = _ninjs("Plan", body)
    assert article.dateline is not None and article.dateline.city == "Paris"
    assert article.firstcreated.date().isoformat() == "2024-03-12"


def test_a_lead_repeating_the_headline_is_not_read_for_a_dateline() -> None:
    """A first paragraph that is the headline again ("OIL FALLS - ...") is no dateline."""
    article = _ninjs("OIL FALLS", "OIL FALLS - traders said prices fell on Monday.")
    assert article.dateline is None


def test_the_format_dateline_field_wins_over_the_lead() -> None:
    """A dateline the format carries in its own field is kept; the lead is not read then."""
    raw = orjson.dumps(
        {"uri": "urn:test:2", "headline": "Talks", "body_text": "LONDON (Reuters) - Talks began."}
    )
    (item,) = parse(raw)
    item = item.model_copy(update={"dateline": "GENEVA, May 2", "versioncreated": "2024-05-02T08:00:00Z"})
    article = normalize(item, RecordMeta(topic="t", partition=0, offset=0), raw_sha256="0" * 64)
    assert article.dateline is not None and article.dateline.city == "Geneva"
