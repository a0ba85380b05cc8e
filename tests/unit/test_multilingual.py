"""Country forms per language: inflections, CJK matching, ambiguity rules, the short-forms table."""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from service.cli import main
from service.datelines import english_month_day, lead_dateline, parse_dateline
from service.enrich import load_enricher
from service.enrich.codes import CODES
from service.enrich.countries import evidence
from service.enrich.enricher import Enricher, matching_language
from service.enrich.gazetteer import CONGO, COUNTRY, GEORGIA, Place
from service.enrich.languages import (
    LANGUAGES,
    adjective_forms,
    arabic_spellings,
    label_variants,
    language_forms,
    language_matcher,
    lexicon,
    name_forms,
)
from service.settings import EnrichSettings

WHEN = date(2024, 9, 15)


def _codes(lang: str, text: str) -> list[str]:
    hits = language_matcher(lang).scan(text)
    return [e.alpha2 for e in evidence(hits, WHEN, set(), (0, 0), 0)]


def _short_forms() -> list[dict[str, str]]:
    text = resources.files("service").joinpath("data", "country_short_forms.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#")))


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("fr", "la présidente du Conseil italienne", ["IT"]),
        ("fr", "les autorités nigériennes et le Nigeria", ["NE", "NG"]),
        ("fr", "Le Niger ferme sa frontière", ["NE"]),
        ("es", "el canciller alemán y los gobiernos brasileño y colombiano", ["DE", "BR", "CO"]),
        ("de", "den brasilianischen Präsidenten und die französische Regierung", ["BR", "FR"]),
        ("it", "il presidente turco e il governo francese, i militari tedeschi", ["TR", "FR", "DE"]),
        ("pt", "o chefe de Estado francês e os bombeiros espanhóis", ["FR", "ES"]),
        ("ru", "Президент России и председатель КНР обсудили российские санкции", ["RU", "CN", "RU"]),
        ("ru", "Министерство финансов США и Германией", ["US", "DE"]),
        ("zh", "美国政府宣布对中国电动汽车加征关税，中方表示反对", ["US", "CN", "CN"]),
        ("zh", "印度尼西亚和印度", ["ID", "IN"]),
        ("fi", "Venäjän ulkoministeriö syytti Suomea", ["RU", "FI"]),
        ("sv", "Finlands president", ["FI"]),
        ("ar", "التعاون الاقتصادي بين الصين ومصر", ["CN", "EG"]),
        ("ar", "الرئيس الصيني والرئيس المصرى", ["CN", "EG"]),
        ("da", "den tyske kansler og svenske myndigheder", ["DE", "SE"]),
        ("sv", "ett danskt och ett tyskt företag", ["DK", "DE"]),
        ("it", "i ribelli yemeniti", ["YE"]),
        ("ru", "переговоры с Польшей", ["PL"]),
        ("de", "Gespräche in Warschau und Moskau", ["PL", "RU"]),
        ("es", "el estado de Georgia, en Estados Unidos", ["US", "US"]),
        ("de", "in der Demokratischen Republik Kongo", ["CD"]),
        ("es", "un terremoto en Granada; los granadinos", []),
        ("zh", "中德经贸合作论坛。其中美国占一半。中美洲国家。", ["CN", "DE", "US"]),
        ("ar", "الرئيس الأميركي ورئيس الوزراء الإسرائيلي، والزعيم الكوري الشمالي", ["US", "IL", "KP"]),
        ("fi", "Tukholmassa ja Kööpenhaminassa", ["SE", "DK"]),
    ],
)
def test_country_forms_in_running_text(lang: str, text: str, expected: list[str]) -> None:
    assert _codes(lang, text) == expected


def test_the_state_of_georgia_settles_georgia() -> None:
    """ "estado de Georgia" names the US state, so a bare "Georgia" in the same story is the state too."""
    assert set(_codes("es", "Tiroteo en Georgia. Las autoridades del estado de Georgia hablaron.")) == {"US"}


