"""Pure parts of the dedupe stage: shingles, signatures, banding, the band index, the decision rules."""

from __future__ import annotations

import re
import zlib
from datetime import timedelta

import numpy as np
import pytest
from datasketch import MinHash
from hypothesis import given
from hypothesis import strategies as st

from service.dedupe.decide import (
    Candidate,
    Claim,
    ItemState,
    Outcome,
    RecordedEvent,
    Snapshot,
    best_match,
    decide_by_content,
    decide_by_record,
    item_key,
    next_item_state,
    timestamp,
)
from service.dedupe.facts import _ASCII_NUMBER, _NUMBER, number_mask, numbers_agree
from service.dedupe.index import BandIndex
from service.dedupe.minhash import (
    _CRC_REACH,
    SCHEME,
    SEED,
    _ascii_word_crcs,
    _permutations,
    _word_hash_array,
    band_key_matrix,
    band_keys,
    compared_values,
    estimated_jaccard,
    from_bytes,
    lsh_params,
    shares_band,
    shingle_hashes,
    shingles,
    signature,
    to_bytes,
    words,
)
from service.dedupe.samples import (
    RESULTS_ACME,
    RESULTS_ACME_REPRINT,
    RESULTS_GLOBEX,
    XI_ALIYEV,
    XI_ALIYEV_REPRINT,
    XI_PUTIN,
)
from service.dedupe.testing import BASE_TIME, make_article
from service.models import PubStatus, Relation


def _state(article_version: str = "2", hours: int = 0) -> tuple[ItemState, str]:
    stored = make_article(
        version=article_version, body="stored", versioncreated=BASE_TIME + timedelta(hours=hours)
    )
    state = ItemState(
        event_id=stored.event_id,
        version=stored.version,
        versioncreated=timestamp(stored.versioncreated),
        content_hash=stored.content_hash,
        story_id=stored.story_id,
    )
    return state, stored.event_id


def test_shingles_ignore_case_and_punctuation() -> None:
    """Normalisation makes 'Xi, MEETS putin!' and 'xi meets Putin' the same shingles."""
    assert shingles("Xi, MEETS putin!", 2) == shingles("xi meets Putin", 2) == {b"xi meets", b"meets putin"}


def test_short_text_is_one_shingle_and_empty_text_has_no_signature() -> None:
    """A text shorter than the shingle size still gets a signature; a text without words gets none."""
    assert shingles("two words", 5) == {b"two words"}
    assert signature("  --  ", shingle_size=5, num_perm=64) is None


def test_signature_is_deterministic_and_round_trips_through_bytes() -> None:
    """Signatures are reproducible across calls (stored state stays valid) and 4 bytes per value."""
    first = signature(XI_ALIYEV, shingle_size=4, num_perm=64)
    second = signature(XI_ALIYEV, shingle_size=4, num_perm=64)
    assert first is not None and second is not None
    assert np.array_equal(first, second)
    assert len(to_bytes(first)) == 256
    assert np.array_equal(from_bytes(to_bytes(first)), first)


def test_signature_equals_datasketch_affine32_over_the_shingle_hashes() -> None:
    """The numpy MinHash gives datasketch's values bit for bit, so stored signatures stay comparable."""
    for text in (XI_ALIYEV, XI_PUTIN, "Über-Straße: ÉTÉ 2022 à Zürich", "one", "a b a b a b"):
        for size, perms in ((3, 128), (2, 64)):
            ours = signature(text, shingle_size=size, num_perm=perms)
            reference = MinHash(num_perm=perms, seed=SEED, scheme=SCHEME, hashfunc=lambda v: v)
            reference.update_batch(shingle_hashes(text, size))
            assert ours is not None
            assert np.array_equal(ours, reference.hashvalues)


def test_permutations_are_datasketchs_own() -> None:
    """The (a, b) parameters drawn without importing datasketch are the ones datasketch draws."""
    for perms in (1, 64, 128, 256):
        a, b = _permutations(perms)
        expected_a, expected_b = MinHash(num_perm=perms, seed=SEED, scheme=SCHEME).permutations
        assert a.dtype == np.uint32 and np.array_equal(a[:, 0], expected_a)
        assert np.array_equal(b[:, 0], expected_b)


def test_signature_values_are_pinned() -> None:
    """Word hashing and shingle mixing never change silently: stored state would stop matching."""
    sig = signature(XI_ALIYEV, shingle_size=3, num_perm=128)
    assert sig is not None
    assert sig[:6].tolist() == [8154705, 31103427, 32641699, 20376013, 35149340, 36943135]


