"""The dedupe stage: read the store, decide (pure), write the decision back atomically."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from ..errors import StoreUnavailableError
from ..models import CanonicalArticle, Relation
from ..settings import DedupeSettings
from .decide import (
    Candidate,
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
from .minhash import LshParams, Signature, band_keys, from_bytes, lsh_params, shares_band, signature, to_bytes
from .store import DedupeStore, InProcessConflicts, StoryEntry, Write
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

    def __reduce__(self) -> tuple[Callable[..., Fingerprint], tuple[Any, ...]]:
        # Pickled for every record (worker -> shell): the signature as its bytes is a fifth of
        # the cost of a pickled numpy array, and a constructor call beats the dataclass state.
        signature = to_bytes(self.signature) if self.signature is not None else None
        return (_fingerprint_of, (signature, self.numbers, self.band_keys))


def _fingerprint_of(signature: bytes | None, numbers: bytes, band_keys: tuple[int, ...]) -> Fingerprint:
    return Fingerprint(from_bytes(signature) if signature is not None else None, numbers, band_keys)


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
        # Decisions taken by `decide_ahead`, by id() of the article, until `decide` asks for them.
        self._ahead: dict[int, tuple[CanonicalArticle, CanonicalArticle]] = {}

    @property
    def store(self) -> DedupeStore:
        return self._store

    async def decide(self, article: CanonicalArticle, known: Fingerprint | None = None) -> CanonicalArticle:
        """The article with story_id, supersedes, duplicate_of and dedupe set; the decision is recorded.

        `known` is the article's fingerprint when a worker computed it already; otherwise it
        is computed here, and only when the decision needs it.
        """
        ahead = self._ahead.pop(id(article), None)
        if ahead is not None and ahead[0] is article:
            return ahead[1]
        decision = self._decision(article, known)
        store = self._store
        if isinstance(store, InProcessConflicts):
            # One trip to where the store runs (SQLite: its thread) for the whole decision.
            return await store.run_local(lambda: _drive_local(decision, store))
        request = next(decision)
        try:
            while True:
                request = decision.send(await _call_remote(store, request))
        except StopIteration as done:
            return _decided(done.value)

    async def decide_ahead(self, items: Sequence[tuple[CanonicalArticle, Fingerprint | None]]) -> None:
        """Take the decisions of many items, in order, in one trip to an in-process store.

        For SQLite that is one hop to its thread per round of records instead of one per
        item. `decide` then answers each of these articles from here. At the first failure
        the rest is left to `decide`, item by item, where the failure is handled (a store
        outage holds only the partition that needed the store). A shared store (Redis)
        decides item by item.
        """
        self._ahead.clear()  # leftovers of a round given up
        store = self._store
        if not isinstance(store, InProcessConflicts) or len(items) < 2:
            return

        def decide_all() -> None:
            ahead: dict[int, tuple[CanonicalArticle, CanonicalArticle]] = {}
            try:
                with store.batch():  # SQLite: one transaction (one commit) for the round
                    for article, known in items:
                        if id(article) in ahead:
                            break  # one article object twice: `decide` answers the second time
                        try:
                            decided = _drive_local(self._decision(article, known), store)
                        except Exception:  # taken again by `decide`, item by item, which handles it
                            break
                        ahead[id(article)] = (article, decided)
            except Exception:  # the batch did not commit: none of it is recorded, `decide` takes it all
                return
            self._ahead = ahead

        await store.run_local(decide_all)

    def _decision(
        self, article: CanonicalArticle, known: Fingerprint | None
    ) -> Generator[StoreCall, object, CanonicalArticle]:
        """The decision with its store calls yielded (`StoreCall`) and their answers sent back.

        Written once for every store: a store in this process answers with plain calls,
        a shared one with awaited round trips.
        """
        key = item_key(article)
        sig: Signature | None = known.signature if known else None
        numbers = known.numbers if known else b""
        bands = known.band_keys if known else ()
        sig_done = known is not None
        for _ in range(_MAX_ATTEMPTS):
            snapshot = cast(Snapshot, (yield ("snapshot", (article.event_id, key))))
            outcome = decide_by_record(article, snapshot)
            if snapshot.recorded is not None and outcome is not None:
                # Make sure the recorded decision answering `article` stays until its offset is
                # committed: the record that claimed the event is held by the event record itself;
                # any other record answered by it (a redelivery) takes a hold.
                claim = Claim.of(article)
                recorded = snapshot.recorded
                if recorded.claim == claim or (yield ("hold", (recorded.event_id, claim))):
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
                    found = cast(list[Candidate], (yield ("candidates", (checked,))))
                    # After its event record was evicted, a story must not match itself.
                    candidates = [c for c in found if c.event_id != article.event_id]
                    seen = frozenset(c.event_id for c in candidates)
                    # The memory store's index may add a story sharing no band (a short-key
                    # collision); dropping it keeps every backend comparing the same stories.
                    sharing = [c for c in candidates if shares_band(sig, c.signature, self._params)]
                    outcome = decide_by_content(
                        article, best_match(sig, sharing, self._settings.threshold, numbers)
                    )
                else:
                    outcome = decide_by_content(article, None)
            write = self._write(
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
            if (yield ("commit", (write,))):
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


# A store call of a decision: the DedupeStore method's name and its arguments.
StoreCall = tuple[Literal["snapshot", "candidates", "commit", "hold"], tuple[Any, ...]]


def _drive_local(
    decision: Generator[StoreCall, object, CanonicalArticle], store: InProcessConflicts
) -> CanonicalArticle:
    calls: dict[str, Callable[..., object]] = {
        "snapshot": store.snapshot_now,
        "candidates": store.candidates_now,
        "commit": store.commit_now,
        "hold": store.hold_now,
    }
    request = next(decision)
    try:
        while True:
            name, args = request
            request = decision.send(calls[name](*args))
    except StopIteration as done:
        return _decided(done.value)


async def _call_remote(store: DedupeStore, request: StoreCall) -> object:
    name, args = request
    method: Callable[..., Awaitable[object]] = getattr(store, name)
    return await method(*args)


def _decided(value: object) -> CanonicalArticle:
    assert isinstance(value, CanonicalArticle)
    return value


__all__ = ["Deduplicator", "Relation"]