@pytest.mark.parametrize(
    ("lang", "text"), [("fr", "La Géorgie vote"), ("de", "Wahl in Georgien"), ("ru", "Выборы в Грузии")]
)
def test_georgia_is_decided_by_context_in_every_language(lang: str, text: str) -> None:
    hits = language_matcher(lang).scan(text)
    assert [h.entries[0].kind for h in hits] == [GEORGIA]
    assert _codes(lang, text) == ["GE"]


@pytest.mark.parametrize(("lang", "form"), [("fr", "Congo"), ("de", "Kongo"), ("fr", "congolais")])
def test_congo_alone_is_ambiguous_and_decided_by_date(lang: str, form: str) -> None:
    kinds = {entry.kind for f, entry in language_forms(lang) if f == form}
    assert kinds == {CONGO}
    assert _codes(lang, f"Au {form} aujourd'hui") == ["CD"]


def test_a_form_of_two_countries_is_left_out() -> None:
    """de "nigerianisch" stands for Niger and Nigeria in the source: no guess."""
    assert {"NE", "NG"} <= {a for a, _ in lexicon()["de"]["nigerianische"]}
    assert "nigerianische" not in dict(language_forms("de"))


def test_adjectives_match_in_lower_case_names_only_capitalized() -> None:
    assert _codes("fr", "le gouvernement français") == ["FR"]
    assert _codes("es", "un chile picante") == []
    assert _codes("es", "Chile y Perú") == ["CL", "PE"]


@pytest.mark.parametrize(
    ("lang", "base", "form"),
    [
        ("fr", "Allemand", "allemandes"),
        ("fr", "Italien", "italienne"),
        ("es", "Alemán", "alemana"),
        ("es", "Español", "españoles"),
        ("it", "Tedesco", "tedeschi"),
        ("it", "Cinese", "cinesi"),
        ("pt", "Chinesa", "chinês"),
        ("pt", "Alemã", "alemão"),
        ("pt", "Brasileira", "brasileiro"),
        ("de", "Deutsch", "deutschen"),
        ("fi", "saksalainen", "saksalaisen"),
        ("ar", "صيني", "الصينية"),
        ("da", "tysk", "tyske"),
        ("sv", "tysk", "tyskt"),
        ("sv", "finsk", "finska"),
        ("it", "Yemenita", "yemeniti"),
    ],
)
def test_adjective_inflections(lang: str, base: str, form: str) -> None:
    assert form in adjective_forms(lang, base)


@pytest.mark.parametrize(
    ("lang", "name", "form"),
    [
        ("ru", "Россия", "России"),
        ("ru", "Китай", "Китая"),
        ("ru", "Казахстан", "Казахстаном"),
        ("fi", "Ruotsi", "Ruotsin"),
        ("nb", "Norge", "Norges"),
    ],
)
def test_name_inflections(lang: str, name: str, form: str) -> None:
    assert form in name_forms(lang, name)


@pytest.mark.parametrize("row", _short_forms(), ids=lambda r: f"{r['lang']}-{r['value']}")
def test_each_short_form_is_new_and_matches(row: dict[str, str]) -> None:
    """Every reviewed entry adds what the sources lack, and is found in a sentence of its language."""
    lang, value, alpha2 = row["lang"], row["value"], row["alpha2"]
    form = value + ("ий" if row["kind"] == "ru-stem" else "")
    sentence = f"{form}。" if lang == "zh" else f"— {form} —"
    hits = language_matcher(lang).scan(sentence)
    assert [h.text for h in hits] == [form]
    entry = hits[0].by_kind[COUNTRY]
    assert isinstance(entry.data, Place) and entry.data.alpha2 == alpha2
    built = resources.files("service").joinpath("data", "country_lexicon.csv").read_text(encoding="utf-8")
    assert (
        f"{alpha2},{lang},name,{value}\n" not in built and f"{alpha2},{lang},adjective,{value}\n" not in built
    )


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("fr", "fr"),
        ("fr-CA", "fr"),
        ("pt_BR", "pt"),
        ("no", "nb"),
        ("zh", "zh"),
        ("en", "en"),
        ("und", "en"),
        (None, "en"),
        ("ja", "en"),
    ],
)
def test_matching_language(declared: str | None, expected: str) -> None:
    assert matching_language(declared) == expected


