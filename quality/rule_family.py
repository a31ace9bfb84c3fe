"""What the rule families (Gopher quality and repetition, C4, FineWeb) have in common.

Each family module offers `signals(text) -> dict` (typed values, one column
each, named `<prefix>_<rule>`) and `judge(signals, thresholds) -> None |
(reason, detail)`, reason being `<family>:<rule>` and detail the failing value.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

Rejection = tuple[str, str] | None


class Thresholds(BaseModel):
    """A family's thresholds; unknown keys are errors, as everywhere in the config."""

    model_config = ConfigDict(extra="forbid")


def detail(value) -> str:
    """A signal as rejection detail: floats with 4 significant digits, the rest as is."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)
