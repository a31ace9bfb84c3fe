"""Text measurements shared by the rule families: words, sentences, duplicates.

Words follow the shape of spaCy's English tokenizer (what datatrove's filters
use), written as one regular expression because it is about 35x faster:
punctuation marks are their own tokens, clitics ('s, n't, 're ...) are split
off, hyphenated words split at the hyphen, numbers keep their decimal point,
and common abbreviations ("Mr.", "e.g.") keep their period. Whitespace is
never a token.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import regex

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

# Unicode's Sentence_Terminal property: . ! ? and their equivalents in other scripts.
TERMINAL_PUNCTUATION = frozenset(regex.findall(r"\p{Sentence_Terminal}", "".join(map(chr, range(0x20000)))))


def split_words(text: str) -> list[str]:
    """Word and punctuation tokens of `text` (see the module docstring)."""
    return _TOKEN.findall(text)


@lru_cache(maxsize=65536)
def _is_symbol_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PSC"


def is_symbol_word(word: str) -> bool:
    """True when every character is punctuation, a symbol or a control character."""
    return all(_is_symbol_char(ch) for ch in word)


def _is_punct(token: str) -> bool:
    return all(unicodedata.category(ch)[0] == "P" for ch in token)


def count_sentences(text: str) -> int:
    """Sentences in `text`: a sentence ends at a terminal mark and the next non-punctuation token starts one.

    The rule of spaCy's rule-based sentencizer, applied to `split_words` tokens;
    marks that follow the terminal mark (a closing quote) stay in its sentence.
    """
    sentences, seen_terminal = 1, False
    for token in split_words(text):
        if token in TERMINAL_PUNCTUATION:
            seen_terminal = True
        elif seen_terminal and not _is_punct(token):
            sentences += 1
            seen_terminal = False
    return sentences


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """(number of items that repeat an earlier one, total characters of those repeats)."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0.0 for an empty denominator (an empty document has no ratios)."""
    return numerator / denominator if denominator else 0.0