def test_every_language_has_forms() -> None:
    assert all(len(language_forms(lang)) > 300 for lang in LANGUAGES)


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return load_enricher(EnrichSettings())


def _leaders(enricher: Enricher, lang: str, headline: str, body: str) -> list[str]:
    analysis = enricher.analyze(headline, body, WHEN, language=lang)
    return sorted(m.wikidata_id or "" for m in analysis.leaders)


@pytest.mark.parametrize(
    ("lang", "headline", "body", "expected"),
    [
        ("fr", "Visite", "Le président chinois est arrivé lundi à Paris.", ["Q15031"]),
        ("es", "Amenaza", "El presidente ruso habló el jueves en Moscú.", ["Q7747"]),
        ("de", "Reise", "Der Bundeskanzler wird am Sonntag in Astana erwartet.", ["Q61053"]),
        ("zh", "会谈", "国家主席在北京会见来访的客人。", ["Q15031"]),
        ("zh", "会谈", "俄罗斯总统普京抵达北京。", ["Q7747"]),
        (
            "ru",
            "Переговоры",
            "Президент России Владимир Путин провел переговоры с Си Цзиньпином.",
            ["Q15031", "Q7747"],
        ),
        ("it", "Visita", "Il presidente del Consiglio ha parlato a Bruxelles.", ["Q451791"]),
        ("ru", "Визит", "Президент Франции Макрон прибыл в Берлин.", ["Q3052772"]),
        ("ru", "Разговор", "Путин поговорил с Касым-Жомартом Токаевым.", ["Q200881"]),
        ("zh", "访问", "德国总理朔尔茨抵达北京。", ["Q61053"]),
        ("ar", "زيارة", "قال الرئيس التركي رجب طيب أردوغان إن تركيا مستعدة، وأكد أردوغان ذلك.", ["Q39259"]),
        ("ar", "لقاء", "التقى شي جين بينغ العاهل الأردني الملك عبد الله الثاني.", ["Q15031", "Q57464"]),
        ("pt", "Fundos", "O chefe do Governo espanhol falou hoje em Madrid.", ["Q6070218"]),
        ("de", "Besuch", "Papst Franziskus reist nach Belgien.", ["Q450675"]),
        ("de", "Besuch", "Der ukrainische Präsident Wolodymyr Selenskyj reist nach Berlin.", ["Q3874799"]),
        ("ru", "Визит", "Председатель КНР прибыл в Москву.", ["Q15031"]),
        ("ru", "Визит", "Президент России Иванов прибыл в Минск.", []),
        ("es", "Viaje", "El papa Francisco regresó a Roma.", ["Q450675"]),
        ("ar", "تهديد", "هدد رئيس الوزراء الإسرائيلي بنيامين نتنياهو، الأحد، لبنان.", ["Q43723"]),
        (
            "ar",
            "لقاء",
            "التقى الزعيم الكوري الشمالي والرئيس الأميركي ورئيس الوزراء الإسرائيلي والرئيس الفلسطيني.",
            ["Q127998", "Q43723", "Q6279"],
        ),
    ],
)
def test_leaders_across_languages(
    enricher: Enricher, lang: str, headline: str, body: str, expected: list[str]
) -> None:
    assert _leaders(enricher, lang, headline, body) == expected


def test_a_title_alone_with_no_country_resolves_nobody(enricher: Enricher) -> None:
    assert _leaders(enricher, "fr", "Visite", "Le président est arrivé lundi.") == []


def test_title_only_reference_follows_the_article_date(enricher: Enricher) -> None:
    """ "der Bundeskanzler" in 2025-09 is Merz, not Scholz."""
    analysis = enricher.analyze(
        "Reise", "Der Bundeskanzler reist nach Paris.", date(2025, 9, 1), language="de"
    )
    assert [m.wikidata_id for m in analysis.leaders] == ["Q566257"]


def test_english_articles_do_not_read_other_languages(enricher: Enricher) -> None:
    """An article in English never matches the French lexicon's "Chine"."""
    assert enricher.analyze("Chine", "Chine et Allemagne.", WHEN).countries == ()
    assert {
        c.alpha2 for c in enricher.analyze("Chine", "Chine et Allemagne.", WHEN, language="fr").countries
    } == {
        "CN",
        "DE",
    }


