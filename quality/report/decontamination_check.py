"""The gate's own decontamination check: the eval sets named in the run's config, indexed again
here (not the index the pipeline used), against every kept text."""

from __future__ import annotations

import pandas as pd

from quality.decontamination import DecontaminationSettings, build_index

CONTAMINATED = "_contaminated"


def decontamination_settings(config: dict) -> DecontaminationSettings | None:
    section = config.get("decontamination") or {}
    return DecontaminationSettings.model_validate(section) if section.get("sets") else None


def contaminated_flags(texts: pd.Series, settings: DecontaminationSettings) -> pd.DataFrame:
    """1 where a text shares an n-gram with an indexed eval item, else 0."""
    index = build_index(settings)
    return pd.DataFrame({CONTAMINATED: [int(index.is_contaminated(t)) for t in texts]}, index=texts.index)
