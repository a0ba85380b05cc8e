"""The leader registry file, its validator and the Wikidata importer."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from service.enrich import (
    default_registry_path,
    import_wikidata,
    load_registry,
    registry_version,
    validate_registry,
    write_registry,
)
from service.enrich.codes import CODES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wikidata"
HEADER = "wikidata_id,name,aliases,country,office,role,start,end,source\n"


def _write(tmp_path: Path, rows: str, meta: str = "# version_date: 2025-01-01\n") -> Path:
    path = tmp_path / "leaders.csv"
    path.write_text(meta + HEADER + rows, encoding="utf-8")
    return path


def test_shipped_registry_is_valid() -> None:
    """The registry in the package passes every validation rule."""
    assert validate_registry(default_registry_path()) == []


def test_shipped_registry_covers_every_country_of_the_reference_set() -> None:
    """At least 198 polities (UN members, TW, XK, PS, VA, SU) have a leader row."""
    countries = {e.country for e in load_registry().entries}
    assert len(countries) >= 198
    assert {"CN", "AZ", "UZ", "US", "SU", "XK", "VA", "TW", "PS"} <= countries


def test_shipped_registry_has_seed_leaders_and_no_invented_qids() -> None:
    """Xi Jinping and Ilham Aliyev carry their QIDs; unverified rows have none rather than a guess."""
    entries = load_registry().entries
    by_name = {e.name: e.wikidata_id for e in entries}
    assert by_name["Xi Jinping"] == "Q15031"
    assert by_name["Ilham Aliyev"] == "Q57371"
    assert any(e.wikidata_id is None for e in entries)
    assert all(e.wikidata_id is None or e.wikidata_id.startswith("Q") for e in entries)


def test_registry_version_is_date_plus_content_hash(tmp_path: Path) -> None:
    """The version names the metadata date and changes with any edit to the file."""
    row = "Q1,A B,,FR,President of France,both,2000-01-01,,x\n"
    path = _write(tmp_path, row)
    first = registry_version(path)
    assert first.startswith("2025-01-01+")
    _write(tmp_path, row.replace("A B", "A C"))
    assert registry_version(path) != first


def test_validator_reports_overlapping_terms_in_one_office(tmp_path: Path) -> None:
    """Two people holding one office over the same days is a problem."""
    rows = (
        "Q1,A,,FR,President of France,both,2000-01-01,2005-01-01,x\n"
        "Q2,B,,FR,President of France,both,2004-01-01,,x\n"
    )
    problems = validate_registry(_write(tmp_path, rows))
    assert len(problems) == 1
    assert "overlaps" in problems[0]


def test_validator_reports_unknown_country_bad_qid_duplicate_id_and_role(tmp_path: Path) -> None:
    """Unknown codes, malformed QIDs, one QID with two names and unknown roles are all reported."""
    rows = (
        "Q1,A,,ZZ,President of Nowhere,both,2000-01-01,,x\n"
        "X9,B,,FR,President of France,both,2000-01-01,,x\n"
        "Q3,C,,DE,Chancellor of Germany,head_of_government,2000-01-01,,x\n"
        "Q3,D,,IT,President of Italy,ruler,2000-01-01,,x\n"
        "Q5,E,,ES,Prime Minister of Spain,head_of_government,2000-01-01,,x\n"
        "Q5,F,,PT,Prime Minister of Portugal,head_of_government,2000-01-01,,x\n"
    )
    problems = "\n".join(validate_registry(_write(tmp_path, rows)))
    assert "unknown country code 'ZZ'" in problems
    assert "bad wikidata_id 'X9'" in problems
    assert "unknown role 'ruler'" in problems
    assert "Q5 is named" in problems


def test_validator_requires_version_metadata(tmp_path: Path) -> None:
    """A registry without a version date cannot be versioned, so it is invalid."""
    problems = validate_registry(
        _write(tmp_path, "Q1,A,,FR,President of France,both,2000-01-01,,x\n", meta="")
    )
    assert any("version_date" in p for p in problems)


def test_load_registry_refuses_an_invalid_file(tmp_path: Path) -> None:
    """The service never starts on a registry that does not validate."""
    with pytest.raises(ValueError, match="invalid leader registry"):
        load_registry(_write(tmp_path, "Q1,A,,ZZ,President,both,2000-01-01,,x\n"))


def test_historical_codes_come_from_iso_3166_3() -> None:
    """SU, DD, YU and CS (Czechoslovakia, not Serbia and Montenegro) use pycountry's historic codes."""
    assert (CODES["SU"].alpha3, CODES["SU"].numeric) == ("SUN", "810")
    assert (CODES["DD"].alpha3, CODES["DD"].numeric) == ("DDR", "278")
    assert (CODES["CS"].alpha3, CODES["CS"].numeric) == ("CSK", "200")
    assert CODES["YU"].alpha3 == "YUG"


def test_import_wikidata_reads_sparql_json_and_merges_repeated_statements() -> None:
    """Person URIs become QIDs, dateTimes become days, duplicates collapse, role is inferred when absent."""
    entries = import_wikidata(FIXTURES / "heads_of_state.json")
    assert [(e.wikidata_id, e.country, e.start, e.end) for e in entries] == [
        ("Q15031", "CN", date(2013, 3, 14), None),
        ("Q2518", "DE", date(1982, 10, 1), date(1998, 10, 26)),
        ("Q567", "DE", date(2005, 11, 22), date(2021, 12, 8)),
    ]
    assert entries[0].role == "head_of_state"
    assert entries[1].role == "head_of_government"


def test_imported_entries_round_trip_through_the_registry_format(tmp_path: Path) -> None:
    """What the importer produces, write_registry writes as a file that validates and loads."""
    entries = import_wikidata(FIXTURES / "heads_of_state.json")
    out = tmp_path / "imported.csv"
    write_registry(entries, out, version_date=date(2025, 6, 1))
    assert validate_registry(out) == []
    loaded = load_registry(out)
    assert loaded.version.startswith("2025-06-01+")
    assert [e.wikidata_id for e in loaded.entries] == ["Q15031", "Q2518", "Q567"]
    with out.open(encoding="utf-8") as handle:
        next(handle)
        assert next(csv.reader(handle))[0] == "wikidata_id"


def test_import_wikidata_rejects_a_file_that_is_not_a_sparql_result(tmp_path: Path) -> None:
    """A malformed export is an error, not an empty registry."""
    bad = tmp_path / "bad.json"
    bad.write_text('{"rows": []}', encoding="utf-8")
    with pytest.raises(ValueError, match="not a SPARQL JSON result"):
        import_wikidata(bad)