def test_import_wikidata_labels_feed_the_enricher(tmp_path: Path) -> None:
    """label_xx/aliases_xx columns of an export become labels the enricher reads in that language."""
    export = Path(__file__).resolve().parents[1] / "fixtures" / "wikidata" / "multilingual_labels.json"
    registry = tmp_path / "registry.csv"
    labels = tmp_path / "labels.csv"
    assert (
        main(["registry", "import-wikidata", str(export), "-o", str(registry), "--labels", str(labels)]) == 0
    )
    rows = list(csv.DictReader(labels.read_text(encoding="utf-8").splitlines()))
    assert [(r["lang"], r["label"], r["form"]) for r in rows] == [
        ("fr", "Angela Merkel", "full"),
        ("ru", "Ангела Доротея Меркель", "full"),
        ("ru", "Ангела Меркель", "full"),
        ("ru", "Меркель", "surname"),
        ("zh", "默克尔", "full"),
    ]
    settings = EnrichSettings(registry_path=registry, leader_labels_path=labels)
    enricher = load_enricher(settings)
    analysis = enricher.analyze(
        "Визит", "Канцлер Ангела Меркель прибыла в Москву.", date(2010, 5, 1), language="ru"
    )
    assert [m.wikidata_id for m in analysis.leaders] == ["Q567"]
    analysis = enricher.analyze("访问", "德国总理默克尔抵达北京。", date(2010, 5, 1), language="zh")
    assert [m.wikidata_id for m in analysis.leaders] == ["Q567"]


@pytest.mark.parametrize(
    ("lead", "text", "agency", "city", "english_date"),
    [
        (
            "МОСКВА, 21 марта. /ТАСС/. Президент России провел совещание.",
            "МОСКВА, 21 марта /ТАСС/",
            "ТАСС",
            "Москва",
            "Mar 21",
        ),
        (
            "新华社撒马尔罕9月15日电 国家主席习近平15日在撒马尔罕会见。",
            "新华社撒马尔罕9月15日电",
            "新华社",
            "撒马尔罕",
            "Sep 15",
        ),
    ],
)
def test_datelines_in_tass_and_xinhua_chinese(
    lead: str, text: str, agency: str, city: str, english_date: str
) -> None:
    found = lead_dateline(lead)
    assert found is not None and (found.text, found.agency) == (text, agency)
    parsed = parse_dateline(found.text)
    assert parsed is not None and parsed.city == city
    assert english_month_day(parsed.date or "") == english_date


@pytest.mark.parametrize(
    "lead", ["МОСКВА, 21 марта. /ТАСС/.", "新华社撒马尔罕9月15日电", "新华社记者报道，会议开幕。"]
)
def test_credited_openings_need_a_story_and_a_date(lead: str) -> None:
    assert lead_dateline(lead) is None


@pytest.mark.parametrize(
    ("lang", "headline", "body", "dateline_country"),
    [
        (
            "ru",
            "Переговоры",
            "МОСКВА, 21 марта. /ТАСС/. Президент провел переговоры с председателем КНР.",
            "RU",
        ),
        (
            "zh",
            "会谈",
            "新华社撒马尔罕9月15日电 国家主席习近平15日在撒马尔罕同俄罗斯总统普京举行会谈。",
            "UZ",
        ),
    ],
)
def test_dateline_country_through_the_enricher(
    enricher: Enricher, lang: str, headline: str, body: str, dateline_country: str
) -> None:
    lead = lead_dateline(body)
    assert lead is not None
    analysis = enricher.analyze(headline, body, WHEN, parse_dateline(lead.text), language=lang)
    assert [c.alpha2 for c in analysis.countries if c.role == "dateline"] == [dateline_country]


def _labels(lang: str) -> list[dict[str, str]]:
    text = resources.files("service").joinpath("data", "leader_labels.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#"))
    return [row for row in rows if row["lang"] == lang]


