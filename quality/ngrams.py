"""Word n-gram repetition counts for Gopher's rules, on integer word ids, in one compiled pass.

Gopher's top n-gram rule keys an n-gram by its words joined with spaces, the
duplicate n-gram rule by its words joined with nothing (so ["ab", "c"] and
["a", "bc"] are one n-gram there). Both are counted on word ids by a kernel
compiled with numba (`_repetition_counts`; numpy's per-call cost made the
many small array steps of this count the largest part of the rule chain):

- Groups of equal word sequences, for n = 1 to the largest n asked, level by
  level: the group of an n-gram is the group of its first n-1 words and the
  next word's id, found in a hash table of those pairs. An n-gram whose first
  n-1 words occur once occurs once: it gets a new group without a lookup.
- Words joined with spaces are equal exactly when the words are, as long as
  no word holds a space (`split_words` never makes one; otherwise the plain
  string count is used).
- Words joined with nothing can be equal for different words. For each n of
  the duplicate rule the 64-bit polynomial hashes of the joined strings (each
  word's own hash shifted to where it starts) are counted: equal strings have
  equal hashes, so when there are as many distinct hashes as word-sequence
  groups, the two groupings are the same and the counts are exact. Otherwise
  that n is counted the plain way.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Iterable, Sequence

import numba
import numpy as np

from quality import vocabulary

_BASE = 0x100000001B3
_CACHED_POWERS = 1 << 20  # characters; longer documents compute their own powers
_powers = np.ones(1, np.uint64)


def _power_table(length: int) -> np.ndarray:
    """BASE^q mod 2^64 for q in 0..length (at least)."""
    global _powers
    if len(_powers) > length:
        return _powers
    size = max(length + 1, min(2 * len(_powers), _CACHED_POWERS))
    powers = np.empty(size, np.uint64)
    powers[0] = 1
    np.cumprod(np.full(size - 1, _BASE, np.uint64), out=powers[1:])  # integer arrays wrap: mod 2^64
    if size <= _CACHED_POWERS:
        _powers = powers
    return powers


_has_space = vocabulary.AnyChar(" ".__eq__)


class _WordHash:
    """word -> the polynomial hash of its characters, sum of c_q * BASE^q (mod 2^64); tables in bulk."""

    def __call__(self, word: str) -> int:
        points = np.frombuffer(word.encode("utf-32-le", "surrogatepass"), np.uint32)
        return int(self.bulk(points, np.array([0, len(points)]))[0])

    def bulk(self, points: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        """The hash of each word, given the words' code points joined and their bounds (`vocabulary.table`)."""
        return _polynomial_hashes(points, bounds)


@numba.njit(cache=True)
def _polynomial_hashes(points, bounds):
    out = np.empty(len(bounds) - 1, np.uint64)
    for word in range(len(out)):
        h, power = np.uint64(0), np.uint64(1)
        for q in range(bounds[word], bounds[word + 1]):
            h += np.uint64(points[q]) * power  # wraps: mod 2^64
            power *= np.uint64(_BASE)
        out[word] = h
    return out


_WORD_HASH = _WordHash()


@numba.njit(cache=True, inline="always")
def _slot(a, b, mask):
    """A table slot for the key (a, b): the two mixed, the high bits folded in, masked."""
    h = (np.uint64(a) * np.uint64(0x9E3779B97F4A7C15)) ^ (np.uint64(b) * np.uint64(0xC2B2AE3D27D4EB4F))
    return np.int64((h ^ (h >> np.uint64(29))) & np.uint64(mask))


