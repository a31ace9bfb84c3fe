"""The gate's own decontamination check: the eval sets named in the run's config, indexed again
here (not the index the pipeline used), against every kept text, with the stage's own rule
(`DecontaminationIndex.matched_items`: shared n-grams, and near matches of short segments)."""

from __future__ import annotations

import pandas as pd

from quality.decontamination import DecontaminationSettings, build_index

CONTAMINATED = "_contaminated"


def decontamination_settings(config: dict) -> DecontaminationSettings | None:
    section = config.get("decontamination") or {}
    return DecontaminationSettings.model_validate(section) if section.get("sets") else None


def contaminated_flags(texts: pd.Series, settings: DecontaminationSettings) -> pd.DataFrame:
    """1 where a text matches an indexed eval item (as the stage would reject it), else 0."""
    index = build_index(settings)
    return pd.DataFrame({CONTAMINATED: [int(index.is_contaminated(t)) for t in texts]}, index=texts.index)