@pytest.mark.parametrize("row", _labels("ar"), ids=lambda r: f"{r['wikidata_id']}-{r['label']}")
def test_each_arabic_leader_form_matches_with_clitics(enricher: Enricher, row: dict[str, str]) -> None:
    """Every Arabic label is found as written and with a clitic ("و", "ل") written onto it."""
    matcher = language_matcher("ar", enricher._people)
    for form in (row["label"], "و" + row["label"], "ل" + row["label"]):
        hits = matcher.scan(f"قال {form} اليوم")
        persons = [h.by_kind["person"].data.persons for h in hits if "person" in h.by_kind]
        assert [p.wikidata_id for p in persons[0]] == [row["wikidata_id"]], form


@pytest.mark.parametrize(
    ("label", "form"),
    [
        ("Касым-Жомарт Токаев", "Касым-Жомартом Токаевым"),
        ("Си Цзиньпин", "Си Цзиньпином"),
        ("Зеленский", "Зеленского"),
        ("Олаф Шольц", "Олафом Шольцем"),
        ("Никол Пашинян", "Николу Пашиняну"),
    ],
)
def test_russian_leader_names_decline(label: str, form: str) -> None:
    assert form in label_variants("ru", label)


def test_russian_names_ending_in_a_vowel_do_not_decline() -> None:
    assert label_variants("ru", "Лукашенко") == {"Лукашенко"}


def test_arabic_spellings_of_final_ya() -> None:
    assert arabic_spellings("صينى") == {"صينى", "صيني"}


@pytest.mark.parametrize(
    ("lang", "body"),
    [
        ("fi", "Jos hallitus kaatuu, vaalit pidetään keväällä."),
        ("de", "Wie man hört, ist die Sitzung vertagt."),
        ("nb", "Man venter svar i morgen. Han sier at det haster."),
        ("fr", "Le prix Nobel de Thomas Mann fut décerné en 1929."),
    ],
)
def test_function_words_and_common_words_name_no_country(enricher: Enricher, lang: str, body: str) -> None:
    """ "Jos" (fi: if) is a Nigerian city, "man" (de: one) an Isle of Man adjective in the source."""
    analysis = enricher.analyze("x", body, WHEN, language=lang)
    assert analysis.countries == ()
    assert analysis.leaders == ()


STORIES = Path(__file__).resolve().parents[1] / "fixtures" / "multilingual" / "stories.jsonl"


def _stories() -> list[dict[str, Any]]:
    return [json.loads(line) for line in STORIES.read_text(encoding="utf-8").splitlines() if line]


def test_evaluation_stories_are_well_formed() -> None:
    """Unique ids, gold countries we have codes for, gold leaders in the registry, 20+ per main language."""
    stories = _stories()
    assert len({s["id"] for s in stories}) == len(stories)
    registry = resources.files("service").joinpath("data", "leaders.csv").read_text(encoding="utf-8")
    qids = {line.split(",", 1)[0] for line in registry.splitlines() if line and not line.startswith("#")}
    for story in stories:
        assert set(story["countries"]) <= CODES.keys(), story["id"]
        assert set(story["leaders"]) <= qids, story["id"]
    per_language = Counter(s["lang"] for s in stories)
    assert all(per_language[lang] >= 20 for lang in ("fr", "es", "de", "it", "pt", "ru", "zh"))


def test_evaluation_halves_are_stable_and_even() -> None:
    """Seen stories are fit, a named half is kept, the rest split evenly per language whatever the order."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tools.eval_multilingual import FIT, HELD_OUT, halves

    stories = _stories()
    first = dict(zip((s["id"] for s in stories), halves(stories), strict=True))
    reordered = list(reversed(stories))
    assert dict(zip((s["id"] for s in reordered), halves(reordered), strict=True)) == first
    for story in stories:
        if story.get("seen"):
            assert first[story["id"]] == FIT
        elif "half" in story:
            assert first[story["id"]] == story["half"]
    for lang in {s["lang"] for s in stories}:
        hashed = [s for s in stories if s["lang"] == lang and not s.get("seen") and "half" not in s]
        split = Counter(first[s["id"]] for s in hashed)
        assert abs(split[FIT] - split[HELD_OUT]) <= 1, lang
