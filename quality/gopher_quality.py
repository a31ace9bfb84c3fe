"""Gopher quality rules (Rae et al. 2021, appendix A.1.1): is this prose at all?

Word counts and the mean word length use "real" words (tokens with at least one
character that is not punctuation or a symbol); the hash, ellipsis and alphabetic
ratios divide by all tokens, punctuation included, as datatrove does.
"""

from __future__ import annotations

from operator import methodcaller

import numpy as np
from pydantic import Field

from quality import vocabulary
from quality.rule_family import Rule, RuleFamily, Thresholds
from quality.stop_words import GOPHER_ENGLISH, stop_words_for
from quality.text_stats import is_symbol_word, ratio, split_words


class GopherQualityThresholds(Thresholds):
    min_words: int = Field(default=50, ge=0, description="fewer real words rejects")
    max_words: int = Field(default=100_000, ge=0, description="more real words rejects")
    min_mean_word_length: float = Field(default=3.0, ge=0)
    max_mean_word_length: float = Field(default=10.0, ge=0)
    max_hash_ratio: float = Field(default=0.1, ge=0, description="'#' per token")
    max_ellipsis_ratio: float = Field(default=0.1, ge=0, description="'...' and '…' per token")
    max_bullet_lines_ratio: float = Field(default=0.9, ge=0, le=1, description="lines starting with • or -")
    max_ellipsis_lines_ratio: float = Field(default=0.3, ge=0, le=1, description="lines ending with ... or …")
    min_alpha_words_ratio: float = Field(default=0.8, ge=0, le=1, description="tokens with a letter")
    min_stop_words: int = Field(
        default=2, ge=0,
        description="distinct stop words (English: the, be, to, of, and, that, have, with; see quality.stop_words)",
    )


has_letter = vocabulary.AnyChar(str.isalpha)
_is_bullet = methodcaller("startswith", ("•", "-"))  # of a line without its leading whitespace
_is_ellipsis = methodcaller("endswith", ("...", "…"))  # of a line without its trailing whitespace
_is_english_stop_word = GOPHER_ENGLISH.__contains__


class GopherQuality(RuleFamily):
    """Rules in the paper's order; a null stop-word count (no list for the language) passes."""

    name = "gopher_quality"
    prefix = "gq"
    thresholds = GopherQualityThresholds
    columns = {
        "word_count": int,  # words with a character that is not punctuation or a symbol
        "mean_word_length": float,
        "hash_ratio": float,  # '#' per token
        "ellipsis_ratio": float,  # '...' and '…' per token
        "bullet_lines_ratio": float,
        "ellipsis_lines_ratio": float,
        "alpha_words_ratio": float,  # tokens with a letter
        "stop_words": int,  # distinct stop words of the document's language present
    }
    rules = (
        Rule("word_count", min="min_words", max="max_words"),
        Rule("mean_word_length", min="min_mean_word_length", max="max_mean_word_length"),
        Rule("hash_ratio", max="max_hash_ratio"),
        Rule("ellipsis_ratio", max="max_ellipsis_ratio"),
        Rule("bullet_lines_ratio", max="max_bullet_lines_ratio"),
        Rule("ellipsis_lines_ratio", max="max_ellipsis_lines_ratio"),
        Rule("alpha_words_ratio", min="min_alpha_words_ratio"),
        Rule("stop_words", min="min_stop_words"),
    )

    def signals(self, text: str, words: list[str] | None, lang: str | None, t: GopherQualityThresholds) -> dict:
        """`lang` picks the stop-word list; a language without one gets a null stop-word count."""
        words = split_words(text) if words is None else words
        stops = stop_words_for(lang)
        ids = vocabulary.ids(words)  # each question below is asked once per distinct word
        if stops is None:
            stop_count = None
        elif stops is GOPHER_ENGLISH:  # exact tokens, as the paper and datatrove match them: by id
            stop_count = len(np.unique(ids[vocabulary.table(_is_english_stop_word, bool)[ids]]))
        else:
            stop_count = len(stops.intersection(map(str.lower, words)))
        real = ~vocabulary.table(is_symbol_word, bool)[ids]
        real_count = int(np.count_nonzero(real))
        lines = text.splitlines()
        return {
            "gq_word_count": real_count,
            "gq_mean_word_length": ratio(int(vocabulary.table(len, np.int64)[ids][real].sum()), real_count),
            "gq_hash_ratio": ratio(text.count("#"), len(words)),
            "gq_ellipsis_ratio": ratio(text.count("...") + text.count("…"), len(words)),
            "gq_bullet_lines_ratio": ratio(sum(map(_is_bullet, map(str.lstrip, lines))), len(lines)),
            "gq_ellipsis_lines_ratio": ratio(sum(map(_is_ellipsis, map(str.rstrip, lines))), len(lines)),
            "gq_alpha_words_ratio": ratio(int(np.count_nonzero(vocabulary.table(has_letter, bool)[ids])), len(words)),
            "gq_stop_words": stop_count,
        }


FAMILY = GopherQuality()
