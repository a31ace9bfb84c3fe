"""The language stage: fastText language ID on each document (`quality.langid`).

Adds `lang` and `lang_score`; rejects `language:not_allowed` (detail: the
language) and `language:low_score` (detail: the score).
"""

from __future__ import annotations

import functools

from pipelines.stage import Stage, Verdict
from quality.langid import LanguageIdentifier, LanguageThresholds, bundled_model_path, language_verdict


def _judge(identifier: LanguageIdentifier, thresholds: LanguageThresholds, doc: dict) -> Verdict:
    lang, score = identifier.predict(doc["text"])
    doc = {**doc, "lang": lang, "lang_score": score}
    return doc, language_verdict(lang, score, thresholds)


def make_language_judge(thresholds: LanguageThresholds):
    """Called once per worker: loads the model there."""
    return functools.partial(_judge, LanguageIdentifier(thresholds.model_path), thresholds)


class LanguageStage(Stage):
    name = "language"

    def __init__(self, config: LanguageThresholds):
        super().__init__(functools.partial(make_language_judge, config))
        self._model_path = config.model_path or bundled_model_path()

    def kept_counts(self, doc: dict) -> dict:
        return {doc.get("lang") or "": 1}

    def section(self, kept: dict, rejected_by_reason: dict) -> dict:
        """The model used and how many final documents each language has."""
        return {"model_path": str(self._model_path), "kept_by_lang": dict(sorted(kept.items()))}
