"""Text -> word shingles -> MinHash signature -> LSH band keys; all pure.

Signatures are datasketch MinHashes with the permutation scheme pinned, so a
library upgrade cannot silently change the values stored in a state file.
Only the `num_perm` uint32 values are kept (`num_perm * 4` bytes per story);
the text never is. Similarity compares the low `COMPARED_BITS` bits of each
value (b-bit MinHash), so a store may keep just those (the memory store does:
2 bytes a value); band keys use the whole values.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

Signature = npt.NDArray[np.uint32]

SCHEME = "affine32"
SEED = 1
_WORD = re.compile(r"\w+", re.UNICODE)
_EMPTY = np.uint32(0xFFFFFFFF)
_MIX_1 = np.uint64(0x9E3779B97F4A7C15)
_MIX_2 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_3 = np.uint64(0x94D049BB133111EB)


# Every ASCII character that `\w` does not match, mapped to a space: on ASCII
# text, translate + split yields exactly the `\w+` runs, three times faster.
_ASCII_NON_WORD = {c: " " for c in range(128) if not _WORD.fullmatch(chr(c))}


def words(text: str) -> list[str]:
    """Lower-case word tokens; punctuation, spacing and markup leftovers do not count."""
    if text.isascii():
        return text.lower().translate(_ASCII_NON_WORD).split()
    return _WORD.findall(text.casefold())


def shingles(text: str, size: int) -> set[bytes]:
    """The set of `size`-word shingles of a text (a shorter text is one shingle)."""
    tokens = words(text)
    if not tokens:
        return set()
    if len(tokens) <= size:
        return {" ".join(tokens).encode()}
    return {" ".join(tokens[i : i + size]).encode() for i in range(len(tokens) - size + 1)}


@lru_cache(maxsize=8)
def _permutations(num_perm: int) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """datasketch's affine32 parameters (a, b) for `num_perm`, drawn from SEED as datasketch draws them
    (MinHash._init_permutations; a unit test compares both). Not imported from datasketch: its
    import pulls in scipy, a second of start-up for two arrays."""
    gen = np.random.RandomState(SEED)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    # As columns: the (num_perm, shingles) product is then reduced along its contiguous axis.
    return np.asarray(a, dtype=np.uint32)[:, None].copy(), np.asarray(b, dtype=np.uint32)[:, None].copy()


_SIGNATURE_CHUNK = 1 << 15  # shingles per step: bounds the work array to num_perm * 32 Ki values
_SHINGLE_MULT = np.uint64(0x100000001B3)  # FNV-1a's 64-bit prime: mixes word order into the shingle hash
_WORD_CACHE_LIMIT = 1 << 17  # distinct words kept hashed (~15 MB at most); cleared when full


class _WordHashes(dict[str, int]):
    """crc32 of each word, cached: wire text reuses a small vocabulary, and a dict hit is cheaper."""

    def __missing__(self, word: str) -> int:
        value = zlib.crc32(word.encode())
        if len(self) >= _WORD_CACHE_LIMIT:
            self.clear()
        self[word] = value
        return value


_word_hashes = _WordHashes()

# Hashing the words of an ASCII text in a few numpy calls, without a Python object per word.
# crc32 is affine over GF(2): a word's crc32 is the XOR of what each of its bytes contributes
# at its distance d from the word's last byte, W[d][x] = crc32(x + d zero bytes) ^ crc32(d zero
# bytes) (the constant part spread over the bytes, so that it adds up to crc32's own).
_CRC_REACH = 64  # distances the table covers; a text with a longer word or gap is hashed word by word
_VECTOR_TEXT_LIMIT = 1 << 20  # characters: bounds the per-byte work arrays (~20 bytes per character)
# Each ASCII character `\w` matches, lower-cased; every other one is byte 0, which adds nothing.
_ASCII_WORD_BYTES = bytes(ord(chr(c).lower()) if _WORD.fullmatch(chr(c)) else 0 for c in range(128))
_ASCII_WORD_BYTES += bytes(128)


@lru_cache(maxsize=1)
def _crc_table() -> npt.NDArray[np.uint32]:
    """W flattened: the share of byte x at distance d is at index d * 256 + x (16 Ki values)."""
    table = np.zeros((_CRC_REACH, 256), dtype=np.uint32)
    for distance in range(_CRC_REACH):
        zeros = bytes(distance)
        base = zlib.crc32(zeros)
        table[distance, 1:] = [zlib.crc32(bytes((x,)) + zeros) ^ base for x in range(1, 256)]
    return table.ravel()


def _ascii_word_crcs(text: str) -> npt.NDArray[np.uint32] | None:
    """zlib.crc32 of each word of an ASCII text, in order; None if a stretch is beyond the table.

    Array methods and ufuncs rather than numpy's module functions (flatnonzero, max, repeat):
    those wrap the same C code in Python calls, ~1 us each here.
    """
    chars = np.frombuffer((text.encode("ascii") + b" ").translate(_ASCII_WORD_BYTES), dtype=np.uint8)
    in_word = chars.astype(bool)
    last = (in_word[:-1] > in_word[1:]).nonzero()[0]  # the last byte of each word
    if not last.shape[0]:
        return np.empty(0, dtype=np.uint32)
    # Each byte's stretch ends at the next word's last byte: a word, after the gap before it.
    stretch = np.empty_like(last)
    stretch[0] = last[0] + 1
    np.subtract(last[1:], last[:-1], out=stretch[1:])
    if np.maximum.reduce(stretch) > _CRC_REACH:
        return None
    end = int(last[-1]) + 1
    index = last.repeat(stretch)
    index -= np.arange(end)  # distance to the stretch's end (gap bytes are 0: any distance adds nothing)
    index <<= 8
    index |= chars[:end]
    running = np.bitwise_xor.accumulate(_crc_table().take(index))
    crcs = running[last]
    crcs[1:] ^= running[last[:-1]]
    return crcs


def _word_hash_array(text: str) -> npt.NDArray[np.uint64]:
    """crc32 of each word of a text, in order (repeats kept)."""
    if text.isascii() and len(text) <= _VECTOR_TEXT_LIMIT:
        crcs = _ascii_word_crcs(text)
        if crcs is not None:
            return crcs.astype(np.uint64)
    tokens = words(text)
    return np.fromiter(map(_word_hashes.__getitem__, tokens), dtype=np.uint64, count=len(tokens))


def _shingle_hash_array(text: str, size: int) -> npt.NDArray[np.uint32]:
    """32-bit hash of every `size`-word shingle of a text, in text order (repeats kept)."""
    word_hashes = _word_hash_array(text)
    if not word_hashes.shape[0]:
        return np.empty(0, dtype=np.uint32)
    width = min(size, word_hashes.shape[0])
    count = word_hashes.shape[0] - width + 1
    combined = word_hashes[:count].copy()
    with np.errstate(over="ignore"):
        for k in range(1, width):
            combined *= _SHINGLE_MULT
            combined ^= word_hashes[k : k + count]
        combined ^= combined >> np.uint64(33)
        combined *= _MIX_2
        combined ^= combined >> np.uint64(29)
    return combined.astype(np.uint32)


def shingle_hashes(text: str, size: int) -> list[int]:
    """32-bit hashes of the distinct `size`-word shingles of a text, computed with numpy.

    Equivalent to hashing each joined shingle, but only the words are hashed (crc32:
    tabled in numpy for ASCII text, else word by word, cached); combining them into
    shingles is vectorised.
    """
    unique: list[int] = np.unique(_shingle_hash_array(text, size)).tolist()
    return unique


def _fmix32(hv: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    """MurmurHash3's 32-bit finalizer, as datasketch applies it before the affine permutations."""
    hv = hv ^ (hv >> np.uint32(16))
    hv *= np.uint32(0x85EBCA6B)
    hv ^= hv >> np.uint32(13)
    hv *= np.uint32(0xC2B2AE35)
    hv ^= hv >> np.uint32(16)
    return hv


