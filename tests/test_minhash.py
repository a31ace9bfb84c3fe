"""MinHash signatures, shingles and the band optimizer (pure numpy, no Beam)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch.lsh import _optimal_param

from pipelines.minhash import MinHasher, band_hashes, estimated_jaccard, optimal_bands, shingle_hashes
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
