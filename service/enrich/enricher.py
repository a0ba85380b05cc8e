"""The enrich stage: one automaton scan per article, then countries and leaders from the same hits."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ..datelines import lead_dateline
from ..models import (
    CanonicalArticle,
    CountryMention,
    Dateline,
    EnrichedArticle,
    LeaderMention,
    LeaderRole,
    trusted,
)
from ..settings import EnrichSettings
from .codes import CODES
from .countries import LEADER, Evidence, evidence, summarize
from .gazetteer import country_forms, load_geodata
from .languages import LANGUAGES, CjkMatcher, drop_function_words, language_matcher, merge_hits
from .leaders import LeaderResolver, build_people, leader_forms
from .matcher import Matcher
from .registry import Registry, load_registry

# Bump when matching rules or the gazetteer change, so re-enrichment runs can be told apart.
# 1.1: leader salience and article_role; 1.2: subject leaders name their country (CountryMention.leaders)
# 1.3: country forms in the languages of service/enrich/languages.py
# 1.4: a leader's government ("the Reagan administration") weighs half a mention in salience
ENRICHER_VERSION = "enrich-1.4"
SEPARATOR = "\n\n"
LEAD_SCAN = 200  # a dateline opening the body is shorter than this


@dataclass(frozen=True, slots=True)
class Analysis:
    countries: tuple[CountryMention, ...]
    leaders: tuple[LeaderMention, ...]


class Enricher:
    """Countries and leaders for canonical articles; the automaton is built once, here."""

    def __init__(
        self,
        registry: Registry,
        city_min_population: int,
        dateline_city_min_population: int,
        leader_labels: Path | None = None,
    ) -> None:
        self.registry_version = registry.version
        self.enricher_version = ENRICHER_VERSION
        people = build_people(registry.entries)
        geo = load_geodata()
        self._matcher = Matcher([*country_forms(city_min_population, geo=geo), *leader_forms(people)])
        # A dateline names a place by design, so smaller towns are safe there.
        self._dateline_matcher = Matcher(country_forms(dateline_city_min_population, dateline=True, geo=geo))
        populations = {c["iso"]: int(c["population"]) for c in geo.countries.values()}
        self._leaders = LeaderResolver(people, populations)
        # One more automaton per non-English language, built on the first article in it.
        self._by_language: dict[str, Matcher | CjkMatcher] = {}
        self._people = people
        self._labels = leader_labels

    def enrich(self, article: CanonicalArticle) -> EnrichedArticle:
        """The article with its countries and leaders; pure: same input, same output."""
        when = (article.versioncreated or article.firstcreated).date()
        language = matching_language(article.language)
        analysis = self.analyze(
            article.headline, article.body_text, when, article.dateline, article.located, language=language
        )
        return _enriched(
            article,
            {
                "countries": analysis.countries,
                "leaders": analysis.leaders,
                "registry_version": self.registry_version,
                "enricher_version": self.enricher_version,
                "matching_language": language,
            },
        )

    def analyze(
        self,
        headline: str,
        body: str,
        when: date,
        dateline: Dateline | None = None,
        located: str | None = None,
        *,
        language: str = "en",
    ) -> Analysis:
        """`language`: also match that language's country forms (see matching_language)."""
        text = headline + SEPARATOR + body
        hits = self._matcher.scan(text)
        if language in LANGUAGES:
            hits = drop_function_words(language, merge_hits(hits, self._language(language).scan(text)))
        skip: set[int] = set()
        extra: list[Evidence] = []
        dateline_text = _dateline_text(dateline, located)
        lead_start = len(headline) + len(SEPARATOR) + len(body) - len(body.lstrip())
        if dateline_text:
            # A dateline repeated at the start of the body is read once, by the dateline matcher.
            offset = -1
            written = dateline.text if dateline is not None else dateline_text
            if body.lstrip().startswith(written):
                offset = len(headline) + len(SEPARATOR) + body.index(written)
                end = offset + len(written)
                skip = {i for i, h in enumerate(hits) if offset <= h.start < end}
                lead = lead_dateline(text[offset : offset + LEAD_SCAN])
                if lead is not None:
                    lead_start = offset + lead.end
            dateline_hits = self._dateline_matcher.scan(dateline_text)
            if language in LANGUAGES:  # "МОСКВА, 21 марта", "新华社撒马尔罕9月15日电"
                dateline_hits = merge_hits(dateline_hits, self._language(language).scan(dateline_text))
            extra = evidence(dateline_hits, when, set(), (0, len(dateline_text)), offset)
        main = evidence(hits, when, skip, (0, 0), 0)
        countries = {e.alpha2 for e in main + extra}
        leaders, consumed = self._leaders.resolve(
            text, hits, when, countries, len(headline), lead_start=lead_start
        )
        if consumed:
            main = [e for e in main if e.hit not in consumed]
        led_by = _led_by(leaders)
        if led_by:
            # A subject leader in office names the country they lead: "President Reagan telephoned ...".
            main += [
                Evidence(m.country, LEADER, m.first_offset, in_dateline=False)
                for m in leaders
                if m.country in led_by and m.wikidata_id in led_by[m.country]
            ]
        return Analysis(tuple(summarize(main + extra, len(headline), led_by)), tuple(leaders))

    def _language(self, language: str) -> Matcher | CjkMatcher:
        matcher = self._by_language.get(language)
        if matcher is None:
            matcher = self._by_language[language] = language_matcher(language, self._people, self._labels)
        return matcher