def signature(text: str, *, shingle_size: int, num_perm: int) -> Signature | None:
    """MinHash signature of a text, or None when it has no words.

    The values are exactly those of datasketch's affine32 MinHash fed the
    shingle hashes (pinned by a test); computed here in a few numpy calls
    because the per-call object and list handling cost more than the maths.
    A repeated shingle cannot change a minimum, so repeats are not removed.
    """
    hashes = _shingle_hash_array(text, shingle_size)
    if not hashes.shape[0]:
        return None
    a, b = _permutations(num_perm)
    sig: Signature | None = None
    # In chunks: the (num_perm, shingles) product of a 10 MB body would need ~1 GB at once.
    for start in range(0, hashes.shape[0], _SIGNATURE_CHUNK):
        mixed = _fmix32(hashes[start : start + _SIGNATURE_CHUNK])
        with np.errstate(over="ignore"):
            values = a * mixed
            values += b
        chunk_min = np.minimum.reduce(values, axis=1)
        sig = chunk_min if sig is None else np.minimum(sig, chunk_min)
    return sig


def to_bytes(sig: Signature) -> bytes:
    return sig.astype("<u4", copy=False).tobytes()


def from_bytes(data: bytes) -> Signature:
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


# b-bit MinHash (Li and König, 2010): two different values agree in their low 16 bits
# with probability 2**-16, so a pair with Jaccard J gains 128 * (1 - J) / 65536 < 0.002
# equal values on average (the estimate rises by under 0.00002). One accidental
# agreement lifts a pair exactly one value below the threshold over it: that needs
# one of its ~63 differing values to agree, p ~ 0.001, for pairs already one value away.
# Every backend compares this way (SQLite and Redis keep storing 32-bit values), so a
# decision never depends on the backend.
COMPARED_BITS = 16
_COMPARED_MASK = np.uint32((1 << COMPARED_BITS) - 1)


