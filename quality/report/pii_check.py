"""Leftover-PII checks, with the same detector the PII stage redacts with (`quality.pii`).

A type counts as redacted when the run's `pii` section is enabled and that
type's action is not `keep` (`reject` redacts too). The report counts, per kept
document, what `quality.pii.scan` still finds of each redacted type; placeholders
such as `<EMAIL>` are never detected, so a clean dataset counts zero everywhere.
Email addresses are also checked with a plain regex, as a GX-native expectation.
"""

from __future__ import annotations

import pandas as pd

from quality.pii import COLUMNS, COLUMNS_BY_KEY, DEFAULT_PHONE_REGIONS, redact, scan

EMAIL_REGEX = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
LEFTOVER_PREFIX = "leftover_"


def redacted_types(config: dict) -> list[str]:
    """Entity keys (email, phone, ...) the run redacted; empty when its config has no enabled `pii` section."""
    section = config.get("pii")
    if not isinstance(section, dict) or section.get("enabled") is False:
        return []
    types = []
    for key in COLUMNS_BY_KEY:
        policy = section.get(key, "redact")
        action = policy.get("action", "redact") if isinstance(policy, dict) else policy
        if action != "keep":
            types.append(key)
    return types


def _regions(config: dict) -> tuple[str, ...]:
    section = config.get("pii") if isinstance(config.get("pii"), dict) else {}
    return tuple(section.get("phone_regions") or DEFAULT_PHONE_REGIONS)


def leftover_counts(texts: pd.Series, config: dict) -> pd.DataFrame:
    """One `leftover_<type>` column per redacted type: what the detector still finds in each text."""
    types = redacted_types(config)
    regions = _regions(config)
    rows = []
    for text in texts:
        counts = dict.fromkeys(types, 0)
        for span in scan(text or "", regions):
            key = COLUMNS[span.entity][len("pii_"):]
            if key in counts:
                counts[key] += 1
        rows.append(counts)
    return pd.DataFrame(rows, columns=types, index=texts.index).add_prefix(LEFTOVER_PREFIX)


def mask(text: str) -> str:
    """`text` with every entity the detector finds replaced by its placeholder, for showing sample documents."""
    return redact(text, scan(text))