@numba.njit(cache=True)
def _repetition_counts(ids, offsets, word_hashes, powers, top_wanted, dup_wanted):
    """(top[n], dup[n]) for n up to len(top_wanted) - 1: `repetition_chars`' values where wanted (0 where
    the document has no n-gram); dup[n] is -1 where the joined strings group differently from the words."""
    words = len(ids)
    max_n = len(top_wanted) - 1
    top = np.zeros(max_n + 1, np.int64)
    dup = np.zeros(max_n + 1, np.int64)
    size = 16
    while size < 2 * words:
        size *= 2
    mask = size - 1
    # Open addressing with linear probing; a slot is in use at level n when its stamp is n.
    pair_stamp, pair_a, pair_b, pair_group = np.zeros(size, np.int64), np.empty(size, np.int64), np.empty(size, np.int64), np.empty(size, np.int64)
    hash_stamp, hash_key = np.zeros(size, np.int64), np.empty(size, np.uint64)
    groups_of = np.zeros(words, np.int64)  # each position's group at the level before (level 0: one group)
    joined = np.zeros(words, np.uint64)  # hash of the n-gram at each position, words joined without spaces
    first = np.empty(words, np.int64)  # where each group first occurs
    size_before = np.full(words, 2, np.int64)  # members of each group at the level before
    members = np.empty(words, np.int64)
    seen = np.empty(words, np.bool_)
    for n in range(1, max_n + 1):
        count = words - n + 1
        if count <= 0:
            break
        groups = 0
        for i in range(count):
            before = groups_of[i]
            if size_before[before] == 1:  # its first n-1 words occur once: so does the n-gram
                group = groups
            else:
                word = ids[i + n - 1]
                s = _slot(before, word, mask)
                while pair_stamp[s] == n and not (pair_a[s] == before and pair_b[s] == word):
                    s = (s + 1) & mask
                if pair_stamp[s] != n:
                    pair_stamp[s], pair_a[s], pair_b[s], pair_group[s] = n, before, word, groups
                group = pair_group[s]
            if group == groups:
                first[groups] = i
                members[groups] = 0
                groups += 1
            members[group] += 1
            groups_of[i] = group
            joined[i] += word_hashes[i + n - 1] * powers[offsets[i + n - 1] - offsets[i]]  # wraps: mod 2^64
        if top_wanted[n]:
            best, best_group = 0, 0
            for group in range(groups):  # groups are numbered in order of first occurrence: ties go to the first
                if members[group] > best:
                    best, best_group = members[group], group
            at = first[best_group]
            top[n] = (offsets[at + n] - offsets[at] + n - 1) * best
        if dup_wanted[n]:
            distinct = 0
            for i in range(count):
                h = joined[i]
                s = _slot(h, 0, mask)
                while hash_stamp[s] == n and hash_key[s] != h:
                    s = (s + 1) & mask
                if hash_stamp[s] != n:
                    hash_stamp[s], hash_key[s] = n, h
                    distinct += 1
            if distinct != groups:
                dup[n] = -1
            else:
                seen[:groups] = False
                chars, i = 0, 0
                while i < count:  # skipping past each repeat, as the plain count does
                    if seen[groups_of[i]]:
                        chars += offsets[i + n] - offsets[i]
                        i += n
                    else:
                        seen[groups_of[i]] = True
                        i += 1
                dup[n] = chars
        size_before[:groups] = members[:groups]
    return top, dup


@lru_cache
def _wanted(top_ns: tuple[int, ...], dup_ns: tuple[int, ...]) -> np.ndarray:
    """Flags by n: which n-grams' top and duplicate counts to compute."""
    wanted = np.zeros((2, max(top_ns + dup_ns) + 1), np.bool_)
    wanted[0, list(top_ns)] = wanted[1, list(dup_ns)] = True
    return wanted


def repetition_chars(words: Sequence[str], top_ns: Iterable[int], dup_ns: Iterable[int]) -> tuple[dict, dict]:
    """({n: `top_chars_plain(words, n)`} for n in top_ns, {n: `dup_chars_plain(words, n)`} for n in dup_ns)."""
    top_ns, dup_ns = tuple(top_ns), tuple(dup_ns)
    ids = vocabulary.ids(words)
    offsets = np.zeros(len(ids) + 1, np.int64)  # of each word in "".join(words)
    np.cumsum(vocabulary.table(len, np.int64)[ids], out=offsets[1:])
    word_hashes = vocabulary.table(_WORD_HASH, np.uint64)[ids]
    top, dup = _repetition_counts(ids, offsets, word_hashes, _power_table(int(offsets[-1])), *_wanted(top_ns, dup_ns))
    if top_ns and vocabulary.table(_has_space, bool)[ids].any():
        top_out = {n: top_chars_plain(words, n) for n in top_ns}
    else:
        top_out = {n: int(top[n]) for n in top_ns}
    return top_out, {n: int(dup[n]) if dup[n] >= 0 else dup_chars_plain(words, n) for n in dup_ns}


def top_chars_plain(words: Sequence[str], n: int) -> int:
    """Characters of the most frequent n-gram (words joined by spaces) times its count; ties: the first
    to occur. One string per n-gram (the paper's definition)."""
    if len(words) < n:
        return 0
    counts = Counter(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    gram, count = max(counts.items(), key=lambda item: item[1])
    return len(gram) * count


def dup_chars_plain(words: Sequence[str], n: int) -> int:
    """Characters (words joined without spaces) of the n-grams that repeat one seen before, skipping past
    each repeat. One string per n-gram (the paper's definition)."""
    seen: set[str] = set()
    chars, i = 0, 0
    while i <= len(words) - n:
        gram = "".join(words[i : i + n])
        if gram in seen:
            chars += len(gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars
