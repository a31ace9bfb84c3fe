"""Word n-gram repetition counts for Gopher's rules, on integer word ids, in one compiled pass.

Gopher's top n-gram rule keys an n-gram by its words joined with spaces, the
duplicate n-gram rule by its words joined with nothing (so ["ab", "c"] and
["a", "bc"] are one n-gram there). Both are counted on word ids by a kernel
compiled with numba (`quality.kernels.repetition_counts`; numpy's per-call cost made the
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

import numpy as np

from quality import vocabulary

def _powers(size: int) -> np.ndarray:
    """HASH_BASE^q mod 2^64 for q below `size` (integer arrays wrap)."""
    powers = np.ones(size, np.uint64)
    np.cumprod(np.full(size - 1, vocabulary.HASH_BASE, np.uint64), out=powers[1:])
    return powers


_POWERS = _powers(1 << 16)  # longer documents' powers are computed in the kernel


_has_space = vocabulary.AnyChar(" ".__eq__)


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
    lengths, hashes, has_space = vocabulary.table(len, np.int64), vocabulary.hashes(), vocabulary.table(_has_space, bool)
    from quality.kernels import repetition_counts

    top, dup, spaced = repetition_counts(ids, lengths, hashes, has_space, _POWERS, *_wanted(top_ns, dup_ns))
    if top_ns and spaced:
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
