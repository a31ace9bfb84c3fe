"""Text measurements shared by the rule families: words, sentences, duplicates.

Words follow the shape of spaCy's English tokenizer (what datatrove's filters
use), written as one regular expression because it is about 35x faster:
punctuation marks are their own tokens, clitics ('s, n't, 're ...) are split
off, hyphenated words split at the hyphen, numbers keep their decimal point,
and common abbreviations ("Mr.", "e.g.") keep their period. Whitespace is
never a token.

No token spans whitespace and each depends only on the characters between two
runs of whitespace, so `split_words` splits at whitespace first and tokenizes
each distinct chunk once, remembering the tokens of recent chunks: most chunks
of running text ("the", "said,") were seen a moment ago.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from itertools import chain

import regex

from quality.vocabulary import AllChars, Words

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
_MAX_CACHED_CHUNKS = 1 << 16


class _Chunks:
    """The tokens, and their sentence roles, of recently seen chunks (text between whitespace)."""

    def __init__(self):
        self.tokens: dict[str, tuple[str, ...]] = {}
        self.roles: dict[str, str] = {}

    def bound(self) -> None:
        """Forget everything once the cache is full (call before a lookup, never during one)."""
        if len(self.tokens) > _MAX_CACHED_CHUNKS:
            self.tokens.clear()
            self.roles.clear()

    def tokens_of(self, chunks: list[str]) -> list[tuple[str, ...]]:
        new = set(chunks).difference(self.tokens)
        if new:
            self._learn(new)
        return list(map(self.tokens.__getitem__, chunks))

    def roles_of(self, chunks: list[str]) -> str:
        """The `_sentence_role` letters of the chunks' tokens, in order."""
        new = list(set(chunks).difference(self.roles))
        for chunk, tokens in zip(new, self.tokens_of(new)):
            self.roles[chunk] = "".join(map(_sentence_role, tokens))
        return "".join(map(self.roles.__getitem__, chunks))

    def _learn(self, chunks: set[str]) -> None:
        """Tokenize new chunks, all in one pass of the pattern over them joined by spaces."""
        rest = []
        for chunk in chunks:
            if chunk.isascii() and chunk.isalpha():
                self.tokens[chunk] = (chunk,)  # ASCII letters only: one word, whatever the pattern's other branches
            else:
                rest.append(chunk)
        tokens = iter(_FAST_TOKEN.findall(" ".join(rest)))
        for chunk in rest:
            # Every character of a chunk is in exactly one of its tokens, in order: take tokens until they cover it.
            got, need = [], len(chunk)
            while need > 0:
                token = next(tokens)
                got.append(token)
                need -= len(token)
            self.tokens[chunk] = tuple(got)


_CHUNKS = _Chunks()


def split_words(text: str) -> list[str]:
    """Word and punctuation tokens of `text` (see the module docstring); the same as `_TOKEN.findall(text)`."""
    if _SPLIT_ONLY_SPACE.search(text):
        return Words(_TOKEN.findall(text))
    _CHUNKS.bound()
    return Words(chain.from_iterable(_CHUNKS.tokens_of(text.split())))


def _is_symbol_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PSC"


is_symbol_word = AllChars(_is_symbol_char)
"""word -> True when every character is punctuation, a symbol or a control character."""


@lru_cache(maxsize=65536)
def _sentence_role(token: str) -> str:
    """T: a terminal mark; P: other punctuation; W: anything else."""
    if token in TERMINAL_PUNCTUATION:
        return "T"
    return "P" if all(unicodedata.category(ch)[0] == "P" for ch in token) else "W"


def count_sentences(text: str) -> int:
    """Sentences in `text`: a sentence ends at a terminal mark and the next non-punctuation token starts one.

    The rule of spaCy's rule-based sentencizer, applied to `split_words` tokens;
    marks that follow the terminal mark (a closing quote) stay in its sentence.
    Without the other punctuation, a new sentence is each W right after a T.
    """
    if _SPLIT_ONLY_SPACE.search(text):
        roles = "".join(map(_sentence_role, _TOKEN.findall(text)))
    else:
        _CHUNKS.bound()
        roles = _CHUNKS.roles_of(text.split())
    return 1 + roles.replace("P", "").count("TW")


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """(number of items that repeat an earlier one, total characters of those repeats).

    Every occurrence but the first of each distinct item is a repeat.
    """
    distinct = set(items)
    return len(items) - len(distinct), sum(map(len, items)) - sum(map(len, distinct))


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0.0 for an empty denominator (an empty document has no ratios)."""
    return numerator / denominator if denominator else 0.0

