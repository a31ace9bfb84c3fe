"""The curate stages in pipeline order, declared once: the segments, the funnel and the manifest follow it.

Each entry is a stage class (`pipelines.stage.Stage`) and the per-unit segment
of `pipelines.segments` that applies its verdicts. `build_stages` builds the
stages a config turns on, grouped by segment in this order; the segments run
their stages' judges in it, the funnel lists rejection reasons in it, and the
stats and manifest sections are summed and written per stage. A
cross-document stage's sidecars are written by the segment before its own and
its global step runs between the two (`pipelines.curate`). Adding a stage, of
either kind, is one `Stage` subclass and one entry here.
"""

from __future__ import annotations

from pipelines.bias import BiasStage
from pipelines.classifier import ClassifierStage
from pipelines.decontamination import DecontaminationStage
from pipelines.exact_dedup import ExactDedupStage
from pipelines.language import LanguageStage
from pipelines.line_dedup import LineDedupStage
from pipelines.near_dup import NearDupStage
from pipelines.normalize import NormalizeStage
from pipelines.pii import PiiStage
from pipelines.quality_rules import QualityRulesStage
from pipelines.sources import ReadStage
from pipelines.stage import Stage
from pipelines.url_filter import UrlFilterStage

SEGMENTS = ("s1", "s2", "s3")

ORDER: tuple[tuple[type[Stage], str], ...] = (
    (ReadStage, "s1"),
    (NormalizeStage, "s1"),
    (ExactDedupStage, "s2"),
    # Before every judge, so they all see the text that will be stored (the repetition rules the page without its boilerplate).
    (LineDedupStage, "s2"),
    # Cheap and independent of the quality rules: before them, right after exact dedup.
    (UrlFilterStage, "s2"),
    (DecontaminationStage, "s2"),
    (LanguageStage, "s2"),
    (QualityRulesStage, "s2"),
    (ClassifierStage, "s2"),  # scores in s2; its cut rejects first thing in s3, before near-dup
    (NearDupStage, "s3"),
    # PII and bias stay last: placeholders must not make documents look alike to dedup.
    (PiiStage, "s3"),
    (BiasStage, "s3"),
)


def build_stages(config, layout) -> dict[str, list[Stage]]:
    """The stages a `CurateConfig` turns on, per segment, in pipeline order."""
    stages: dict[str, list[Stage]] = {segment: [] for segment in SEGMENTS}
    for stage_class, segment in ORDER:
        if stage_class.cross_document and segment == SEGMENTS[0]:
            raise ValueError(f"{stage_class.__name__} decides across documents: it needs a segment before its own")
        stage = stage_class.from_config(config, layout)
        if stage is not None:
            stages[segment].append(stage)
    return stages


def in_order(stages: dict[str, list[Stage]]) -> list[Stage]:
    """Every stage of `build_stages`, in pipeline order."""
    return [stage for segment in SEGMENTS for stage in stages[segment]]


def reason_order() -> list[str]:
    """The stage parts of rejection reasons (`stage:rule`) in pipeline order: the funnel's rows."""
    return [name for stage_class, _ in ORDER for name in stage_class.reason_stages()]
