"""Text measurements shared by the rule families: words, sentences, duplicates.

Words follow the shape of spaCy's English tokenizer (what datatrove's filters
use), written as one regular expression because it is about 35x faster:
punctuation marks are their own tokens, clitics ('s, n't, 're ...) are split
off, hyphenated words split at the hyphen, numbers keep their decimal point,
and common abbreviations ("Mr.", "e.g.") keep their period. Whitespace is
never a token.

No token spans whitespace and each depends only on the characters between two
runs of whitespace, so `split_words` splits at whitespace first and tokenizes
each distinct chunk once, remembering the word ids of recent chunks' tokens:
most chunks of running text ("the", "said,") were seen a moment ago.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np
import regex

from quality import vocabulary
from quality.vocabulary import AllChars, AnyChar, Words

_ABBREVIATIONS = (
    "Mr Mrs Ms Dr Prof Rev Gen Gov Sen Rep St Jr Sr Inc Ltd Co Corp Bros vs etc "
    "Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec Adm Capt Col Lt Sgt Mt"
).split()

_TOKEN = regex.compile(
    r"""
    (?:https?://|www\.)\S+?(?=[.,;:!?)\]"'”’]*(?:\s|$))        # a URL, without trailing punctuation
    | \b(?:%s)\.                                               # an abbreviation with its period
    | \b(?:\p{L}\.){2,} | \b\p{Lu}\.                           # initialisms (U.S., e.g.) and initials (J.)
    | \d+(?:[.,:/]\d+)+[^\W_]*                                # numbers with separators: 3.14, 1,000, 6:21pm, 9/11
    | (?i:[^\W_]+?(?=n't\b)) | (?i:n't\b)                      # do|n't, ca|n't
    | (?i:['’](?:s|re|ve|ll|d|m)\b)                            # clitics: 's 're 've 'll 'd 'm
    | [^\W_]+(?:(?:_+|['’](?!(?i:s|re|ve|ll|d|m)\b))[^\W_]+)*  # words, keeping inner _ and apostrophes (O'Brien)
    | \.{2,} | -{2,}                                           # an ellipsis, a dash run
    | (?<!\S)[-@=+~*/\\|<>^&]{2,}(?!\S)                         # a symbol run standing alone (WikiText's @-@, =>)
    | \S                                                       # any other character on its own
    """
    % "|".join(_ABBREVIATIONS),
    regex.VERBOSE,
)

# The same tokens, found faster: first two shortcuts for the commonest cases, each giving exactly what
# the general branches give there (ASCII letters up to whitespace or a mark that cannot extend a
# word, URL, abbreviation or number; a lone mark of those kinds), then the pattern itself.
_FAST_TOKEN = regex.compile(r"""[A-Za-z]+(?![^\s,;!?()\]"-]) | [,;!?()"] | """ + _TOKEN.pattern, regex.VERBOSE)

# Unicode's Sentence_Terminal property: . ! ? and their equivalents in other scripts.
TERMINAL_PUNCTUATION = frozenset(regex.findall(r"\p{Sentence_Terminal}", "".join(map(chr, range(0x20000)))))


# str.split() also breaks at these four separators, which the pattern's \s (Unicode White_Space) does not.
_SPLIT_ONLY_SPACE = re.compile("[\x1c-\x1f]")
_MAX_CACHED_CHUNKS = 1 << 19


def _tokenize(chunks: list[str]) -> tuple[list[str], np.ndarray]:
    """(the tokens of the chunks, in order; how many of them each chunk has), in one pass of the pattern.

    Every character of a chunk is in exactly one of its tokens, in order, so the
    chunk a token belongs to is read off the running character counts.
    """
    tokens = _FAST_TOKEN.findall(" ".join(chunks))
    token_ends = np.cumsum(np.fromiter(map(len, tokens), np.int64, len(tokens)))
    chunk_ends = np.cumsum(np.fromiter(map(len, chunks), np.int64, len(chunks)))
    return tokens, np.diff(np.searchsorted(token_ends, chunk_ends) + 1, prepend=0)


def _put(array: np.ndarray, at: int, values: np.ndarray) -> np.ndarray:
    """`array` with `values` written from `at` on, grown (doubling) where it is too short."""
    array = _room(array, at + len(values), at)
    array[at : at + len(values)] = values
    return array


def _room(array: np.ndarray, size: int, keep: int) -> np.ndarray:
    """`array` at least `size` long (grown by doubling, its first `keep` entries kept)."""
    if len(array) < size:
        array = np.concatenate((array[:keep], np.empty(max(size, 2 * len(array)) - keep, array.dtype)))
    return array


# The characters str.split() breaks at, as a table over code points: they are all below U+3001.
_IS_SPACE = np.array([chr(c).isspace() for c in range(0x3001)])


class _Chunks:
    """Recently seen chunks (text between whitespace): each one's tokens as ids of one vocabulary.

    The chunks are found and looked up in one compiled pass over the text's code
    points (`quality.kernels.find_chunks`: a hash table of chunk rows, each row holding the
    chunk's characters); a document's word ids are then numpy indexing, and
    its words are read back from the ids.
    """

    def __init__(self):
        self.vocab = vocabulary.current()
        self.rows = 0
        self.table = np.zeros((1 << 12, 4), np.uint64)  # see `kernels.find_chunks`; open addressing, at most half full
        self.chunk_points = np.empty(1 << 13, np.uint32)
        self.used = 0  # of `chunk_points`
        self.first = np.empty(1 << 10, np.int64)  # where its token ids start in `ids`
        self.count = np.empty(1 << 10, np.int64)  # how many tokens it has
        self.ids = np.empty(1 << 12, np.int64)
        self.size = 0  # of `ids` in use

    def fresh(self) -> bool:
        """Whether the cache can serve the next document: same vocabulary, not full."""
        return self.vocab is vocabulary.current() and self.rows <= _MAX_CACHED_CHUNKS

    def tokens(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(the ids of the tokens of the text's chunks, in order; where each chunk starts in the text; how
        many tokens it has), tokenizing the chunks not seen before; None (nothing learnt) when the
        vocabulary had to start afresh for them."""
        points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)
        from quality.kernels import find_chunks

        rows, starts, ends, hashes = find_chunks(points, _IS_SPACE, self.table, self.chunk_points)
        missing = np.flatnonzero(rows < 0)
        if len(missing):
            missing_chunks = list(map(text.__getitem__, map(slice, starts[missing].tolist(), ends[missing].tolist())))
            place = dict(zip(missing_chunks, range(len(missing))))  # the new chunks, in order: one place of each
            new = list(place)
            tokens, counts = _tokenize(new)
            vocabulary.make_room(len(tokens))
            if vocabulary.current() is not self.vocab:
                return None
            known = self.rows
            self.first = _put(self.first, known, self.size + np.cumsum(counts) - counts)
            self.count = _put(self.count, known, counts)
            self.ids = _put(self.ids, self.size, vocabulary.ids(tokens))
            self.size += len(tokens)
            self._add(points, missing[np.fromiter(place.values(), np.int64, len(new))], starts, ends, hashes)
            row_of = dict(zip(new, range(known, known + len(new))))
            rows[missing] = np.fromiter(map(row_of.__getitem__, missing_chunks), np.int64, len(missing))
        first, counts = self.first[rows], self.count[rows]
        total = int(counts.sum())
        if total == len(rows):  # one token per chunk, the common case
            return self.ids[first], starts, counts
        return self.ids[np.repeat(first - np.cumsum(counts) + counts, counts) + np.arange(total)], starts, counts

    def _add(self, points, at, starts, ends, hashes) -> None:
        """Rows for the chunks found at `at` (new, distinct, in row order)."""
        from quality import kernels

        rows = self.rows + len(at)
        if 2 * rows > len(self.table):
            self.table = kernels.rehash(self.table, 1 << (2 * rows - 1).bit_length())
        starts, ends = starts[at], ends[at]
        self.chunk_points = _room(self.chunk_points, self.used + int((ends - starts).sum()), self.used)
        self.used = kernels.add_chunks(points, starts, ends, hashes[at], self.rows, self.table, self.chunk_points, self.used)
        self.rows = rows


_CHUNKS = _Chunks()


def _chunks() -> _Chunks:
    global _CHUNKS
    if not _CHUNKS.fresh():
        _CHUNKS = _Chunks()
    return _CHUNKS


def split_words(text: str) -> Words:
    """Word and punctuation tokens of `text` (see the module docstring); the same as `_TOKEN.findall(text)`."""
    if _SPLIT_ONLY_SPACE.search(text):
        return Words(_TOKEN.findall(text))
    return vocabulary.words_of(_tokens(text)[0])


def _tokens(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_Chunks.tokens` of the current cache (learnt afresh when the vocabulary had to start afresh)."""
    return _chunks().tokens(text) or _chunks().tokens(text)


def _is_symbol_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PSC"


is_symbol_word = AllChars(_is_symbol_char)
"""word -> True when every character is punctuation, a symbol or a control character."""


@lru_cache(maxsize=65536)
def _sentence_role(token: str) -> str:
    """T: a terminal mark; P: other punctuation; W: anything else."""
    if token in TERMINAL_PUNCTUATION:
        return "T"
    return "P" if all(map(_is_punctuation_char, token)) else "W"


def _is_punctuation_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "P"


_WORD, _PUNCTUATION, _TERMINAL = range(3)


class _RoleCode:
    """token -> `_sentence_role` as 0 (W), 1 (P) or 2 (T); tables in bulk (`vocabulary.table`)."""

    _all_punctuation = AllChars(_is_punctuation_char)
    _has_terminal = AnyChar(TERMINAL_PUNCTUATION.__contains__)

    def __call__(self, token: str) -> int:
        return "WPT".index(_sentence_role(token))

    def bulk(self, points: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        terminal = (np.diff(bounds) == 1) & self._has_terminal.bulk(points, bounds)  # the marks are single characters
        return np.where(terminal, _TERMINAL, np.where(self._all_punctuation.bulk(points, bounds), _PUNCTUATION, _WORD))


_ROLE_CODE = _RoleCode()


def count_sentences(text: str) -> int:
    """Sentences in `text`: a sentence ends at a terminal mark and the next non-punctuation token starts one.

    The rule of spaCy's rule-based sentencizer, applied to `split_words` tokens;
    marks that follow the terminal mark (a closing quote) stay in its sentence.
    Without the other punctuation, a new sentence is each W right after a T.
    """
    return count_sentences_in_lines([text])


def count_sentences_in_lines(lines: list[str]) -> int:
    """`sum(map(count_sentences, lines))`, counted on the tokens of all the lines at once."""
    text = "\n".join(lines)
    if _SPLIT_ONLY_SPACE.search(text):
        roles = ("".join(map(_sentence_role, _TOKEN.findall(line))) for line in lines)
        return sum(1 + line_roles.replace("P", "").count("TW") for line_roles in roles)
    ids, starts, counts = _tokens(text)
    roles = vocabulary.table(_ROLE_CODE, np.uint8)[ids]
    line_starts = np.zeros(len(lines), np.int64)
    np.cumsum(np.fromiter(map(len, lines[:-1]), np.int64, len(lines) - 1) + 1, out=line_starts[1:])
    line_of = np.repeat(np.searchsorted(line_starts, starts, "right"), counts)
    kept = roles != _PUNCTUATION
    roles, line_of = roles[kept], line_of[kept]
    starts_sentence = (roles[:-1] == _TERMINAL) & (roles[1:] == _WORD) & (line_of[:-1] == line_of[1:])
    return len(lines) + int(np.count_nonzero(starts_sentence))


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """(number of items that repeat an earlier one, total characters of those repeats).

    Every occurrence but the first of each distinct item is a repeat.
    """
    distinct = set(items)
    return len(items) - len(distinct), sum(map(len, items)) - sum(map(len, distinct))


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0.0 for an empty denominator (an empty document has no ratios)."""
    return numerator / denominator if denominator else 0.0