def test_ascii_tokens_equal_the_unicode_word_regex() -> None:
    """The ASCII fast path splits exactly where `\\w+` does: underscores, digits, controls, markup."""
    for text in (
        "snake_case x1 3.5% U.S.-based <b>Bold</b>\tTab\x1cFS\x00nul ~`!@#$^&*()=+[]{}|;:'\",./?",
        "MIXED Case, punctuation... and\nnew lines\r\n",
        "Ünïcödé falls back: Straße ΣΑΣ",
    ):
        assert words(text) == re.findall(r"\w+", text.casefold())


_ASCII_PIECES = st.one_of(
    st.text(alphabet="aZ09_ \t\n\x00-.,'\"<>", max_size=12),
    st.sampled_from(["x" * _CRC_REACH, "y" * (_CRC_REACH + 1), "-" * (_CRC_REACH + 5)]),
)


@given(st.lists(_ASCII_PIECES, max_size=30).map("".join))
def test_word_hashes_are_the_crc32_of_each_word(text: str) -> None:
    """The tabled crc32 of an ASCII text's words equals zlib's, word by word, long stretches included."""
    expected = [zlib.crc32(word.encode()) for word in words(text)]
    assert _word_hash_array(text).tolist() == expected
    tabled = _ascii_word_crcs(text)
    assert tabled is None or tabled.tolist() == expected


def test_estimated_jaccard_separates_reprint_from_other_meeting() -> None:
    """The reprint scores high and the other story from the same summit scores low."""
    original = signature(XI_ALIYEV, shingle_size=4, num_perm=128)
    reprint = signature(XI_ALIYEV_REPRINT, shingle_size=4, num_perm=128)
    other = signature(XI_PUTIN, shingle_size=4, num_perm=128)
    assert original is not None and reprint is not None and other is not None
    assert estimated_jaccard(original, reprint) > 0.55
    assert estimated_jaccard(original, other) < 0.25


def test_similarity_reads_the_low_16_bits_so_a_store_may_keep_only_those() -> None:
    """A store with the low halves (memory) and one with whole values (SQLite, Redis) score alike."""
    original = signature(XI_ALIYEV, shingle_size=3, num_perm=128)
    reprint = signature(XI_ALIYEV_REPRINT, shingle_size=3, num_perm=128)
    assert original is not None and reprint is not None
    assert compared_values(reprint).dtype == np.uint16
    assert estimated_jaccard(original, compared_values(reprint)) == estimated_jaccard(original, reprint)
    # Values that differ only above bit 16 count as equal; one differing below does not.
    assert estimated_jaccard(original, original ^ np.uint32(0xFFFF0000)) == 1.0
    assert estimated_jaccard(original, original ^ np.uint32(1)) == 0.0


def test_lsh_params_fit_in_the_signature() -> None:
    """Bands x rows never use more values than the signature has and give at least one band."""
    for threshold in (0.3, 0.5, 0.7, 0.9):
        params = lsh_params(threshold, 64)
        assert 1 <= params.bands * params.rows <= 64


def test_band_keys_match_between_single_and_bulk_computation() -> None:
    """The keys used at write time equal the ones rebuilt from stored signatures at open."""
    params = lsh_params(0.5, 64)
    sigs = np.stack(
        [
            s
            for s in (signature(t, shingle_size=4, num_perm=64) for t in (XI_ALIYEV, XI_PUTIN))
            if s is not None
        ]
    )
    bulk = band_key_matrix(sigs, params)
    assert bulk.shape == (2, params.bands)
    assert [int(k) for k in bulk[1]] == band_keys(sigs[1], params)
    assert len(set(bulk[0].tolist()) & set(bulk[1].tolist())) < params.bands


@pytest.mark.parametrize("short_keys", [False, True])
def test_band_index_finds_by_any_shared_key_across_merges_and_removals(short_keys: bool) -> None:
    """Lookups see the sorted part and the tail, each slot once, and never a removed slot."""
    index = BandIndex(merge_at=4, short_keys=short_keys)
    index.add([1, 2, 3], 10)
    index.add([3, 4, 5], 11)  # crosses merge_at: merged into the sorted part
    index.add([5, 6], 12)  # stays in the tail
    assert index.lookup([3]) == [10, 11]
    assert index.lookup([5, 99]) == [11, 12]
    assert index.lookup([42]) == []
    index.remove([11])
    assert index.lookup([3, 5]) == [10, 12]
    index.merge()
    assert index.lookup([4]) == []
    index.add_many(np.array([[7, 8]], dtype=np.int64), np.array([13], dtype=np.int64))
    assert index.lookup([8, 1]) == [10, 13]


