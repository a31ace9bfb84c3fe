"""Word n-gram repetition counts for Gopher's rules, on integer word ids instead of one string per n-gram.

Gopher's top n-gram rule keys an n-gram by its words joined with spaces, the
duplicate n-gram rule by its words joined with nothing (so ["ab", "c"] and
["a", "bc"] are one n-gram there). Both are counted here on word ids:

- Groups of equal word sequences, for n = 1 to 10, level by level. An n-gram
  can only repeat where its first n-1 words repeat, so each level sorts only
  the positions that repeated at the level before (exact integer keys: the
  group of the (n-1)-gram times the vocabulary size plus the next word's id).
- Words joined with spaces are equal exactly when the words are, as long as
  no word holds a space (`split_words` never makes one; otherwise the plain
  string count is used).
- Words joined with nothing can be equal for different words. For each n the
  64-bit polynomial hashes of the joined strings (read off prefix sums of the
  words' own hashes, each shifted to where the word starts) are counted: equal strings have equal hashes, so when there are
  as many distinct hashes as word-sequence groups, the two groupings are the
  same and the counts are exact. Otherwise that n is counted the plain way.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

from quality import vocabulary

MAX_N = 10
_BASE = 0x100000001B3  # odd: invertible modulo 2^64
_CACHED_POWERS = 1 << 20  # characters; longer documents compute their own powers
_powers = np.ones(1, np.uint64)
_inverse_powers = np.ones(1, np.uint64)


def _power_tables(length: int) -> tuple[np.ndarray, np.ndarray]:
    """(BASE^q, BASE^-q) mod 2^64 for q in 0..length."""
    global _powers, _inverse_powers
    if len(_powers) > length:
        return _powers, _inverse_powers
    size = max(length + 1, min(2 * len(_powers), _CACHED_POWERS))
    powers = np.empty(size, np.uint64)
    inverse = np.empty(size, np.uint64)
    powers[0] = inverse[0] = 1
    np.cumprod(np.full(size - 1, _BASE, np.uint64), out=powers[1:])  # integer arrays wrap: mod 2^64
    np.cumprod(np.full(size - 1, pow(_BASE, -1, 1 << 64), np.uint64), out=inverse[1:])
    if size <= _CACHED_POWERS:
        _powers, _inverse_powers = powers, inverse
    return powers, inverse


_has_space = vocabulary.AnyChar(" ".__eq__)


class _WordHash:
    """word -> the polynomial hash of its characters, sum of c_q * BASE^q (mod 2^64); tables in bulk."""

    def __call__(self, word: str) -> int:
        points = np.frombuffer(word.encode("utf-32-le", "surrogatepass"), np.uint32)
        return int(self.bulk(points, np.array([0, len(points)]))[0])

    def bulk(self, points: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        """The hash of each word, given the words' code points joined and their bounds (`vocabulary.table`)."""
        lengths = np.diff(bounds)
        within = np.arange(len(points)) - np.repeat(bounds[:-1], lengths)  # each character's place in its word
        sums = np.zeros(len(points) + 1, np.uint64)
        powers = _power_tables(int(lengths.max(initial=0)))[0]
        np.cumsum(points.astype(np.uint64) * powers[within], out=sums[1:])  # wraps: mod 2^64
        return sums[bounds[1:]] - sums[bounds[:-1]]


_WORD_HASH = _WordHash()


