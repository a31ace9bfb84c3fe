"""C4 cleaning (Raffel et al. 2020, section 2.2), line by line, then page rules.

Unlike the other families, C4 changes the text: it drops the lines that fail a
line rule, and `rewrite` returns the kept lines joined by newlines; the signals
are `c4_lines_removed` and `c4_sentences`. Page rules reject the whole
document: "lorem ipsum" or a curly bracket in a line that survived the line
rules, or fewer than `min_sentences` sentences in the kept lines.

Line rules, in order (the order of the released TFDS code, which datatrove
follows): a word longer than `max_word_length`; citation markers ([1], [edit],
[citation needed]) are deleted; no terminal mark at the end, or an ellipsis;
fewer than `min_words_per_line` words; "javascript"; a policy or cookie phrase.

`variant: paper` (default) is what the paper describes: 3 words per line, 5
sentences, end marks . ? ! " ' and nothing else. `variant: tfds` is the code
TFDS released to build C4: 5 words per line, 3 sentences, end marks . ? ! ",
plus citation removal, policy lines and the 1,000-character word limit. Keys
set explicitly win over the variant's values.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from quality.rule_family import Rejection, Rule, RuleFamily, Thresholds
from quality.text_stats import count_sentences_in_lines

_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
_PAGE_RULE, _KEPT_TEXT = "page_rule", "kept_text"  # working values of `C4.signals`, not columns
POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")

VARIANTS = {
    "paper": dict(
        min_words_per_line=3,
        min_sentences=5,
        end_marks=[".", "?", "!", '"', "'"],
        max_word_length=0,
        remove_citations=False,
        drop_policy_lines=False,
    ),
    "tfds": dict(
        min_words_per_line=5,
        min_sentences=3,
        end_marks=[".", "?", "!", '"'],
        max_word_length=1000,
        remove_citations=True,
        drop_policy_lines=True,
    ),
}


class C4Thresholds(Thresholds):
    enabled: bool = Field(
        default=False,
        description="off by default: C4 rewrites documents (drops every line without a terminal mark), which guts hard-wrapped text",
    )
    variant: Literal["paper", "tfds"] = Field(default="paper", description="paper values or the TFDS code's")
    min_words_per_line: int = Field(default=3, ge=0)
    min_sentences: int = Field(default=5, ge=0, description="in the kept lines; fewer rejects the page")
    end_marks: list[str] = Field(default_factory=lambda: list(VARIANTS["paper"]["end_marks"]))
    max_word_length: int = Field(default=0, ge=0, description="drop lines with a longer word; 0 = no limit")
    remove_citations: bool = False
    drop_policy_lines: bool = False
    drop_javascript_lines: bool = True
    reject_lorem_ipsum: bool = True
    reject_curly_bracket: bool = True

    @model_validator(mode="after")
    def _variant_defaults(self):
        for key, value in VARIANTS[self.variant].items():
            if key not in self.model_fields_set:
                setattr(self, key, value)
        return self


def _line_kept(line: str, t: C4Thresholds, end_marks: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(the line as kept, or None when dropped; the page rule it triggers, if any)."""
    if t.max_word_length and any(len(word) > t.max_word_length for word in line.split()):
        return None, None
    if t.remove_citations:
        line = _CITATION.sub("", line)
    if not line.endswith(end_marks) or line.endswith("..."):
        return None, None
    if len(line.split()) < t.min_words_per_line:
        return None, None
    lower = line.lower()
    if t.reject_lorem_ipsum and "lorem ipsum" in lower:
        return None, "lorem_ipsum"
    if t.drop_javascript_lines and "javascript" in lower:
        return None, None
    if t.reject_curly_bracket and "{" in line:
        return None, "curly_bracket"
    if t.drop_policy_lines and any(p in lower for p in POLICY_PHRASES):
        return None, None
    return line, None


class C4(RuleFamily):
    """Line cleaning, then page rules; the kept lines are the text the later families and the dataset see."""

    name = "c4"
    prefix = "c4"
    thresholds = C4Thresholds
    columns = {"lines_removed": int, "sentences": int}  # sentences: in the kept lines
    rules = (Rule("sentences", min="min_sentences", name="too_few_sentences"),)

    def signals(self, text: str, words: list[str] | None, lang: str | None, t: C4Thresholds) -> dict:
        """The columns, plus working values: the kept text, and the page rule a line triggered (null columns then)."""
        end_marks = tuple(t.end_marks)
        lines = text.splitlines()
        kept: list[str] = []
        for index, raw in enumerate(lines):
            line, page_rule = _line_kept(raw.strip(), t, end_marks)
            if page_rule:
                rejection = (f"{self.name}:{page_rule}", f"line {index + 1}: {raw.strip()[:200]}")
                return {"c4_lines_removed": None, "c4_sentences": None, _PAGE_RULE: rejection}
            if line is not None:
                kept.append(line)
        return {
            "c4_lines_removed": len(lines) - len(kept),
            "c4_sentences": count_sentences_in_lines(kept),
            _PAGE_RULE: None,
            _KEPT_TEXT: "\n".join(kept).strip(),
        }

    def judge(self, signals: dict, t: C4Thresholds) -> Rejection:
        return signals[_PAGE_RULE] or super().judge(signals, t)

    def rewrite(self, text: str, signals: dict) -> str:
        return signals[_KEPT_TEXT]


FAMILY = C4()
