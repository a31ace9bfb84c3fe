"""The bias stage, the last one: flagged-word screen and representation audit (`quality.bias`).

`BiasStage` adds `flagged_words_ratio` and, only if `bias.max_flagged_ratio`
is set, rejects `bias:flagged_words` (detail: the ratio). Its manifest section
is the representation statistics and the removal audit, summed over the final
kept documents and every rejected one.
"""

from __future__ import annotations

import functools

from pipelines.stage import Stage, Verdict
from quality.bias import BiasSettings, bias_section, doc_counts, flagged_counts, flagged_words_ratio


def _bias_judge(settings: BiasSettings, doc: dict) -> Verdict:
    ratio = flagged_words_ratio(doc["text"], doc.get("lang") or settings.default_lang)
    doc = {**doc, "flagged_words_ratio": ratio}
    if settings.max_flagged_ratio is not None and ratio is not None and ratio > settings.max_flagged_ratio:
        return doc, ("bias:flagged_words", f"{ratio:.6f}")
    return doc, None


def _make_bias_judge(settings: BiasSettings):
    return functools.partial(_bias_judge, settings)


class BiasStage(Stage):
    name = "bias"

    def __init__(self, settings: BiasSettings):
        super().__init__(functools.partial(_make_bias_judge, settings))
        self._settings = settings

    def kept_counts(self, doc: dict) -> dict:
        return {**doc_counts(doc["text"]), **flagged_counts(doc.get("flagged_words_ratio"))}

    def rejected_counts(self, row: dict) -> dict:
        return doc_counts(row["text"])

    def section(self, kept: dict, rejected_by_reason: dict) -> dict:
        """Representation of the kept corpus and the per-rule removal audit (see `quality.bias`)."""
        return bias_section(kept, rejected_by_reason, self._settings)
