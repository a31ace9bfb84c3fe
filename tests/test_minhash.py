"""MinHash signatures, shingles and the band optimizer (pure numpy, no Beam)."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from datasketch.lsh import _optimal_param

from pipelines.minhash import MinHasher, band_hashes, batch_shingle_hashes, estimated_jaccard, optimal_bands, shingle_hashes
from pipelines.union_find import component_roots


def test_short_texts_have_no_shingles():
    assert len(shingle_hashes("", "word", 5)) == 0
    assert len(shingle_hashes("one two three four", "word", 5)) == 0
    assert len(shingle_hashes("one two three four five", "word", 5)) == 1
    assert len(shingle_hashes("abcd", "char", 5)) == 0
    assert MinHasher().signatures(["", "a b", "one two three four"]) == [None, None, None]


def test_word_shingles_ignore_case_and_punctuation_but_not_order():
    a = shingle_hashes("The quick, brown fox jumps over it.", "word", 3)
    b = shingle_hashes("the quick brown   fox -- jumps over it", "word", 3)
    c = shingle_hashes("quick the brown fox jumps over it", "word", 3)
    assert np.array_equal(a, b)
    assert set(a.tolist()) != set(c.tolist())


def test_char_shingles_collapse_whitespace():
    assert np.array_equal(shingle_hashes("ab  cd\nef", "char", 3), shingle_hashes("AB cd ef", "char", 3))
    assert len(shingle_hashes("abcdef", "char", 3)) == 4


def test_a_lone_surrogate_is_no_word_character():
    """JSON escapes can leave a lone surrogate in a text (when ftfy is off); it separates words like a space."""
    assert np.array_equal(shingle_hashes("one two \ud800three four five", "word", 5), shingle_hashes("one two three four five", "word", 5))
    assert len(shingle_hashes("ab\udfffcd", "char", 3)) == 3
    assert MinHasher(num_perm=16).signatures(["a b c d e \ud800 f g h"])[0] is not None


def test_signatures_are_deterministic_and_independent_of_batching():
    rng = random.Random(1)
    texts = [" ".join(rng.choice("abcdefghij") * rng.randint(1, 3) for _ in range(rng.randint(0, 3000))) for _ in range(40)]
    one = MinHasher(num_perm=64, seed=9).signatures(texts)
    each = [MinHasher(num_perm=64, seed=9).signatures([t])[0] for t in texts]
    for x, y in zip(one, each):
        assert (x is None and y is None) or (x.dtype == np.uint32 and np.array_equal(x, y))
    other_seed = MinHasher(num_perm=64, seed=10).signatures(texts[:5])
    assert any(not np.array_equal(x, y) for x, y in zip(one[:5], other_seed) if x is not None)


def test_estimated_jaccard_tracks_true_jaccard():
    rng = random.Random(2)
    vocab = [f"w{i}" for i in range(5000)]
    hasher = MinHasher(num_perm=256, seed=1)
    errors = []
    for _ in range(60):
        base = [rng.choice(vocab) for _ in range(300)]
        rate = rng.choice([0.01, 0.05, 0.1, 0.2])
        edited = [w if rng.random() > rate else rng.choice(vocab) for w in base]
        a, b = (set(shingle_hashes(" ".join(t)).tolist()) for t in (base, edited))
        true = len(a & b) / len(a | b)
        sa, sb = hasher.signatures([" ".join(base), " ".join(edited)])
        errors.append(estimated_jaccard(sa, sb) - true)
    errors = np.array(errors)
    assert abs(errors.mean()) < 0.02
    assert errors.std() < 0.045  # binomial: sqrt(J(1-J)/256) <= 0.031


@pytest.mark.parametrize("threshold,num_perm,weights", [(0.8, 128, (0.5, 0.5)), (0.8, 256, (0.2, 0.8)), (0.5, 64, (0.5, 0.5)), (0.9, 200, (0.3, 0.7))])
def test_optimal_bands_agrees_with_datasketch(threshold, num_perm, weights):
    assert optimal_bands(threshold, num_perm, *weights) == _optimal_param(threshold, num_perm, *weights)


def test_band_hashes_cover_the_signature_in_order():
    sig = np.arange(12, dtype=np.uint32)
    keys = band_hashes(sig, 3, 4)
    assert keys.dtype == np.uint64 and len(keys) == 3 and len(set(keys.tolist())) == 3
    assert (band_hashes(sig.copy(), 3, 4) == keys).all()
    changed = sig.copy()
    changed[5] = 99
    assert (keys == band_hashes(changed, 3, 4)).tolist() == [True, False, True]


def test_union_find_roots_are_component_minima():
    roots = component_roots([("c", "d"), ("b", "c"), ("x", "y"), ("e", "a"), ("a", "d")])
    assert roots == {n: "a" for n in "abcde"} | {"x": "x", "y": "x"}
    assert component_roots([]) == {}


PINNED_TEXT = "The mill stood by the river for three hundred years, grinding the grain of the whole valley."


def test_signature_values_are_pinned():
    """The hash scheme (HASH_SCHEME) is part of every stored signature: a change must be deliberate.

    Changed with "oph-densified-v1" (issue 18): shingle hashes computed for a whole batch with numpy
    (a polynomial over code points instead of one xxh3 call per word) and one permutation hashing
    with optimal densification instead of num_perm multiply-add hash functions, for speed.
    """
    from pipelines.minhash import HASH_SCHEME

    assert shingle_hashes(PINNED_TEXT, "word", 5)[:3].tolist() == [14526111043206065996, 10687560569326045194, 15778536924847225706]
    assert MinHasher(num_perm=16, seed=42).signatures([PINNED_TEXT])[0].tolist() == [
        2871871744, 4124322713, 1890633305, 3419789601, 3419789601, 908730980, 1452972158, 1890633305,
        342317440, 2354206432, 726517776, 1330985593, 1513395031, 2354206432, 4124322713, 1330985593,
    ]
    assert MinHasher(num_perm=16, seed=42, shingle="char", ngram=5).signatures([PINNED_TEXT])[0].tolist()[:4] == [
        359027365, 1924219806, 303456727, 1760067750,
    ]
    assert HASH_SCHEME.startswith("oph-densified-v1")


_M64 = 2**64 - 1
_P = 0x9E3779B97F4A7C15


def _fmix64(h: int) -> int:
    h ^= h >> 33
    h = h * 0xFF51AFD7ED558CCD & _M64
    h ^= h >> 33
    h = h * 0xC4CEB9FE1A85EC53 & _M64
    return h ^ (h >> 33)


def _polynomial(s: str) -> int:
    return sum(ord(c) * pow(_P, k, 2**64) for k, c in enumerate(s)) & _M64


def _reference_shingles(text: str, shingle: str, n: int) -> list[int]:
    """HASH_SCHEME's shingle hashes in plain Python, one token at a time, from `re` itself."""
    if shingle == "char":
        s = " ".join(text.lower().split())
        return [_polynomial(s[i : i + n]) for i in range(len(s) - n + 1)]
    tokens = [_fmix64(_polynomial(t)) for t in re.findall(r"\w+", text.lower())]
    out = []
    for i in range(len(tokens) - n + 1):
        h = tokens[i]
        for t in tokens[i + 1 : i + n]:
            h = (h * _P & _M64) ^ t
        out.append(h)
    return out