@pytest.mark.parametrize(("merge_at", "short_keys"), [(64, False), (64, True), (1 << 20, False)])
def test_band_index_answers_like_a_dict_of_sets(merge_at: int, short_keys: bool) -> None:
    """Random stories drawing keys from a small pool (so many share a key, some a key twice), with
    removals: every lookup equals a plain dict-of-sets model, in the tail, in runs and across merges."""
    rng = np.random.default_rng(11)
    pool = rng.integers(0, 2**63, size=300, dtype=np.int64).tolist()
    index = BandIndex(merge_at=merge_at, short_keys=short_keys)
    model: dict[int, set[int]] = {}
    removed: set[int] = set()
    for slot in range(400):
        keys = [pool[i] for i in rng.integers(0, len(pool), size=6)]
        index.add(keys, slot)
        for key in keys:
            model.setdefault(key, set()).add(slot)
        if slot % 37 == 36:
            gone = {int(s) for s in rng.integers(0, slot, size=5)}
            index.remove(gone)
            removed |= gone
        query = [pool[i] for i in rng.integers(0, len(pool), size=4)]
        expected = sorted(set().union(*(model.get(key, set()) for key in query)) - removed)
        assert index.lookup(query) == expected


@pytest.mark.parametrize("entries", [3, 5000])  # the tail / a run with its directory
def test_short_keys_find_every_shared_key_and_collide_only_in_the_low_32_bits(entries: int) -> None:
    """A short-key index finds what the full-key one finds, plus stories whose key differs above bit 32."""
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 2**63, size=(entries, 2), dtype=np.int64)
    full, short = BandIndex(merge_at=1 << 20), BandIndex(merge_at=1 << 20, short_keys=True)
    for index in (full, short):
        if entries > 100:
            index.add_many(keys, np.arange(entries, dtype=np.int64))
        else:
            for slot, row in enumerate(keys.tolist()):
                index.add(row, slot)
    for slot in (0, entries - 1):
        query = [int(keys[slot, 1])]
        assert full.lookup(query) == short.lookup(query) == [slot]
        colliding = [int(keys[slot, 1]) ^ (1 << 40)]
        assert full.lookup(colliding) == []
        assert short.lookup(colliding) == [slot]


def test_shares_band_is_true_exactly_for_signatures_with_an_equal_band_key() -> None:
    """The candidate filter keeps every story an index with full keys would find, and no other."""
    params = lsh_params(0.51, 128)
    rng = np.random.default_rng(9)
    base = rng.integers(0, 2**32, size=128, dtype=np.uint32)
    for changed_bands in (0, 1, params.bands - 1, params.bands):
        other = base.copy()
        for band in rng.choice(params.bands, size=changed_bands, replace=False):
            other[band * params.rows] ^= np.uint32(1)  # one value per band, below bit 16
        shared = set(band_keys(base, params)) & set(band_keys(other, params))
        assert shares_band(base, other, params) == bool(shared)
    # Bits above the compared ones change the keys but not the comparison.
    assert shares_band(base, base ^ np.uint32(1 << 20), params)


def test_same_record_gets_its_recorded_decision_back() -> None:
    """A record seen again (crash before ack, or replay) is given the decision recorded for it."""
    article = make_article(offset=7)
    recorded = Outcome(
        relation=Relation.UPDATE, story_id="s", supersedes="e0", matched_event_id="e0", method="item_id"
    )
    snapshot = Snapshot(RecordedEvent(article.event_id, Claim("wire.raw", 0, 7, 0), recorded, 0.0), None)
    assert decide_by_record(article, snapshot) == recorded
    replay = make_article(offset=7, replay=True)
    assert decide_by_record(replay, snapshot) == recorded


def test_same_event_from_another_record_is_a_redelivery() -> None:
    """The same event_id from another offset is a redelivery of the recorded event, on its story."""
    article = make_article(offset=8)
    recorded = Outcome(relation=Relation.NEW, story_id="story-x")
    snapshot = Snapshot(RecordedEvent(article.event_id, Claim("wire.raw", 0, 7, 0), recorded, 0.0), None)
    outcome = decide_by_record(article, snapshot)
    assert outcome is not None
    assert outcome.relation is Relation.REDELIVERY
    assert outcome.story_id == "story-x"
    assert outcome.matched_event_id == article.event_id
    assert outcome.method == "content_hash"


def test_higher_version_updates_and_lower_version_is_stale() -> None:
    """Versions compare as numbers ('10' > '9'); older arrivals never supersede newer ones."""
    state, stored_id = _state("9")
    newer = decide_by_record(make_article(version="10", body="v10"), Snapshot(None, state))
    older = decide_by_record(make_article(version="8", body="v8"), Snapshot(None, state))
    assert newer == Outcome(
        Relation.UPDATE, state.story_id, supersedes=stored_id, matched_event_id=stored_id, method="item_id"
    )
    assert older is not None and older.relation is Relation.STALE and older.supersedes is None
    assert older.matched_event_id == stored_id


