"""Integer ids for word tokens, and per-token property tables read by id.

The rule families ask the same questions of every occurrence of a word (its
length, whether it is all punctuation, whether it has a letter). Asking them
once per distinct word and reading the answers from numpy arrays indexed by
id turns per-token Python calls into array operations. A question about the
characters of a word (`AnyChar`, `AllChars`) is answered for all new words at
once: each distinct character is asked once, and the words' answers are read
off the characters' with numpy. The new words' characters are encoded once for
all such tables (`_Vocabulary.chars`).

Ids hold within one computation only: `ids()` clears the vocabulary (and every
table) before it grows past `MAX_WORDS`, so a long-running worker's memory
stays bounded; ids from an earlier call must not be mixed with later ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

import numpy as np

MAX_WORDS = 1 << 18


class _Vocabulary(dict):
    """word -> id; looking up a new word gives it the next id."""

    def __init__(self):
        super().__init__()
        self.words: list[str] = []
        self.tables: dict[tuple, tuple[np.ndarray, int] | np.ndarray] = {}
        self._span: tuple = (0, 0, np.empty(0, np.uint32), np.zeros(1, np.int64))

    def __missing__(self, word: str) -> int:
        self[word] = len(self.words)
        self.words.append(word)
        return self[word]

    def chars(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(the code points of words[start:stop] joined; where each word starts in them, and the end),
        remembered for the last span asked: the tables that grow together share one encoding."""
        if self._span[:2] != (start, stop):
            words = self.words[start:stop]
            points = np.frombuffer("".join(words).encode("utf-32-le", "surrogatepass"), np.uint32)
            bounds = np.zeros(len(words) + 1, np.int64)
            np.cumsum(np.fromiter(map(len, words), np.int64, len(words)), out=bounds[1:])
            self._span = (start, stop, points, bounds)
        return self._span[2:]


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


_UNKNOWN = 2


class AnyChar:
    """word -> whether `char_prop` holds for any of its characters; tables of it are computed in bulk."""

    def __init__(self, char_prop: Callable[[str], bool]):
        self.char_prop = char_prop

    def __call__(self, word: str) -> bool:
        return any(map(self.char_prop, word))

    def bulk(self, points: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        """`self(word)` for each word, given the words' code points joined and their bounds in them
        (`_Vocabulary.chars`), asking `char_prop` once per distinct character."""
        key = ("chars", self.char_prop)  # `char_prop` of each code point, filled in as characters turn up
        if key not in _VOCAB.tables:
            _VOCAB.tables[key] = np.full(0x110000, _UNKNOWN, np.uint8)
        known = _VOCAB.tables[key]
        from quality.kernels import any_flagged

        out, unknown = any_flagged(known, points, bounds, _UNKNOWN)
        if len(unknown):
            new = np.unique(unknown)
            known[new] = np.fromiter(map(self.char_prop, map(chr, new.tolist())), np.uint8, len(new))
            out = any_flagged(known, points, bounds, _UNKNOWN)[0]
        return out


class AllChars(AnyChar):
    """word -> whether `char_prop` holds for every one of its characters (True for an empty word)."""

    def __init__(self, char_prop: Callable[[str], bool]):
        super().__init__(char_prop)
        self._any_other = AnyChar(lambda ch: not char_prop(ch))

    def __call__(self, word: str) -> bool:
        return all(map(self.char_prop, word))

    def bulk(self, points: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        return ~self._any_other.bulk(points, bounds)


def table(prop: Callable[[str], object], dtype: type) -> np.ndarray:
    """`prop(word)` for every id given out so far, as an array indexed by id (computed once per word;
    for all new words in one call where `prop` has a `bulk(points, bounds)` method, as `AnyChar` has:
    the new words' code points joined and their bounds, see `_Vocabulary.chars`)."""
    key = (prop, dtype)
    store, done = _VOCAB.tables.get(key, (np.empty(0, dtype), 0))
    size = len(_VOCAB.words)
    if done < size:
        if len(store) < size:  # grow by doubling, so filling the table stays linear in the vocabulary
            store = np.concatenate((store[:done], np.empty(max(size, 2 * len(store)) - done, dtype)))
        if prop is len:
            store[done:size] = np.diff(_VOCAB.chars(done, size)[1])
        elif hasattr(prop, "bulk"):
            store[done:size] = prop.bulk(*_VOCAB.chars(done, size))
        else:
            store[done:size] = np.fromiter(map(prop, _VOCAB.words[done:size]), dtype, size - done)
        _VOCAB.tables[key] = store, size
    return store[:size]
