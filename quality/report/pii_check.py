"""Leftover-PII checks, with the same detector the PII stage redacts with (`quality.pii`).

The run's `pii` section is read with the PII stage's own model, defaults and
all (`quality.pii.PiiSettings`; its `redacted()` types). The report counts, per kept
document, what `quality.pii.scan` still finds of each redacted type; placeholders
such as `<EMAIL>` are never detected, so a clean dataset counts zero everywhere.
Email addresses are also checked with a plain regex, as a GX-native expectation.
"""

from __future__ import annotations

import pandas as pd

from quality.pii import COLUMNS, PiiSettings, redact, scan

EMAIL_REGEX = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
LEFTOVER_PREFIX = "leftover_"


def pii_settings(config: dict) -> PiiSettings | None:
    """The run's `pii` section as the PII stage read it (its defaults filled in); None when absent or disabled."""
    section = config.get("pii")
    if not isinstance(section, dict):
        return None
    settings = PiiSettings.model_validate(section)
    return settings if settings.enabled else None


def redacted_types(config: dict) -> list[str]:
    """Entity keys (email, phone, ...) the run redacted; empty when its config has no enabled `pii` section."""
    settings = pii_settings(config)
    return settings.redacted() if settings else []


def leftover_counts(texts: pd.Series, config: dict) -> pd.DataFrame:
    """One `leftover_<type>` column per redacted type: what the detector still finds in each text."""
    settings = pii_settings(config)
    types = settings.redacted() if settings else []
    rows = []
    for text in texts:
        counts = dict.fromkeys(types, 0)
        for span in scan(text or "", tuple(settings.phone_regions)) if types else ():
            key = COLUMNS[span.entity][len("pii_"):]
            if key in counts:
                counts[key] += 1
        rows.append(counts)
    return pd.DataFrame(rows, columns=types, index=texts.index).add_prefix(LEFTOVER_PREFIX)


def mask(text: str) -> str:
    """`text` with every entity the detector finds replaced by its placeholder, for showing sample documents."""
    return redact(text, scan(text))