def test_non_numeric_versions_compare_by_versioncreated() -> None:
    """Without numeric versions, a later versioncreated with changed content is an update."""
    state, _ = _state("v-b", hours=0)
    later = make_article(version="v-a", body="changed", versioncreated=BASE_TIME + timedelta(hours=1))
    earlier = make_article(version="v-c", body="changed", versioncreated=BASE_TIME - timedelta(hours=1))
    assert (
        decide_by_record(later, Snapshot(None, state)) or Outcome(Relation.NEW, "")
    ).relation is Relation.UPDATE
    assert (
        decide_by_record(earlier, Snapshot(None, state)) or Outcome(Relation.NEW, "")
    ).relation is Relation.STALE


def test_kill_goes_on_the_items_story_and_supersedes_the_latest() -> None:
    """A canceled or withheld item is a KILL on its story, linked to the version it retracts."""
    state, stored_id = _state("2")
    for status in (PubStatus.CANCELED, PubStatus.WITHHELD):
        outcome = decide_by_record(make_article(version="3", pubstatus=status), Snapshot(None, state))
        assert outcome is not None
        assert (outcome.relation, outcome.story_id, outcome.supersedes) == (
            Relation.KILL,
            state.story_id,
            stored_id,
        )
    unknown = decide_by_record(
        make_article(item_id="never-seen", pubstatus=PubStatus.CANCELED), Snapshot(None, None)
    )
    assert unknown is not None and unknown.relation is Relation.KILL


def test_unknown_item_is_left_to_the_content_check() -> None:
    """An item never seen is not decided by record: the content decides."""
    assert decide_by_record(make_article(), Snapshot(None, None)) is None


def test_best_match_respects_threshold_and_prefers_the_closest() -> None:
    """Only candidates at or above the threshold match; the most similar one wins."""
    base = np.arange(10, dtype=np.uint32)
    half = base.copy()
    half[:5] += 100
    close = base.copy()
    close[0] += 100
    candidates = [Candidate("half", "s1", half), Candidate("close", "s2", close)]
    match = best_match(base, candidates, 0.5)
    assert match is not None and match[0].event_id == "close" and match[1] == 0.9
    assert best_match(base, candidates[:1], 0.6) is None
    outcome = decide_by_content(make_article(), match)
    assert outcome.relation is Relation.NEAR_DUPLICATE
    assert (outcome.duplicate_of, outcome.story_id, outcome.similarity, outcome.method) == (
        "close",
        "s2",
        0.9,
        "minhash_lsh",
    )


def test_item_state_moves_only_forward() -> None:
    """Stale arrivals and redeliveries leave the item's latest version alone."""
    state, _ = _state("5")
    stale = make_article(version="4", body="old")
    assert next_item_state(stale, Outcome(Relation.STALE, state.story_id), state) is None
    newer = make_article(version="6", body="new")
    moved = next_item_state(newer, Outcome(Relation.UPDATE, state.story_id), state)
    assert moved is not None and moved.event_id == newer.event_id and moved.story_id == state.story_id
    assert item_key(newer) == newer.story_id


def test_figures_veto_a_template_filled_with_other_numbers() -> None:
    """Two companies' results share the wording but not the figures; a trimmed reprint keeps them."""
    acme, globex, reprint = (number_mask(t) for t in (RESULTS_ACME, RESULTS_GLOBEX, RESULTS_ACME_REPRINT))
    assert len(acme) == 16
    assert not numbers_agree(acme, globex)
    assert numbers_agree(acme, reprint)
    # Too few figures to judge, or state stored before the check: never a veto.
    assert numbers_agree(number_mask("2022 results"), number_mask("1999 results"))
    assert numbers_agree(acme, b"") and numbers_agree(b"", globex)
    # Digits glued to letters are names, not figures.
    assert number_mask("w123 Q4 ab12cd x_9") == number_mask("")


@given(st.text(alphabet="0123456789٣٤.,_ aQé-\n", max_size=40))
def test_figures_are_the_digit_runs_with_no_word_character_before(text: str) -> None:
    """The reordered figure pattern finds exactly what the plain look-behind form finds."""
    assert _NUMBER.findall(text) == re.findall(r"(?<!\w)\d+(?:[.,]\d+)*", text)
    if text.isascii():
        assert _ASCII_NUMBER.findall(text.encode()) == [token.encode() for token in _NUMBER.findall(text)]


def test_best_match_skips_a_similar_candidate_with_other_figures() -> None:
    """The template with other numbers is above the threshold on wording alone, yet not a match."""
    acme = signature(RESULTS_ACME, shingle_size=3, num_perm=128)
    globex = signature(RESULTS_GLOBEX, shingle_size=3, num_perm=128)
    assert acme is not None and globex is not None
    assert estimated_jaccard(acme, globex) >= 0.5
    stored = Candidate("e-globex", "s-globex", globex, number_mask(RESULTS_GLOBEX))
    assert best_match(acme, [stored], 0.5, number_mask(RESULTS_ACME)) is None
    assert best_match(acme, [stored], 0.5) is not None
