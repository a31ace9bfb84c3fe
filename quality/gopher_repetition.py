"""Gopher repetition rules (Rae et al. 2021, table A1): is this text repeating itself?

All character fractions divide by the length of the whole text. Paragraphs are
separated by blank lines, lines by newlines. The top n-gram fraction is the
characters of the most frequent word n-gram (words joined by spaces) times its
count; the duplicate n-gram fraction counts the characters (words joined
without spaces) of every n-gram seen before, skipping past each repeat so
overlapping repeats are not counted twice. The counting is `quality.ngrams`.
"""

from __future__ import annotations

import re

from pydantic import Field

from quality.ngrams import repetition_chars
from quality.rule_family import Rule, RuleFamily, Thresholds
from quality.text_stats import find_duplicates, ratio, split_words

TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
_PARAGRAPH_BREAK = re.compile(r"\n{2,}")
_LINE_BREAK = re.compile(r"\n+")


def split_paragraphs(text: str) -> list[str]:
    """`_PARAGRAPH_BREAK.split(text.strip())`, with str.split (several times faster than the pattern)."""
    # A piece after a run of more than two newlines starts with the rest of the run; runs of
    # four or more leave empty pieces. The stripped text neither starts nor ends with a newline.
    return [p.lstrip("\n") if p[0] == "\n" else p for p in text.strip().split("\n\n") if p] or [""]


def split_lines(text: str) -> list[str]:
    """`_LINE_BREAK.split(text)`, with str.split: the pieces between runs of newlines, an empty one at
    either end where the text starts or ends with a newline."""
    lines = list(filter(None, text.split("\n")))
    return [""] * text.startswith("\n") + lines + [""] * (text.endswith("\n") or not text)


class GopherRepetitionThresholds(Thresholds):
    max_dup_para_frac: float = Field(default=0.3, ge=0, le=1, description="paragraphs that repeat an earlier one")
    max_dup_para_char_frac: float = Field(default=0.2, ge=0, le=1)
    max_dup_line_frac: float = Field(default=0.3, ge=0, le=1, description="lines that repeat an earlier one")
    max_dup_line_char_frac: float = Field(default=0.2, ge=0, le=1)
    max_top_2gram_char_frac: float = Field(default=0.2, ge=0, le=1)
    max_top_3gram_char_frac: float = Field(default=0.18, ge=0, le=1)
    max_top_4gram_char_frac: float = Field(default=0.16, ge=0, le=1)
    max_dup_5gram_char_frac: float = Field(default=0.15, ge=0, le=1)
    max_dup_6gram_char_frac: float = Field(default=0.14, ge=0, le=1)
    max_dup_7gram_char_frac: float = Field(default=0.13, ge=0, le=1)
    max_dup_8gram_char_frac: float = Field(default=0.12, ge=0, le=1)
    max_dup_9gram_char_frac: float = Field(default=0.11, ge=0, le=1)
    max_dup_10gram_char_frac: float = Field(default=0.10, ge=0, le=1)


RULES = (
    ["dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac"]
    + [f"top_{n}gram_char_frac" for n in TOP_NGRAMS]
    + [f"dup_{n}gram_char_frac" for n in DUP_NGRAMS]
)


class GopherRepetition(RuleFamily):
    """Rules in order: paragraphs, lines, top n-grams, duplicate n-grams; each signal at most `max_<signal>`."""

    name = "gopher_repetition"
    prefix = "gr"
    thresholds = GopherRepetitionThresholds
    columns = dict.fromkeys(RULES, float)
    rules = tuple(Rule(rule, max=f"max_{rule}") for rule in RULES)

    def signals(self, text: str, words: list[str] | None, lang: str | None, t: GopherRepetitionThresholds) -> dict:
        words = split_words(text) if words is None else words
        paragraphs, lines = split_paragraphs(text), split_lines(text)
        dup_paras, dup_para_chars = find_duplicates(paragraphs)
        dup_lines, dup_line_chars = find_duplicates(lines)
        out = {
            "gr_dup_para_frac": ratio(dup_paras, len(paragraphs)),
            "gr_dup_para_char_frac": ratio(dup_para_chars, len(text)),
            "gr_dup_line_frac": ratio(dup_lines, len(lines)),
            "gr_dup_line_char_frac": ratio(dup_line_chars, len(text)),
        }
        top, dup = repetition_chars(words, TOP_NGRAMS, DUP_NGRAMS)
        for n in TOP_NGRAMS:
            out[f"gr_top_{n}gram_char_frac"] = ratio(top[n], len(text))
        for n in DUP_NGRAMS:
            out[f"gr_dup_{n}gram_char_frac"] = ratio(dup[n], len(text))
        return out


FAMILY = GopherRepetition()