class NgramCounts:
    """The repetition counts of one document's words, for n up to MAX_N."""

    def __init__(self, words: Sequence[str]):
        self.words = words
        self.ids = vocabulary.ids(words)
        self.offsets = np.zeros(len(words) + 1, np.int64)  # of each word in "".join(words)
        np.cumsum(vocabulary.table(len, np.int64)[self.ids], out=self.offsets[1:])
        self._joined_distinct: dict[int, int] = {}
        self._spaces: bool | None = None  # whether a word holds a space
        self.repeats = self._repeated_groups()

    def _repeated_groups(self) -> list[tuple[np.ndarray, np.ndarray, int]]:
        """Per n (the list index): (positions of n-grams that occur more than once, sorted by group and
        within a group by position; their group labels; the number of such groups)."""
        count = len(self.ids)
        vocab_size = int(self.ids.max()) + 1 if count else 1
        # Past the last word, distinct ids of their own: an n-gram running off the end repeats nothing.
        ids = np.concatenate((self.ids, np.arange(vocab_size, vocab_size + MAX_N)))
        vocab_size += MAX_N
        # Level 1 is the step below from one group holding every position: sorting the document's
        # words, not counting over the whole vocabulary (which a long-running worker's can be).
        positions, labels = np.arange(count), np.zeros(count, np.int64)
        levels = [(np.empty(0, np.int64),) * 2 + (0,)]
        for n in range(1, MAX_N + 1):
            if len(positions) == 0:
                levels.append(levels[-1])
                continue
            keys = labels * vocab_size + ids[positions + (n - 1)]  # < count * vocab_size: exact
            order = np.argsort(keys, kind="stable")  # within a group, positions stay in text order
            sorted_keys = keys[order]
            new = np.ones(len(keys) + 1, bool)  # new[k]: sorted key k starts a group (new[-1]: the end)
            np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new[1:-1])
            shared = ~(new[:-1] & new[1:])  # equal to the key before or after
            positions, labels = positions[order[shared]], np.cumsum(new[:-1])[shared]
            levels.append((positions, labels, int(np.count_nonzero(new[:-1][shared]))))
        return levels

    def top_chars(self, n: int) -> int:
        """Characters of the most frequent n-gram (words joined by spaces) times its count; ties: the first to occur."""
        count = len(self.words) - n + 1
        if count <= 0:
            return 0
        if self._spaces is None:
            self._spaces = bool(vocabulary.table(_has_space, bool)[self.ids].any())
        if self._spaces:
            return top_chars_plain(self.words, n)
        positions, labels, groups = self.repeats[n]
        if groups == 0:
            best, position = 1, 0
        else:
            starts = np.flatnonzero(np.concatenate(([True], labels[1:] != labels[:-1], [True])))
            sizes = starts[1:] - starts[:-1]
            best = int(sizes.max())
            position = int(positions[starts[:-1][sizes == best]].min())  # each group's first member is its first occurrence
        return int(self.offsets[position + n] - self.offsets[position] + n - 1) * best

    def dup_chars(self, n: int) -> int:
        """Characters (words joined without spaces) of the n-grams that repeat one seen before, skipping past each repeat."""
        count = len(self.words) - n + 1
        if count <= 0:
            return 0
        positions, labels, groups = self.repeats[n]
        if not self._joined_groups_match(n, count - len(positions) + groups):
            return dup_chars_plain(self.words, n)
        if groups == 0:
            return 0
        in_text_order = np.argsort(positions, kind="stable")
        positions, labels = positions[in_text_order], labels[in_text_order]
        lengths = (self.offsets[positions + n] - self.offsets[positions]).tolist()
        seen: set[int] = set()
        chars, resume = 0, 0
        for position, label, length in zip(positions.tolist(), labels.tolist(), lengths):
            if position < resume:
                continue  # inside a repeat already counted: never visited
            if label in seen:
                chars += length
                resume = position + n
            else:
                seen.add(label)
        return chars

    def _joined_groups_match(self, n: int, word_groups: int) -> bool:
        """Whether the n-grams' joined strings have exactly `word_groups` distinct hashes (see the module docstring)."""
        if n not in self._joined_distinct:
            self._joined_distinct.update(self._distinct_joined_hashes(range(n, MAX_N + 1)))
        return self._joined_distinct[n] == word_groups

    def _distinct_joined_hashes(self, ns: range) -> dict[int, int]:
        """{n: the number of distinct hashes of the n-grams joined without spaces}, one row per n."""
        count = len(self.ids)
        starts = self.offsets[:count]
        powers, inverse = _power_tables(int(self.offsets[-1]))
        # prefix[k]: the hash of the first k words joined, each word's hash shifted to where it starts.
        prefix = np.zeros(count + 1, np.uint64)
        np.cumsum(vocabulary.table(_WORD_HASH, np.uint64)[self.ids] * powers[starts], out=prefix[1:])  # wraps: mod 2^64
        # An n-gram that runs off the end gets the next value of a counter, distinct from its
        # row's others (were it to meet a real hash, the check would fail, never pass wrongly).
        ends_at = np.arange(count)[None, :] + np.array(ns)[:, None]
        past_end = ends_at > count
        hashes = (prefix[np.minimum(ends_at, count)] - prefix[:count]) * inverse[starts]
        hashes[past_end] = np.arange(np.count_nonzero(past_end), dtype=np.uint64)
        hashes.sort(axis=1)
        distinct = np.count_nonzero(hashes[:, 1:] != hashes[:, :-1], axis=1) + 1 - past_end.sum(axis=1)
        return dict(zip(ns, distinct.tolist()))


def top_chars_plain(words: Sequence[str], n: int) -> int:
    """`NgramCounts.top_chars` one string per n-gram (the paper's definition)."""
    if len(words) < n:
        return 0
    counts = Counter(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    gram, count = max(counts.items(), key=lambda item: item[1])
    return len(gram) * count


def dup_chars_plain(words: Sequence[str], n: int) -> int:
    """`NgramCounts.dup_chars` one string per n-gram (the paper's definition)."""
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
