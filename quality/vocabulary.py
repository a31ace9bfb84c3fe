"""Integer ids for word tokens, and per-token property tables read by id.

The rule families ask the same questions of every occurrence of a word (its
length, whether it is all punctuation, whether it has a letter). Asking them
once per distinct word and reading the answers from numpy arrays indexed by
id turns per-token Python calls into array operations.

Ids hold within one computation only: `ids()` clears the vocabulary (and every
table) before it grows past `MAX_WORDS`, so a long-running worker's memory
stays bounded; ids from an earlier call must not be mixed with later ones.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

MAX_WORDS = 1 << 17


class _Vocabulary(dict):
    """word -> id; a new word gets the next id."""

    def __init__(self):
        super().__init__()
        self.words: list[str] = []
        self.tables: dict[tuple[Callable, type], tuple[np.ndarray, int]] = {}

    def __missing__(self, word: str) -> int:
        index = self[word] = len(self.words)
        self.words.append(word)
        return index


_VOCAB = _Vocabulary()


class Words(list):
    """A document's words (a list of str) that remembers their ids once asked, for the next family."""

    __slots__ = ("_ids", "_vocab")


def ids(words: Sequence[str]) -> np.ndarray:
    """The id of each word (int64), the same id for equal words."""
    global _VOCAB
    if isinstance(words, Words) and getattr(words, "_vocab", None) is _VOCAB:
        return words._ids
    if len(_VOCAB) + len(words) > MAX_WORDS:
        _VOCAB = _Vocabulary()
    out = np.fromiter(map(_VOCAB.__getitem__, words), np.int64, len(words))
    if isinstance(words, Words):
        words._ids, words._vocab = out, _VOCAB
    return out


def table(prop: Callable[[str], object], dtype: type) -> np.ndarray:
    """`prop(word)` for every id given out so far, as an array indexed by id (computed once per word)."""
    key = (prop, dtype)
    store, done = _VOCAB.tables.get(key, (np.empty(0, dtype), 0))
    size = len(_VOCAB.words)
    if done < size:
        if len(store) < size:  # grow by doubling, so filling the table stays linear in the vocabulary
            store = np.concatenate((store[:done], np.empty(max(size, 2 * len(store)) - done, dtype)))
        store[done:size] = np.fromiter(map(prop, _VOCAB.words[done:size]), dtype, size - done)
        _VOCAB.tables[key] = store, size
    return store[:size]
