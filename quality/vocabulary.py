"""Integer ids for word tokens, and per-token property tables read by id.

The rule families ask the same questions of every occurrence of a word (its
length, whether it is all punctuation, whether it has a letter). Asking them
once per distinct word and reading the answers from numpy arrays indexed by
id turns per-token Python calls into array operations.

Most of the questions are numbers about a word's characters: its length, a
polynomial hash of its characters (`HASH_BASE`), and questions asked of each
character (`AnyChar`, `AllChars`). Those are answered for all new words in
one compiled pass (`quality.kernels.word_features`): each distinct character
is asked every registered question once, the answers kept as bits, and each
word gets the OR and the AND of its characters' bits. Numpy's cost per call,
not the work, bounded these tables when each was filled on its own.

Ids hold within one computation only: `ids()` clears the vocabulary (and every
table) before it grows past `MAX_WORDS`, so a long-running worker's memory
stays bounded; ids from an earlier call must not be mixed with later ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

import numpy as np

MAX_WORDS = 1 << 18
HASH_BASE = np.uint64(0x100000001B3)
"""A word's hash is the sum of c_q * HASH_BASE^q over its code points c_q, mod 2^64."""


class _Column:
    """A numpy array that grows at the end, by doubling: `values` is the filled part."""

    def __init__(self, dtype):
        self._data = np.empty(1 << 10, dtype)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.size + len(values)
        if need > len(self._data):
            grown = np.empty(max(need, 2 * len(self._data)), self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : need] = values
        self.size = need

    @property
    def values(self) -> np.ndarray:
        return self._data[: self.size]


