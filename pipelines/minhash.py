"""MinHash signatures and LSH banding, as plain numpy (no Beam).

Shingles. The text is lower-cased; word shingles are runs of `ngram`
consecutive `\\w+` tokens (punctuation and spacing do not count), character
shingles are runs of `ngram` characters after whitespace is collapsed to one
space. A document with fewer than `ngram` tokens has no shingle and no
signature: it is never a candidate duplicate.

Everything is computed for a whole batch of documents at once, with numpy
over the batch's code points, and no Python call per word: at ~320 words a
document, one Python call per word (a regex match, an xxh3 call) alone costs
more than the whole budget (twice rensa's docs/s, see benchmarks/RESULTS.md).

Shingle hashes (64-bit, all arithmetic mod 2^64). The batch's lower-cased texts
are one array of code points; `\\w` is a lookup table over all code points,
built once from the `re` module itself (`quality.char_classes`), so the tokens are exactly
`re.findall(r"\\w+", text.lower())`. A token c_0..c_{L-1} gets the polynomial
sum c_k P^k (P = 0x9E3779B97F4A7C15), read off prefix sums of c_k P^k times
P^-s (P is odd, so invertible), then the murmur3 finaliser fmix64; a word
shingle folds its token hashes in order, h = (h * P) ^ t, a character shingle
is the polynomial of its `ngram` code points. The shingle hash is
fmix64(h + key), key drawn from numpy's PCG64(`seed`).

Signature: one permutation hashing with optimal densification (Li, Owen &
Zhang 2012; Shrivastava 2017), O(shingles + num_perm) per document instead
of the O(shingles x num_perm) of `num_perm` independent hash functions. The
high 32 bits of a shingle hash pick one of `num_perm` bins (multiply-shift
range reduction), the low 32 bits are its value; a bin keeps the minimum value
of its shingles. An empty bin j copies the value of the first non-empty bin in
its probe sequence, a fixed random permutation of the bins (PCG64(`seed`)),
the same for every document. Two documents' signatures agree at position j
exactly when the first bin of j's sequence (j first) that is non-empty for
the union of their shingle sets has its minimum in the intersection, which
happens with probability Jaccard: the fraction of agreeing positions stays an
unbiased estimate, and bands of it stay LSH keys. Against independent
permutations the estimate's variance is slightly higher when a document has
fewer shingles than bins (tests/test_minhash.py bounds it; the near-dup
accuracy is in benchmarks/RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
import xxhash

from quality.char_classes import char_class_table

HASH_SCHEME = (
    "oph-densified-v1: tokens sum c_k*P^k mod 2^64 then fmix64, word shingles folded (h*P)^t, "
    "char shingles sum c_k*P^k; fmix64(h+key); bin=(hi32*num_perm)>>32, value=lo32, min per bin; "
    "empty bins copy the first non-empty bin of a per-bin permutation; P=0x9E3779B97F4A7C15, key and permutations PCG64(seed)"
)

Shingle = Literal["word", "char"]

_P = np.uint64(0x9E3779B97F4A7C15)
_P_INVERSE = np.uint64(pow(0x9E3779B97F4A7C15, -1, 2**64))
_FMIX = (np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))
_LOW32 = np.uint64(0xFFFFFFFF)
_EMPTY = np.uint64(1 << 32)  # above every 32-bit value: marks an empty bin
_U32 = np.uint64(32)
_U33 = np.uint64(33)
# Code points per batch: the prefix-power tables cover it and its arrays (8 bytes a code
# point) stay near the L2 cache; longer documents get their own batch and tables.
_BATCH_CODE_POINTS = 1 << 17


def _powers(base: np.uint64, count: int) -> np.ndarray:
    """base^0 .. base^(count-1) mod 2^64."""
    out = np.full(count, base, dtype=np.uint64)
    out[0] = 1
    return np.cumprod(out, out=out)


_POWERS = _powers(_P, _BATCH_CODE_POINTS + 1)
_INVERSE_POWERS = _powers(_P_INVERSE, _BATCH_CODE_POINTS + 1)


def _fmix64(h: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finaliser, in place (a bijection that spreads every bit)."""
    h ^= h >> _U33
    h *= _FMIX[0]
    h ^= h >> _U33
    h *= _FMIX[1]
    h ^= h >> _U33
    return h