def compared_values(sig: Signature) -> npt.NDArray[np.uint16]:
    """The part of each value that `estimated_jaccard` reads: what a store must keep at least."""
    return (sig & _COMPARED_MASK).astype(np.uint16)


def estimated_jaccard(a: Signature | npt.NDArray[np.uint16], b: Signature | npt.NDArray[np.uint16]) -> float:
    """Share of MinHash values equal in their low COMPARED_BITS bits: the Jaccard similarity, estimated."""
    if a.shape != b.shape:
        return 0.0
    differing = (a ^ b) & _COMPARED_MASK
    return float(np.count_nonzero(differing == 0)) / float(a.shape[0])


@dataclass(frozen=True, slots=True)
class LshParams:
    bands: int
    rows: int

    @property
    def tag(self) -> str:
        """Names the banding in store keys, so a changed setting starts fresh bands."""
        return f"{self.bands}x{self.rows}"


def _band_probability(s: npt.NDArray[np.float64], bands: int, rows: int) -> npt.NDArray[np.float64]:
    return np.asarray(1.0 - (1.0 - s**rows) ** bands, dtype=np.float64)


@lru_cache(maxsize=32)
def lsh_params(threshold: float, num_perm: int, fn_weight: float = 0.9) -> LshParams:
    """Bands x rows minimising the weighted false-positive and false-negative areas around `threshold`.

    Misses weigh more than extra candidates by default: every candidate is
    verified on its full signature afterwards, so a false positive of the
    banding only costs a comparison, while a miss is a lost duplicate.
    """
    best: tuple[float, int, int] | None = None
    below = np.linspace(0.0, threshold, 200)
    above = np.linspace(threshold, 1.0, 200)
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = float(np.trapezoid(_band_probability(below, bands, rows), below))
            fn = float(np.trapezoid(1.0 - _band_probability(above, bands, rows), above))
            error = (1.0 - fn_weight) * fp + fn_weight * fn
            if best is None or error < best[0]:
                best = (error, bands, rows)
    assert best is not None
    return LshParams(bands=best[1], rows=best[2])


_SHIFT_1, _SHIFT_29, _SHIFT_31 = np.uint64(1), np.uint64(29), np.uint64(31)


@lru_cache(maxsize=32)
def _band_seeds(bands: int) -> npt.NDArray[np.uint64]:
    """Each band's starting value, its number mixed; read-only, shared by every call."""
    seeds = np.arange(1, bands + 1, dtype=np.uint64) * _MIX_1
    seeds.flags.writeable = False
    return seeds


def band_key_matrix(sigs: npt.NDArray[np.uint32], params: LshParams) -> npt.NDArray[np.int64]:
    """Band keys of many signatures at once: (stories, num_perm) -> (stories, bands)."""
    count = sigs.shape[0]
    used = sigs[:, : params.bands * params.rows].astype(np.uint64).reshape(count, params.bands, params.rows)
    return _band_hashes(used)


def band_keys(sig: Signature, params: LshParams) -> list[int]:
    """One key per band of one signature."""
    used = sig[: params.bands * params.rows].astype(np.uint64).reshape(params.bands, params.rows)
    keys: list[int] = _band_hashes(used).tolist()
    return keys


def _band_hashes(used: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
    """The key of each band of `used` (..., bands, rows): the band number hashed with the band's
    values (splitmix64 steps, vectorised), keeping 63 bits so it fits a signed integer column.

    Written for few numpy calls, all in place: for one signature (every article) the arrays
    are 32 values long and each call costs far more than its arithmetic. Integer overflow
    is the point here, and numpy checks it only for scalars.
    """
    h = np.empty(used.shape[:-1], dtype=np.uint64)
    h[...] = _band_seeds(used.shape[-2])
    shifted = np.empty_like(h)
    for row in range(used.shape[-1]):
        h ^= used[..., row]
        h *= _MIX_2
        h ^= np.right_shift(h, _SHIFT_31, out=shifted)
        h *= _MIX_3
        h ^= np.right_shift(h, _SHIFT_29, out=shifted)
    h >>= _SHIFT_1
    return h.view(np.int64)  # the top bit is clear: the same values as a conversion, without a copy


def shares_band(a: Signature, b: Signature, params: LshParams) -> bool:
    """Whether some band of `a` and `b` agrees in every compared value.

    True of any two signatures with an equal band key (equal keys come from equal
    values), so filtering candidates with it drops only what an index with short
    keys finds by a key collision (`index.BandIndex`): every backend then
    compares the same stories. A colliding story passes only if one of its bands
    also agrees with the article's in 4 x 16 bits, p ~ 2**-64 per band.
    """
    used = params.bands * params.rows
    agree = ((a[:used] ^ b[:used]) & _COMPARED_MASK) == 0
    return bool(agree.reshape(params.bands, params.rows).all(axis=1).any())


def is_empty(sig: Signature) -> bool:
    return bool(np.all(sig == _EMPTY))