UNICODE_TEXTS = [
    "İstanbul'da STRASSE, straße; Ünïcödé x² 3.14 snake_case e\u0301 東京タワーは 😀 don't-stop ΣΊΣΥΦΟΣ",
    "  leading space, trailing punctuation!!  ",
    "word",
    "",
    "naïve café — résumé\tﬁnal\nلغة عربية हिन्दी भाषा १२३ ٣٤٥",
]


@pytest.mark.parametrize("shingle,n", [("word", 1), ("word", 2), ("word", 5), ("char", 3), ("char", 5)])
def test_batch_shingle_hashes_equal_a_plain_python_reference(shingle, n):
    """The numpy batch path (word table, prefix polynomials, fold) equals the scheme computed token by token."""
    for text in UNICODE_TEXTS:
        assert shingle_hashes(text, shingle, n).tolist() == _reference_shingles(text, shingle, n), text
    # the same texts in one batch: no shingle crosses from one text into the next
    hashes, doc = batch_shingle_hashes(UNICODE_TEXTS, shingle, n)
    for i, text in enumerate(UNICODE_TEXTS):
        assert hashes[doc == i].tolist() == _reference_shingles(text, shingle, n)


def test_a_single_shingle_fills_every_position():
    """Densification: every empty bin copies a non-empty one, so one shingle sets all num_perm values."""
    (sig,) = MinHasher(num_perm=128, seed=3).signatures(["one two three four five"])
    assert len(set(sig.tolist())) == 1
    sigs = MinHasher(num_perm=128, seed=3).signatures([" ".join(f"w{i}" for i in range(n + 4)) for n in (2, 10, 40)])
    assert [len(set(s.tolist())) for s in sigs] == [2, pytest.approx(10, abs=2), pytest.approx(34, abs=8)]


@pytest.mark.parametrize("n,shift", [(6, 2), (20, 4), (300, 50)])
def test_densified_estimate_is_unbiased_over_seeds(n, shift):
    """For a fixed pair with known Jaccard, the mean estimate over 400 seeds is the true Jaccard, for sets
    smaller and larger than num_perm (64), and its spread stays near the binomial sqrt(J(1-J)/num_perm).

    Two texts of distinct words, the second shifted by `shift` words: n shingles each, n - shift shared.
    A scheme that let empty bins agree by construction (e.g. fill them with a constant) would overestimate.
    """
    words = [f"w{i}" for i in range(n + shift + 4)]
    a, b = " ".join(words[: n + 4]), " ".join(words[shift : shift + n + 4])
    true = (n - shift) / (n + shift)
    estimates = np.array([estimated_jaccard(*MinHasher(num_perm=64, seed=seed).signatures([a, b])) for seed in range(400)])
    binomial = np.sqrt(true * (1 - true) / 64)
    assert abs(estimates.mean() - true) < 3.5 * 1.5 * binomial / np.sqrt(400)
    assert estimates.std() < (1.1 if n >= 64 else 1.6) * binomial


def test_a_text_longer_than_one_batch_hashes_like_a_short_one():
    """A text over the batch size (its own prefix tables) gives the same shingle hashes as short texts do."""
    from pipelines.minhash import _BATCH_CODE_POINTS

    long = (PINNED_TEXT + " ") * (_BATCH_CODE_POINTS // len(PINNED_TEXT) + 10)
    short = (PINNED_TEXT + " ") * 3
    assert len(long) > _BATCH_CODE_POINTS
    long_hashes, short_hashes = shingle_hashes(long), shingle_hashes(short)
    assert np.array_equal(long_hashes[: len(short_hashes)], short_hashes)
    assert set(long_hashes.tolist()) == set(short_hashes.tolist())
    hasher = MinHasher(num_perm=64, seed=5)
    assert np.array_equal(hasher.signatures([long])[0], hasher.signatures(["a b", long, short])[1])
