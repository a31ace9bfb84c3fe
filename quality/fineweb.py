"""FineWeb rules (Penedo et al. 2024): line structure typical of boilerplate and lists.

Lines are the non-blank lines of the text. A line ends in punctuation when its
last character is a Unicode sentence terminal (. ! ? and other scripts' marks).
The duplicate-line character ratio divides the characters of lines that repeat
an earlier line by the characters of the text without its newlines.
"""

from __future__ import annotations

from pydantic import Field

from quality.rule_family import Rule, RuleFamily, Thresholds
from quality.text_stats import TERMINAL_PUNCTUATION, find_duplicates, ratio, split_words


class FineWebThresholds(Thresholds):
    min_line_punct_ratio: float = Field(default=0.12, ge=0, le=1, description="lines ending in a terminal mark")
    max_short_line_ratio: float = Field(default=0.67, ge=0, le=1, description="lines of at most short_line_chars")
    short_line_chars: int = Field(default=30, ge=0)
    max_dup_line_char_ratio: float = Field(default=0.01, ge=0, le=1, description="characters in repeated lines")
    max_newline_word_ratio: float = Field(default=0.3, ge=0, description="newlines per word")


class FineWeb(RuleFamily):
    """Rules in datatrove's order."""

    name = "fineweb"
    prefix = "fw"
    thresholds = FineWebThresholds
    columns = dict.fromkeys(("line_punct_ratio", "short_line_ratio", "dup_line_char_ratio", "newline_word_ratio"), float)
    rules = (
        Rule("line_punct_ratio", min="min_line_punct_ratio"),
        Rule("short_line_ratio", max="max_short_line_ratio"),
        Rule("dup_line_char_ratio", max="max_dup_line_char_ratio"),
        Rule("newline_word_ratio", max="max_newline_word_ratio"),
    )

    def signals(self, text: str, words: list[str] | None, lang: str | None, t: FineWebThresholds) -> dict:
        """The short-line length is a threshold, `short_line_chars`."""
        words = split_words(text) if words is None else words
        lines = [line for line in text.split("\n") if line.strip()]
        return {
            "fw_line_punct_ratio": ratio(sum(line[-1:] in TERMINAL_PUNCTUATION for line in lines), len(lines)),
            "fw_short_line_ratio": ratio(sum(len(line) <= t.short_line_chars for line in lines), len(lines)),
            "fw_dup_line_char_ratio": ratio(find_duplicates(lines)[1], len(text) - text.count("\n")),
            "fw_newline_word_ratio": ratio(text.count("\n"), len(words)),
        }


FAMILY = FineWeb()