def _span_polynomials(code_points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """sum_k c[s + k] P^k over each span [s, e) of the code points, from one prefix sum."""
    n = len(code_points)
    powers, inverse = (_POWERS, _INVERSE_POWERS) if n <= _BATCH_CODE_POINTS else (_powers(_P, n + 1), _powers(_P_INVERSE, n + 1))
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.multiply(code_points, powers[:n], out=prefix[1:])
    np.cumsum(prefix, out=prefix)
    return (prefix[ends] - prefix[starts]) * inverse[starts]


def batch_shingle_hashes(texts: Sequence[str], shingle: Shingle, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """The unkeyed 64-bit hashes of the texts' shingles, concatenated, and the index of each one's text."""
    if shingle == "word":
        texts = [t.lower() for t in texts]
    else:
        texts = [" ".join(t.lower().split()) for t in texts]
    # The texts one after the other, each followed by a space (no word character); text_of: each code point's text.
    lengths = np.fromiter((len(t) + 1 for t in texts), np.int64, len(texts))
    # surrogatepass: a lone surrogate (from a JSON escape, when ftfy is off) is a code point like any other
    code_points = np.frombuffer((" ".join(texts) + " ").encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    text_of = np.repeat(np.arange(len(texts)), lengths)
    if shingle == "char":
        first = np.flatnonzero(text_of[:-ngram] == text_of[ngram:])  # the window's last code point is no separator
        return _span_polynomials(code_points, first, first + ngram), text_of[first]
    # Words are the runs of word characters; the text starts a run or follows a separator, and ends with one.
    word = char_class_table(r"\w")[code_points]
    changes = np.flatnonzero(word[1:] != word[:-1]) + 1
    if len(word) and word[0]:
        changes = np.concatenate(([0], changes))
    token_starts, token_ends = changes[0::2], changes[1::2]
    tokens = _fmix64(_span_polynomials(code_points, token_starts, token_ends))
    count = len(tokens) - ngram + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    doc = text_of[token_starts]
    inside = doc[:count] == doc[ngram - 1 :]
    folded = tokens[:count].copy()
    for j in range(1, ngram):
        folded *= _P
        folded ^= tokens[j : j + count]
    return folded[inside], doc[:count][inside]


def shingle_hashes(text: str, shingle: Shingle = "word", ngram: int = 5) -> np.ndarray:
    """The (unkeyed) 64-bit hashes of the document's shingles (may repeat); empty when it is shorter than one shingle."""
    return batch_shingle_hashes([text], shingle, ngram)[0]


@dataclass(frozen=True)
class MinHasher:
    """Computes signatures for batches of texts with fixed shingling, key and bin probe sequences."""

    num_perm: int = 256
    seed: int = 42
    shingle: Shingle = "word"
    ngram: int = 5

    def __post_init__(self):
        rng = np.random.Generator(np.random.PCG64(self.seed))
        key = rng.integers(0, 2**64, dtype=np.uint64, endpoint=False)
        # probes[t, j]: the t-th bin that empty bin j copies from, if non-empty (each column a permutation).
        probes = rng.permuted(np.tile(np.arange(self.num_perm, dtype=np.int32)[:, None], (1, self.num_perm)), axis=0)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_probes", probes)

    def signatures(self, texts: Sequence[str]) -> list[np.ndarray | None]:
        """One uint32 signature of length num_perm per text, or None for a text shorter than one shingle."""
        out: list[np.ndarray | None] = []
        batch, size = [], 0
        for text in texts:
            if batch and size + len(text) > _BATCH_CODE_POINTS:
                out += self._batch(batch)
                batch, size = [], 0
            batch.append(text)
            size += len(text) + 1
        return out + self._batch(batch)

    def _batch(self, texts: list[str]) -> list[np.ndarray | None]:
        if not texts:
            return []
        k = self.num_perm
        hashes, doc = batch_shingle_hashes(texts, self.shingle, self.ngram)
        hashes = _fmix64(hashes + self._key)
        bins = ((hashes >> _U32) * np.uint64(k)) >> _U32
        bins += doc.astype(np.uint64) * np.uint64(k)
        lows = np.full(len(texts) * k, _EMPTY, dtype=np.uint64)
        np.minimum.at(lows, bins.astype(np.intp), hashes & _LOW32)
        signed = np.zeros(len(texts), dtype=bool)
        signed[doc] = True
        signatures = self._densified(lows, signed).reshape(len(texts), k)
        return [signatures[i] if signed[i] else None for i in range(len(texts))]

    def _densified(self, lows: np.ndarray, signed: np.ndarray) -> np.ndarray:
        """Each empty bin of a signed document gets the value of the first non-empty bin in its probe sequence."""
        k = self.num_perm
        out = lows.copy()
        empty = np.flatnonzero(lows == _EMPTY)
        empty = empty[signed[empty // k]]
        row, column = np.divmod(empty, k)
        base = row * k
        start, width = 0, 4
        while len(empty):
            candidates = self._probes[start : start + width, column] + base  # (width, cells)
            values = lows[candidates]
            found = values != _EMPTY
            first = found.argmax(axis=0)
            cells = np.arange(len(empty))
            hit = found[first, cells]
            out[empty[hit]] = values[first[hit], cells[hit]]
            empty, column, base = empty[~hit], column[~hit], base[~hit]
            start, width = start + width, width * 4
        return out.astype(np.uint32)


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """The fraction of positions where two signatures agree: an unbiased estimate of Jaccard similarity."""
    return float(np.count_nonzero(a == b)) / len(a)


def band_hashes(signature: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """The 64-bit hash of each band's rows, in band order; equal hashes in a band make a candidate pair."""
    return np.array(
        [xxhash.xxh3_64_intdigest(signature[band * rows : (band + 1) * rows].tobytes()) for band in range(bands)],
        dtype=np.uint64,
    )


def _collision_probability(s: np.ndarray, bands: int, rows: int) -> np.ndarray:
    return 1.0 - (1.0 - s**rows) ** bands


def optimal_bands(
    threshold: float, num_perm: int, false_positive_weight: float = 0.5, false_negative_weight: float = 0.5
) -> tuple[int, int]:
    """The (bands, rows), bands*rows <= num_perm, minimising the weighted false-positive and false-negative mass.

    False-positive mass: the integral over s in [0, threshold] of the probability that
    a pair of Jaccard s shares a band; false-negative mass: the integral over
    [threshold, 1] of the probability that it shares none (as datasketch's
    optimal_param, integrated here with the trapezoid rule on a fine grid).
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be strictly between 0 and 1, got {threshold}")
    below = np.linspace(0.0, threshold, 2001)
    above = np.linspace(threshold, 1.0, 2001)
    best, best_error = (1, 1), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = np.trapezoid(_collision_probability(below, bands, rows), below)
            fn = np.trapezoid(1.0 - _collision_probability(above, bands, rows), above)
            error = false_positive_weight * fp + false_negative_weight * fn
            if error < best_error:
                best, best_error = (bands, rows), error
    return best