class _Vocabulary(dict):
    """word -> id; looking up a new word gives it the next id."""

    def __init__(self):
        super().__init__()
        self.words: list[str] = []
        self.tables: dict[tuple, _Column] = {}
        self._featured = 0  # words whose features are computed
        self._features = _features_of(1 << 10)

    def __missing__(self, word: str) -> int:
        self[word] = len(self.words)
        self.words.append(word)
        return self[word]

    def features(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(lengths, hashes, any, all) of every word so far, by id: any[k] (all[k]) says whether the k-th
        registered character question holds for any (every) character of the word."""
        size, done = len(self.words), self._featured
        if len(self._features[2]) != len(_CHAR_PROPS):  # a question registered since: every word is asked again
            done, self._features = 0, _features_of(len(self._features[0]))
        if done < size:
            if size > len(self._features[0]):
                grown = _features_of(max(size, 2 * len(self._features[0])))
                for old, new in zip(self._features, grown):
                    new[..., :done] = old[..., :done]
                self._features = grown
            words = self.words[done:size]
            points = np.frombuffer("".join(words).encode("utf-32-le", "surrogatepass"), np.uint32)
            word_lengths = np.fromiter(map(len, words), np.int64, size - done)
            from quality.kernels import word_features

            unknown = word_features(_CHAR_FLAGS, _KNOWN, points, word_lengths, HASH_BASE, done, *self._features)
            if len(unknown):
                _learn_chars(np.unique(unknown))
                word_features(_CHAR_FLAGS, _KNOWN, points, word_lengths, HASH_BASE, done, *self._features)
            self._featured = size
        lengths, hashes, any_rows, all_rows = self._features
        return lengths[:size], hashes[:size], any_rows[:, :size], all_rows[:, :size]


def _features_of(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Empty `_Vocabulary.features` arrays for `size` words."""
    questions = len(_CHAR_PROPS)
    return (np.empty(size, np.int64), np.empty(size, np.uint64), np.empty((questions, size), np.bool_),
            np.empty((questions, size), np.bool_))


# The registered character questions (`AnyChar`), by bit, and each character's answers: bit k is the
# k-th question's, _KNOWN says the character has been asked.
_CHAR_PROPS: list[Callable[[str], bool]] = []
_KNOWN = np.uint32(1 << 31)
_CHAR_FLAGS = np.zeros(0x110000, np.uint32)


def _register(char_prop: Callable[[str], bool]) -> int:
    """The index of a new character question; every character will be asked again."""
    if len(_CHAR_PROPS) == 31:
        raise ValueError("at most 31 character questions")
    _CHAR_PROPS.append(char_prop)
    _CHAR_FLAGS[:] = 0
    return len(_CHAR_PROPS) - 1


def _learn_chars(points: np.ndarray) -> None:
    """Ask these characters every registered question."""
    for point in points.tolist():
        ch = chr(point)
        _CHAR_FLAGS[point] = _KNOWN | sum(1 << bit for bit, prop in enumerate(_CHAR_PROPS) if prop(ch))


_VOCAB = _Vocabulary()


class Words(Sequence):
    """A document's words, as a sequence of str that keeps their ids for the next family.

    Made from ids (`words_of`), the strings are read from the vocabulary only
    when first asked for: most rules need the ids alone.
    """

    __slots__ = ("_words", "_ids", "_vocab")

    def __init__(self, words: list[str]):
        self._words, self._ids, self._vocab = words, None, None

    def _list(self) -> list[str]:
        if self._words is None:
            self._words = list(map(self._vocab.words.__getitem__, self._ids.tolist()))
        return self._words

    def __len__(self) -> int:
        return len(self._ids) if self._words is None else len(self._words)

    def __getitem__(self, index):
        return self._list()[index]

    def __iter__(self):
        return iter(self._list())

    def __eq__(self, other) -> bool:
        return isinstance(other, (list, Words)) and self._list() == list(other)

    def __repr__(self) -> str:
        return f"Words({self._list()!r})"


def current() -> _Vocabulary:
    """The vocabulary ids now refer to (a new one after `make_room` started afresh)."""
    return _VOCAB


def make_room(count: int) -> None:
    """Start a fresh vocabulary (ids and tables) if `count` new words could take this one past `MAX_WORDS`."""
    global _VOCAB
    if len(_VOCAB) and len(_VOCAB) + count > MAX_WORDS:
        _VOCAB = _Vocabulary()


def ids(words: Sequence[str]) -> np.ndarray:
    """The id of each word (int64), the same id for equal words."""
    if isinstance(words, Words) and getattr(words, "_vocab", None) is _VOCAB:
        return words._ids
    make_room(len(words))
    out = np.fromiter(map(_VOCAB.__getitem__, words), np.int64, len(words))
    if isinstance(words, Words):
        words._ids, words._vocab = out, _VOCAB
    return out


def words_of(ids: np.ndarray) -> Words:
    """The words with these ids of the current vocabulary (read when first asked for)."""
    out = Words(None)
    out._ids, out._vocab = ids, _VOCAB
    return out


class AnyChar:
    """word -> whether `char_prop` holds for any of its characters; its table comes from the word features."""

    def __init__(self, char_prop: Callable[[str], bool]):
        self.char_prop = char_prop
        self.question = _register(char_prop)

    def __call__(self, word: str) -> bool:
        return any(map(self.char_prop, word))


class AllChars(AnyChar):
    """word -> whether `char_prop` holds for every one of its characters (True for an empty word)."""

    def __call__(self, word: str) -> bool:
        return all(map(self.char_prop, word))


def table(prop: Callable[[str], object], dtype: type) -> np.ndarray:
    """`prop(word)` for every id given out so far, as an array indexed by id (computed once per word).

    `len`, `AnyChar` and `AllChars` read the word features; a prop with a
    `bulk(start, stop)` method computes the current vocabulary's words[start:stop]
    in one call; any other prop is called once per new word.
    """
    if prop is len:
        return _VOCAB.features()[0]
    if isinstance(prop, AnyChar):
        return _VOCAB.features()[3 if isinstance(prop, AllChars) else 2][prop.question]
    key = (prop, dtype)
    store = _VOCAB.tables.get(key)
    if store is None:
        store = _VOCAB.tables[key] = _Column(dtype)
    done, size = store.size, len(_VOCAB.words)
    if done < size:
        if hasattr(prop, "bulk"):
            store.extend(prop.bulk(done, size))
        else:
            store.extend(np.fromiter(map(prop, _VOCAB.words[done:size]), dtype, size - done))
    return store.values


def hashes() -> np.ndarray:
    """The hash of every word so far (see `HASH_BASE`), by id."""
    return _VOCAB.features()[1]
