"""Leader resolution at the article's date, from one list of matcher hits.

Forms the matcher carries for the registry: full names and multi-word aliases
(resolved anywhere), surnames (single-word aliases and the family name of the
registry name: resolved only right after a title, "President Aliyev", or once the
person was named in full earlier in the article), and office titles ("president",
"chancellor"). A country form right before a title ("the French president",
"Germany's chancellor") or "of <country>" after it names an office; not followed by
a name, it resolves to whoever held that office on the article's date.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from ..models import LeaderMention, LeaderResolution, trusted
from .gazetteer import COUNTRY, Place
from .leader_salience import credits_other, evidence, salience, score
from .matcher import Case, Entry, Hit
from .registry import RegistryEntry

PERSON, TITLE = "person", "title"
NATIONAL_TITLE = "national-title"  # a title that names its country: "Bundeskanzler", "国家主席"
# Name order is family name first in these countries' English-language copy.
FAMILY_NAME_FIRST = frozenset(("CN", "TW", "HK", "MO", "KP", "KR", "VN", "KH", "SG"))
_PARTICLES = frozenset(
    ("de", "da", "do", "dos", "van", "von", "der", "al", "el", "bin", "ibn", "la", "le", "di")
)
# Title words (lower case) -> the canonical title they stand for.
TITLE_WORDS = {
    "president": "president",
    "prime minister": "prime minister",
    "premier": "prime minister",
    "chancellor": "chancellor",
    "king": "monarch",
    "queen": "monarch",
    "monarch": "monarch",
    "emir": "emir",
    "amir": "emir",
    "sultan": "sultan",
    "emperor": "emperor",
    "taoiseach": "prime minister",
    "general secretary": "general secretary",
    "party leader": "general secretary",
    "supreme leader": "supreme leader",
    "leader": "leader",
    "grand duke": "grand duke",
    "pope": "pope",
}
# Offices named by these titles; "leader" accepts every office but never resolves an office alone.
_OFFICE_TITLES = (
    ("prime minister", "prime minister"),
    ("premier", "prime minister"),
    ("taoiseach", "prime minister"),
    ("chief minister", "prime minister"),
    ("chancellor", "chancellor"),
    ("general secretary", "general secretary"),
    ("supreme leader", "supreme leader"),
    ("president", "president"),
    ("monarch", "monarch"),
    ("king", "monarch"),
    ("queen", "monarch"),
    ("emir", "emir"),
    ("sultan", "sultan"),
    ("emperor", "emperor"),
    ("grand duke", "grand duke"),
    ("pope", "pope"),
)
_ARABIC = re.compile("[\u0600-\u06ff]")
# Languages name one head of government's office for another's: Chinese 总理 is the German chancellor.
_HEAD_OF_GOVERNMENT = frozenset(("prime minister", "chancellor"))
_DEMOTING = frozenset(("vice", "deputy", "former", "ex", "late", "first", "acting"))
# Empty gaps occur only in Chinese ("俄罗斯总统普京"): other scripts' hits are word-bounded.
_ADJACENT = re.compile(r"^(?:\s*|['’]s\s\s*)$")
# "President of France", and the orders of other languages: "le président chinois",
# "presidente de Rusia", "Präsident Frankreichs", "президент России".
_OF_GAP = re.compile(
    r"^(?:\s+(?:of|de|du|des|del|della|di|da|do)\s+(?:the\s+|la\s+|l'|el\s+)?|\s+)$", re.IGNORECASE
)


def office_titles(office: str) -> frozenset[str]:
    head = office.lower().split(" of ")[0]
    titles = {title for word, title in _OFFICE_TITLES if word in head}
    if "president" in head and "prime minister" in head:
        titles.add("prime minister")
    return frozenset((*titles, "leader"))


@dataclass(frozen=True, slots=True)
class Person:
    key: str
    wikidata_id: str | None
    name: str
    terms: tuple[RegistryEntry, ...]
    titles: frozenset[str]


@dataclass(frozen=True, slots=True)
class PersonForm:
    persons: tuple[Person, ...]
    full: bool
    titled: bool = False  # the form itself carries a title: "President Xi", "Queen Elizabeth"


def _surname(entry: RegistryEntry) -> str | None:
    tokens = entry.name.replace(".", " ").split()
    if len(tokens) < 2:
        return None
    candidate = tokens[0] if entry.country in FAMILY_NAME_FIRST else tokens[-1]
    if candidate.lower() in _PARTICLES or len(candidate) < 3 or not candidate[0].isupper():
        return None
    return candidate


def build_people(entries: tuple[RegistryEntry, ...]) -> list[Person]:
    grouped: dict[str, list[RegistryEntry]] = defaultdict(list)
    for entry in entries:
        grouped[entry.wikidata_id or f"name:{entry.name}"].append(entry)
    return [
        Person(
            key=key,
            wikidata_id=terms[0].wikidata_id,
            name=terms[0].name,
            terms=tuple(sorted(terms, key=lambda t: t.start)),
            titles=frozenset().union(*(office_titles(t.office) for t in terms)),
        )
        for key, terms in grouped.items()
    ]


def leader_forms(people: list[Person]) -> list[tuple[str, Entry]]:
    full: dict[str, set[str]] = defaultdict(set)
    surnames: dict[str, set[str]] = defaultdict(set)
    by_key = {p.key: p for p in people}
    for person in people:
        for term in person.terms:
            full[term.name].add(person.key)
            for alias in term.aliases:
                (full if " " in alias.strip() else surnames)[alias.strip()].add(person.key)
            surname = _surname(term)
            if surname:
                surnames[surname].add(person.key)
    forms: list[tuple[str, Entry]] = []
    for table, is_full in ((full, True), (surnames, False)):
        for form, keys in table.items():
            persons = tuple(by_key[k] for k in sorted(keys))
            titled = any(form.lower().startswith(word + " ") for word in (*TITLE_WORDS, "sheikh"))
            forms.append((form, Entry(PERSON, PersonForm(persons, is_full, titled), Case.CAPITALIZED)))
    forms.extend((word, Entry(TITLE, title, Case.ANY)) for word, title in TITLE_WORDS.items())
    return forms


@dataclass(slots=True)
class _Found:
    person: Person
    term: RegistryEntry
    in_office: bool
    first_offset: int
    resolved_by: LeaderResolution
    phrases: list[int]  # where each mention's phrase starts ("Japanese Prime Minister ..."), in order found
    ends: list[int]  # where each mention's name (or office) ends, in the same order


@dataclass(slots=True)
class _Article:
    """What one resolution pass needs to know about the article."""

    text: str
    hits: list[Hit]
    when: date
    countries: set[str]
    found: dict[str, _Found] = field(default_factory=dict)


class LeaderResolver:
    """Resolves leaders from hits; holds the per-office index built once."""

    def __init__(self, people: list[Person], country_weight: dict[str, int]) -> None:
        self._holders: dict[tuple[str, str], list[tuple[Person, RegistryEntry]]] = defaultdict(list)
        for person in people:
            for term in person.terms:
                for title in office_titles(term.office) - {"leader"}:
                    self._holders[(term.country, title)].append((person, term))
        # Tie-break for people holding one office in many countries (monarchs, co-princes).
        self._country_weight = country_weight

    def resolve(
        self,
        text: str,
        hits: list[Hit],
        when: date,
        countries: set[str],
        headline_end: int,
        *,
        lead_start: int = -1,
    ) -> tuple[list[LeaderMention], set[int]]:
        """Leaders found, and the indexes of hits read as a person ("Jordan" in "Vernon Jordan").

        `text` is the headline (up to `headline_end`), a separator and the body;
        `lead_start` is where the lead starts after a dateline opening the body (-1: none).
        """
        article, consumed = self.find(text, hits, when, countries)
        if not article.found:
            return [], consumed
        return _mentions(article, headline_end, lead_start), consumed

    def find(self, text: str, hits: list[Hit], when: date, countries: set[str]) -> tuple[_Article, set[int]]:
        article = _Article(text, hits, when, countries)
        consumed: set[int] = set()
        surnames: list[tuple[int, PersonForm]] = []
        for index, hit in enumerate(hits):
            person_entry = hit.by_kind.get(PERSON)
            if person_entry is not None:
                form: PersonForm = person_entry.data
                if self._person(article, index, form):
                    consumed.add(index)
                elif not form.full:
                    surnames.append((index, form))
                continue
            title = hit.by_kind.get(TITLE)
            if title is not None and title.data != "leader":
                national = hit.by_kind.get(NATIONAL_TITLE)
                self._office(article, index, title.data, national.data if national is not None else None)
        # Second pass: a bare surname anywhere (headlines too) once the person is known in this article.
        for index, form in surnames:
            known = tuple(p for p in form.persons if p.key in article.found)
            if known:
                entry = article.found[self._best_person(known, article).key]
                entry.phrases.append(hits[index].start)
                entry.ends.append(hits[index].end)
                entry.first_offset = min(entry.first_offset, hits[index].start)
                consumed.add(index)
        return article, consumed

    def _person(self, article: _Article, index: int, form: PersonForm) -> bool:
        title, title_country = _title_before(article.text, article.hits, index)
        candidates = form.persons
        if title is not None:
            titled = tuple(p for p in candidates if _titled(p, title))
            candidates = titled or (candidates if form.full else ())
            if title_country is not None:
                candidates = tuple(p for p in candidates if _held_in(p, title_country)) or candidates
        if not candidates:
            return False
        if not form.full and title is None:
            already = tuple(p for p in candidates if p.key in article.found)
            if not already:
                return False
            candidates = already
            how = LeaderResolution.SURNAME_AFTER_FULL
        elif title is not None or form.titled:
            how = LeaderResolution.TITLE_AND_NAME
        else:
            how = LeaderResolution.FULL_NAME
        person = self._best_person(candidates, article)
        # The phrase naming the person starts at the title, or at the country before it.
        phrase = index - (title is not None) - (title_country is not None)
        self._record(
            article, person, article.hits[index], how, title_country, phrase=article.hits[phrase].start
        )
        return True

    def _office(self, article: _Article, index: int, title: str, implied: str | None = None) -> None:
        text, hits = article.text, article.hits
        # Arabic puts the nisba after the title ("الرئيس الفرنسي"): a country before it belongs
        # to the previous phrase ("رئيس الوزراء الإسرائيلي والرئيس الفلسطيني").
        before = None if _ARABIC.search(hits[index].text) else _country_before(text, hits, index)
        after = None if before else _country_after(text, hits, index)
        country = before or after or implied
        # A name follows the title, or the country after it: "президент России Путин" is read
        # as a name; "Президент России заявил" (the country is no name) is the office holder.
        if country is None or _followed_by_name(text, hits, index + 1 if after else index):
            return
        if _demoted(text, hits[index - 1].start if before else hits[index].start):
            return
        holders = {p.key: p for p, t in self._holders.get((country, title), ()) if t.in_office(article.when)}
        if len(holders) != 1:
            return
        (person,) = holders.values()
        phrase = hits[index - 1].start if before else hits[index].start
        self._record(article, person, hits[index], LeaderResolution.OFFICE, country, phrase=phrase)

    def _best_person(self, candidates: tuple[Person, ...], article: _Article) -> Person:
        when = article.when

        def rank(person: Person) -> tuple[int, int, int]:
            in_office = any(t.in_office(when) for t in person.terms)
            mentioned = any(t.country in article.countries for t in person.terms)
            distance = min(t.distance(when) for t in person.terms)
            return (0 if in_office else 1, 0 if mentioned else 1, distance)

        return min(candidates, key=rank)

    def _record(
        self,
        article: _Article,
        person: Person,
        name: Hit,
        how: LeaderResolution,
        country: str | None,
        *,
        phrase: int,
    ) -> None:
        existing = article.found.get(person.key)
        if existing is not None:
            existing.phrases.append(phrase)
            existing.ends.append(name.end)
            return
        when = article.when
        term = min(
            person.terms,
            key=lambda t: (
                t.distance(when),
                0 if t.country == country else 1,
                0 if t.country in article.countries else 1,
                -self._country_weight.get(t.country, 0),
            ),
        )
        article.found[person.key] = _Found(
            person, term, term.in_office(when), name.start, how, [phrase], [name.end]
        )


def _mentions(article: _Article, headline_end: int, lead_start: int) -> list[LeaderMention]:
    credited = credits_other(article.text[:headline_end])
    # Everyone recognised counts as another person in the headline, QID or not.
    in_headline = [min(f.phrases) < headline_end for f in article.found.values()]
    headliners = sum(in_headline)
    out: list[LeaderMention] = []
    for f, headlined in zip(article.found.values(), in_headline, strict=True):
        # People without a verified QID are recognised (so their surname is not
        # mistaken for someone else) but never published.
        if not f.person.wikidata_id:
            continue
        found = evidence(
            article.text,
            headline_end,
            f.phrases,
            headliners > headlined,
            credited,
            lead_start=lead_start,
            ends=f.ends,
        )
        value, role = salience(score(found))
        out.append(
            trusted(
                LeaderMention,
                {
                    "wikidata_id": f.person.wikidata_id,
                    "name": f.person.name,
                    "country": f.term.country,
                    "office": f.term.office,
                    "role": f.term.role,
                    "in_office": f.in_office,
                    "mentions": len(f.phrases),
                    "first_offset": f.first_offset,
                    "resolved_by": f.resolved_by,
                    "salience": value,
                    "article_role": role,
                },
            )
        )
    out.sort(key=lambda m: m.first_offset)
    return out


def _held_in(person: Person, country: str) -> bool:
    return any(t.country == country for t in person.terms)


def _titled(person: Person, title: str) -> bool:
    """The person holds an office that title names; the heads of government are one ("德国总理朔尔茨")."""
    if title in person.titles:
        return True
    return title in _HEAD_OF_GOVERNMENT and bool(person.titles & _HEAD_OF_GOVERNMENT)


def _country_of(hit: Hit) -> str | None:
    entry = hit.by_kind.get(COUNTRY)
    if entry is None:
        return None
    place: Place = entry.data
    return place.alpha2 if place.kind in ("name", "demonym") else None


def _title_before(text: str, hits: list[Hit], index: int) -> tuple[str | None, str | None]:
    """The title right before hit `index` ("President Aliyev") and the country right before that.

    The country may also stand between title and name, as Russian puts it: "президент Франции
    Макрон" (title, country in the genitive, name).
    """
    if index == 0:
        return None, None
    previous = hits[index - 1]
    title = previous.by_kind.get(TITLE)
    gap = text[previous.end : hits[index].start]
    if gap and not gap.isspace():  # no gap: Chinese "总统普京"
        return None, None
    if title is None:
        country = _country_of(previous)
        if country is None or index < 2 or _country_after(text, hits, index - 2) != country:
            return None, None
        title = hits[index - 2].by_kind.get(TITLE)
        return (None, None) if title is None else (title.data, country)
    return title.data, _country_before(text, hits, index - 1)


def _country_before(text: str, hits: list[Hit], index: int) -> str | None:
    if index == 0:
        return None
    previous = hits[index - 1]
    country = _country_of(previous)
    if country is None or not _ADJACENT.match(text[previous.end : hits[index].start]):
        return None
    return country


def _country_after(text: str, hits: list[Hit], index: int) -> str | None:
    if index + 1 >= len(hits):
        return None
    following = hits[index + 1]
    if not _OF_GAP.match(text[hits[index].end : following.start]):
        return None
    return _country_of(following)


def _followed_by_name(text: str, hits: list[Hit], index: int) -> bool:
    """A capitalised word right after the title is a name: not the office holder unless it resolves."""
    end = hits[index].end
    rest = text[end : end + 40]
    stripped = rest.lstrip(" ")
    if not stripped or len(rest) == len(stripped) or not stripped[0].isupper():
        return False
    if hits[index].text.isupper() and stripped.split(" ", 1)[0].isupper():
        # All capitals ("TURKISH PREMIER HINTS AT TALKS"): case tells nothing, only a known name does.
        following = hits[index + 1] if index + 1 < len(hits) else None
        return (
            following is not None
            and following.start == end + len(rest) - len(stripped)
            and (PERSON in following.by_kind)
        )
    return not stripped.startswith(("Of ", "And ", "The ", "Said", "On ", "In "))


def _demoted(text: str, start: int) -> bool:
    before = text[max(0, start - 12) : start].lower().replace("-", " ").split()
    return bool(before) and before[-1] in _DEMOTING
