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

# The pattern's branches, each with a guard: a lookahead that holds wherever the branch can match, so
# that it fails fast elsewhere (`regex` tries the branches one by one at every position; the guards
# make the pattern about 25% faster on new text).
_BRANCHES = (
    (r"""(?:https?://|www\.)\S+?(?=[.,;:!?)\]"'”’]*(?:\s|$))""", ""),  # a URL, without trailing punctuation
    (r"\b(?:%s)\." % "|".join(_ABBREVIATIONS), r"(?=[A-Za-z]{2,4}\.)"),  # an abbreviation with its period
    (r"\b(?:\p{L}\.){2,}", r"(?=\p{L}\.)"),  # initialisms (U.S., e.g.)
    (r"\b\p{Lu}\.", ""),  # initials (J.)
    (r"\d+(?:[.,:/]\d+)+[^\W_]*", ""),  # numbers with separators: 3.14, 1,000, 6:21pm, 9/11
    (r"(?i:[^\W_]+?(?=n't\b))", r"(?=[^\W_]+')"),  # do|n't, ca|n't
    (r"(?i:n't\b)", ""),
    (r"(?i:['’](?:s|re|ve|ll|d|m)\b)", ""),  # clitics: 's 're 've 'll 'd 'm
    (r"[^\W_]+(?:(?:_+|['’](?!(?i:s|re|ve|ll|d|m)\b))[^\W_]+)*", ""),  # words, keeping inner _ and apostrophes (O'Brien)
    (r"\.{2,}", ""),  # an ellipsis
    (r"-{2,}", ""),  # a dash run
    (r"(?<!\S)[-@=+~*/\\|<>^&]{2,}(?!\S)", ""),  # a symbol run standing alone (WikiText's @-@, =>)
    (r"\S", ""),  # any other character on its own
)
assert all(word.isascii() and word.isalpha() and 2 <= len(word) <= 4 for word in _ABBREVIATIONS)  # their guard

_TOKEN = regex.compile("|".join(branch for branch, _ in _BRANCHES))

# The same tokens, found faster: first two shortcuts for the commonest cases, each giving exactly what
# the general branches give there (ASCII letters up to whitespace or a mark that cannot extend a
# word, URL, abbreviation or number; a lone mark of those kinds), then the guarded branches.
_FAST_TOKEN = regex.compile(r"""[A-Za-z]+(?![^\s,;!?()\]"-])|[,;!?()"]|""" + "|".join(g + b for b, g in _BRANCHES))

# Unicode's Sentence_Terminal property: . ! ? and their equivalents in other scripts.
TERMINAL_PUNCTUATION = frozenset(regex.findall(r"\p{Sentence_Terminal}", "".join(map(chr, range(0x20000)))))


# str.split() also breaks at these four separators, which the pattern's \s (Unicode White_Space) does not.
_SPLIT_ONLY_SPACE = re.compile("[\x1c-\x1f]")
_MAX_CACHED_CHUNKS = 1 << 19


# The characters str.split() breaks at, as a table over code points: they are all below U+3001.
_IS_SPACE = np.array([chr(c).isspace() for c in range(0x3001)])


class _Chunks:
    """Recently seen chunks (text between whitespace): each one's tokens as ids of one vocabulary.

    The chunks are found, looked up and the new ones added in one compiled pass
    over the text's code points (`quality.kernels.find_chunks`: a hash table of
    chunk rows, each row holding the chunk's characters); the new chunks are
    tokenized together, and a document's word ids are gathered by row
    (`kernels.chunk_token_ids`); its words are read back from the ids.
    """

    def __init__(self):
        self.vocab = vocabulary.current()
        self.rows = 0
        self.table = np.zeros((1 << 12, 4), np.uint64)  # see `kernels.find_chunks`
        self.chunk_points = np.empty(1 << 13, np.uint32)
        self.used = 0  # of `chunk_points`
        self.first = np.empty(1 << 10, np.int64)  # of each row: where its token ids start in `ids`
        self.count = np.empty(1 << 10, np.int64)  # how many tokens it has
        self.ids = np.empty(1 << 12, np.int64)
        self.size = 0  # of `ids` in use
        self.last: tuple[str, tuple] = ("", (np.empty(0, np.int64),) * 3)  # C4 counts the sentences of the text it hands on

    def fresh(self) -> bool:
        """Whether the cache can serve the next document: same vocabulary, not full."""
        return self.vocab is vocabulary.current() and self.rows <= _MAX_CACHED_CHUNKS

    def tokens(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(the ids of the tokens of the text's chunks, in order; where each chunk starts in the text; how
        many tokens it has), tokenizing the chunks not seen before; None (and the cache is spent) when
        the vocabulary had to start afresh for them."""
        if text == self.last[0]:
            return self.last[1]
        from quality import kernels

        points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)
        rows, starts, ends, new_starts, new_ends, self.table, self.chunk_points, self.used = kernels.find_chunks(
            points, _IS_SPACE, self.table, self.chunk_points, self.used, self.rows)
        if len(new_starts):
            tokens = _FAST_TOKEN.findall(" ".join(map(text.__getitem__, map(slice, new_starts.tolist(), new_ends.tolist()))))
            vocabulary.make_room(len(tokens))
            if vocabulary.current() is not self.vocab:
                return None
            self.first, self.count, self.ids = kernels.learn_chunks(
                self.first, self.count, self.ids, self.size, self.rows, new_ends - new_starts,
                np.fromiter(map(len, tokens), np.int64, len(tokens)), vocabulary.ids(tokens))
            self.rows += len(new_starts)
            self.size += len(tokens)
        ids, counts = kernels.chunk_token_ids(rows, self.first, self.count, self.ids)
        self.last = text, (ids, starts, counts)
        return self.last[1]


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

    def bulk(self, start: int, stop: int) -> np.ndarray:
        single = vocabulary.table(len, np.int64)[start:stop] == 1  # the terminal marks are single characters
        terminal = single & vocabulary.table(self._has_terminal, bool)[start:stop]
        all_punctuation = vocabulary.table(self._all_punctuation, bool)[start:stop]
        return np.where(terminal, _TERMINAL, np.where(all_punctuation, _PUNCTUATION, _WORD))


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
    line_starts = np.zeros(len(lines), np.int64)
    np.cumsum(np.fromiter(map(len, lines[:-1]), np.int64, len(lines) - 1) + 1, out=line_starts[1:])
    from quality.kernels import later_sentence_starts

    roles = vocabulary.table(_ROLE_CODE, np.uint8)
    return len(lines) + later_sentence_starts(roles, ids, starts, counts, line_starts, _WORD, _PUNCTUATION, _TERMINAL)


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """(number of items that repeat an earlier one, total characters of those repeats).

    Every occurrence but the first of each distinct item is a repeat.
    """
    distinct = set(items)
    return len(items) - len(distinct), sum(map(len, items)) - sum(map(len, distinct))


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0.0 for an empty denominator (an empty document has no ratios)."""
    return numerator / denominator if denominator else 0.0