def matching_language(language: str | None) -> str:
    """The language whose forms the enricher reads for an article: its own when covered, else en.

    English forms are read in every language (cities, leaders' Latin names).
    """
    code = (language or "").lower().split("-")[0].split("_")[0]
    code = "nb" if code in ("no", "nn") else code
    return code if code in LANGUAGES else "en"


def _led_by(leaders: list[LeaderMention]) -> dict[str, tuple[str, ...]]:
    """Country -> the QIDs of the subject leaders in office there on the article's date."""
    out: dict[str, tuple[str, ...]] = {}
    for mention in leaders:
        if mention.article_role is LeaderRole.SUBJECT and mention.in_office and mention.country in CODES:
            out[mention.country] = (*out.get(mention.country, ()), mention.wikidata_id)
    return out


ENRICHER_FIELDS = frozenset(
    ("countries", "leaders", "registry_version", "enricher_version", "matching_language")
)


def _enriched(article: CanonicalArticle, added: dict[str, object]) -> EnrichedArticle:
    """The article plus the enricher's fields; the article was validated, `added` is ours.

    EnrichedArticle must add only ENRICHER_FIELDS to CanonicalArticle and have no
    post-init hook: a unit test pins both down.
    """
    # __dict__ is exactly the fields, in order (extra="forbid"); dict(article) costs ~7 us more.
    return trusted(EnrichedArticle, {**article.__dict__, **added})


def _dateline_text(dateline: Dateline | None, located: str | None) -> str:
    if dateline is None:
        return located or ""
    parts = [dateline.text]
    written = dateline.text.casefold()
    for extra in (dateline.city, dateline.country):
        # "LONDON, Ontario" has its city already: appending "London" would make it the qualifier.
        if extra and extra.casefold() not in written:
            parts.append(extra)
    return ", ".join(p for p in parts if p)


def load_enricher(settings: EnrichSettings) -> Enricher:
    """Build the enricher once at start-up (registry, gazetteer, automaton)."""
    with _collector_paused():
        return Enricher(
            load_registry(settings.registry_path),
            settings.city_min_population,
            settings.dateline_city_min_population,
            settings.leader_labels_path,
        )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cycle collector off while the enricher loads.

    Loading allocates about a million objects (geonames tables, surface forms, automaton keys)
    and frees almost none, so the collector's passes kept walking a growing heap for nothing:
    ~0.4 of the ~1.1 s the load took, on the worker pool's start-up path. What the load leaves
    unreachable is not cyclic (a load with the collector on collects ~10 objects); it is freed
    by reference counting either way.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
