"""The classifier stage: a fastText quality model scores each document (`quality.classifier`).

Adds `quality_score` and rejects `classifier:low_score` (detail: the score).
Scoring is per document (`ClassifierStage`, before near-dup); the cut is one
number applied later, so near-dup only sees documents at or above it:

- `threshold`: keep documents whose score reaches it.
- `top_percentile` P: keep the best P percent. The cut is a global quantile of
  the scores, taken with Beam's `ApproximateQuantiles` combiner (1001
  quantiles, rank error at most 0.1% of the documents) over the scores alone.
  Documents tied at the cut are all kept.
"""

from __future__ import annotations

import functools

import apache_beam as beam

from pipelines.stage import Stage
from quality.classifier import ClassifierThresholds, QualityClassifier

REASON = "classifier:low_score"
_QUANTILES = 1001


def _score(scorer: QualityClassifier, doc: dict):
    return {**doc, "quality_score": scorer.score(doc["text"])}, None


def _make_scorer(model_path: str, label: str):
    return functools.partial(_score, QualityClassifier(model_path, label=label))


def cut_rejection(doc: dict, cut: float) -> tuple[str, str] | None:
    if doc["quality_score"] >= cut:
        return None
    return REASON, f"{doc['quality_score']:.4f}"


def cut_from_quantiles(quantiles: list[float], top_percentile: float) -> float:
    """The score at the (100 - P)th percentile; with no documents, any cut will do."""
    if not quantiles:
        return 0.0
    index = round((100.0 - top_percentile) / 100.0 * (len(quantiles) - 1))
    return quantiles[index]


class ClassifierStage(Stage):
    """Scores documents; its manifest section is `cut_section` of the cut, not a sum over documents."""

    name = "classifier"

    def __init__(self, config: ClassifierThresholds):
        if not config.model_path:
            raise ValueError("the classifier stage needs a model_path")
        super().__init__(functools.partial(_make_scorer, config.model_path, config.label))
        self._config = config

    def cut(self, scores):
        """The cut as a one-element PCollection, from the PCollection of every scored document's score."""
        config = self._config
        if config.top_percentile is None:
            return scores.pipeline | "ClassifierThreshold" >> beam.Create([config.threshold])
        return (
            scores
            | "ClassifierQuantiles" >> beam.ApproximateQuantiles.Globally(_QUANTILES)
            | "ClassifierCut" >> beam.Map(cut_from_quantiles, config.top_percentile)
        )

    def cut_section(self, cut: float) -> dict:
        """The model and the cut actually applied (for top_percentile, the computed score)."""
        config = self._config
        return {
            "model_path": config.model_path,
            "label": config.label,
            "mode": "threshold" if config.top_percentile is None else "top_percentile",
            "top_percentile": config.top_percentile,
            "cut_score": cut,
        }
