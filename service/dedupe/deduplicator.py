"""The dedupe stage: read the store, decide (pure), write the decision back atomically."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import StoreUnavailableError
from ..models import CanonicalArticle, Relation
from ..settings import DedupeSettings
from .decide import (
    Claim,
    Outcome,
    RecordedEvent,
    Snapshot,
    best_match,
    decide_by_content,
    decide_by_record,
    indexes_content,
    item_key,
    next_item_state,
    timestamp,
)
from .facts import number_mask
from .minhash import LshParams, Signature, band_keys, lsh_params, signature
from .store import DedupeStore, StoryEntry, Write
from .text import fingerprint_text

# Each conflict means another writer changed what a decision was based on and
# the next attempt sees that change; a handful of attempts is plenty.
_MAX_ATTEMPTS = 8


def article_text(article: CanonicalArticle) -> str:
    """The text fingerprinted: the story without its feed's packaging (see text.py)."""
    dateline = article.dateline.text if article.dateline is not None else None
    return fingerprint_text(article.headline, article.body_text, dateline=dateline)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What content matching needs from the text: computed wherever the CPU is (a worker)."""

    signature: Signature | None
    numbers: bytes
    # The LSH band keys of the signature (none without one): computed with the signature, so
    # that the shell, which takes the decision, does not spend its CPU on them.
    band_keys: tuple[int, ...] = ()


def fingerprint(article: CanonicalArticle, settings: DedupeSettings) -> Fingerprint:
    """The MinHash signature, its band keys and the number mask of an article's text; pure."""
    text = article_text(article)
    sig = signature(text, shingle_size=settings.shingle_size, num_perm=settings.num_perm)
    if sig is None:
        return Fingerprint(None, number_mask(text))
    bands = tuple(band_keys(sig, lsh_params(settings.threshold, settings.num_perm)))
    return Fingerprint(sig, number_mask(text), bands)


class Deduplicator:
    def __init__(self, store: DedupeStore, settings: DedupeSettings) -> None:
        self._store = store
        self._settings = settings
        self._params: LshParams = lsh_params(settings.threshold, settings.num_perm)

    @property
    def store(self) -> DedupeStore:
        return self._store

    async def decide(self, article: CanonicalArticle, known: Fingerprint | None = None) -> CanonicalArticle:
        """The article with story_id, supersedes, duplicate_of and dedupe set; the decision is recorded.

        `known` is the article's fingerprint when a worker computed it already; otherwise it
        is computed here, and only when the decision needs it.
        """
        key = item_key(article)
        sig: Signature | None = known.signature if known else None
        numbers = known.numbers if known else b""
        bands = known.band_keys if known else ()
        sig_done = known is not None
        for _ in range(_MAX_ATTEMPTS):
            snapshot = await self._store.snapshot(article.event_id, key)
            outcome = decide_by_record(article, snapshot)
            if snapshot.recorded is not None and outcome is not None:
                if await self._keep(snapshot.recorded, article):
                    return outcome.apply(article)  # already decided: nothing to write
                continue  # the record left the store since the snapshot: decide afresh
            checked: tuple[int, ...] = ()
            seen: frozenset[str] = frozenset()
            if (outcome is None or indexes_content(outcome)) and not sig_done:
                computed = fingerprint(article, self._settings)
                sig, numbers, bands, sig_done = computed.signature, computed.numbers, computed.band_keys, True
            if outcome is None:
                if sig is not None:
                    checked = bands or tuple(band_keys(sig, self._params))
                    found = await self._store.candidates(checked)
                    # After its event record was evicted, a story must not match itself.
                    candidates = [c for c in found if c.event_id != article.event_id]
                    seen = frozenset(c.event_id for c in candidates)
                    outcome = decide_by_content(
                        article, best_match(sig, candidates, self._settings.threshold, numbers)
                    )
                else:
                    outcome = decide_by_content(article, None)
            if await self._store.commit(
                self._write(
                    article,
                    key,
                    snapshot,
                    outcome,
                    sig=sig,
                    numbers=numbers,
                    bands=bands,
                    checked=checked,
                    seen=seen,
                )
            ):
                return outcome.apply(article)
        raise StoreUnavailableError(
            f"dedupe: {_MAX_ATTEMPTS} conflicting writes in a row for {article.event_id}"
        )

    def _write(
        self,
        article: CanonicalArticle,
        key: str,
        snapshot: Snapshot,
        outcome: Outcome,
        *,
        sig: Signature | None,
        numbers: bytes,
        bands: tuple[int, ...],
        checked: tuple[int, ...],
        seen: frozenset[str],
    ) -> Write:
        created = timestamp(article.versioncreated)
        story = None
        if sig is not None and indexes_content(outcome):
            story = StoryEntry(
                event_id=article.event_id,
                story_id=outcome.story_id,
                signature=sig,
                band_keys=bands or checked or tuple(band_keys(sig, self._params)),
                versioncreated=created,
                numbers=numbers,
            )
        return Write(
            event=RecordedEvent(article.event_id, Claim.of(article), outcome, created),
            item_key=key,
            expected_item_event=snapshot.item.event_id if snapshot.item else None,
            item=next_item_state(article, outcome, snapshot.item),
            story=story,
            checked_bands=checked,
            seen_stories=seen,
        )

    # ------------------------------------------------------------ retention (see store.py)

    async def _keep(self, recorded: RecordedEvent, article: CanonicalArticle) -> bool:
        """Make sure the recorded decision answering `article` stays until its offset is committed.

        The record that claimed the event is held by the event record itself; any other
        record answered by it (a redelivery) takes a hold. False: the record is gone.
        """
        claim = Claim.of(article)
        return recorded.claim == claim or await self._store.hold(recorded.event_id, claim)

    async def committed(self, positions: Mapping[tuple[str, int], int]) -> None:
        """Tell the store which offsets are committed: {(topic, partition): next offset to read}.

        Call it after every successful commit (or committed transaction) with the offsets
        just committed, and it is fine to call it for only the partitions that moved.
        Until a partition is reported, the decisions of its records are never evicted.
        May raise StoreUnavailableError; nothing is lost by skipping a report, the next
        one covers it.
        """
        if positions:
            await self._store.committed(positions)

    def state_size(self) -> int:
        return self._store.size()

    async def close(self) -> None:
        await self._store.close()


__all__ = ["Deduplicator", "Relation"]
