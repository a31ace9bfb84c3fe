"""The classifier stage: a fastText quality model scores each document (`quality.classifier`).

Adds `quality_score` and rejects `classifier:low_score` (detail: the score).
Two ways to set the cut:

- `threshold`: keep documents whose score reaches it; one pass.
- `top_percentile` P: keep the best P percent. The cut is a global quantile of
  the scores, taken with Beam's `ApproximateQuantiles` combiner (1001
  quantiles, rank error at most 0.1% of the documents) and passed back to the
  keep/reject step as a side input. Documents tied at the cut are all kept.
"""

from __future__ import annotations

import apache_beam as beam

from pipelines.stage import KEPT, REJECTED, reject
from quality.classifier import ClassifierThresholds, QualityClassifier

REASON = "classifier:low_score"
_QUANTILES = 1001


class _Score(beam.DoFn):
    def __init__(self, model_path: str, label: str):
        self._model_path = model_path
        self._label = label
        self._scorer = None

    def setup(self):
        self._scorer = QualityClassifier(self._model_path, label=self._label)

    def process(self, doc: dict):
        yield {**doc, "quality_score": self._scorer.score(doc["text"])}


def _route(doc: dict, cut: float):
    if doc["quality_score"] >= cut:
        yield doc
    else:
        yield beam.pvalue.TaggedOutput(REJECTED, reject(doc, REASON, f"{doc['quality_score']:.4f}"))


def cut_from_quantiles(quantiles: list[float], top_percentile: float) -> float:
    """The score at the (100 - P)th percentile; with no documents, any cut will do."""
    if not quantiles:
        return 0.0
    index = round((100.0 - top_percentile) / 100.0 * (len(quantiles) - 1))
    return quantiles[index]


class ClassifierStage(beam.PTransform):
    name = "classifier"
    section_name = "classifier"

    def __init__(self, config: ClassifierThresholds):
        super().__init__()
        if not config.model_path:
            raise ValueError("the classifier stage needs a model_path")
        self._config = config
        self._cut = None

    def expand(self, docs):
        scored = docs | "Score" >> beam.ParDo(_Score(self._config.model_path, self._config.label))
        if self._config.top_percentile is None:
            self._cut = scored.pipeline | "Threshold" >> beam.Create([self._config.threshold])
        else:
            top = self._config.top_percentile
            self._cut = (
                scored
                | "Scores" >> beam.Map(lambda doc: doc["quality_score"])
                | "Quantiles" >> beam.ApproximateQuantiles.Globally(_QUANTILES)
                | "Cut" >> beam.Map(cut_from_quantiles, top)
            )
        routed = scored | "Route" >> beam.FlatMap(_route, beam.pvalue.AsSingleton(self._cut)).with_outputs(
            REJECTED, main=KEPT
        )
        return {KEPT: routed[KEPT], REJECTED: routed[REJECTED]}

    def manifest_section(self, kept, rejected):
        """The model and the cut actually applied (for top_percentile, the computed score)."""
        config = self._config
        mode = "threshold" if config.top_percentile is None else "top_percentile"
        return self._cut | "ClassifierManifest" >> beam.Map(
            lambda cut: {
                "model_path": config.model_path,
                "label": config.label,
                "mode": mode,
                "top_percentile": config.top_percentile,
                "cut_score": cut,
            }
        )
