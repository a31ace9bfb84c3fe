"""A fastText quality classifier: training, held-out evaluation and scoring.

The model has two labels, `positive` (text like the reference corpus, e.g. books
and Wikipedia) and `negative` (e.g. raw web text). A document's quality score is
the probability of `positive`, or of the label named by `label`: a pretrained
fastText model with its own labels (DCLM's `__label__hq`, FineWeb-Edu-style
classes) is scored with `label: hq`.

Training splits *documents* (not chunks) into train and held-out sets per
class, so pieces of one book never sit on both sides; then long documents are
cut into pieces of `chunk_words` words, and the larger class is downsampled
with the seed so both classes have the same number of examples.
"""

from __future__ import annotations

import math
import random
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

POSITIVE = "positive"
NEGATIVE = "negative"
_LABEL = "__label__"
_SPACE = re.compile(r"\s+")


class ClassifierThresholds(BaseModel):
    """The `classifier` config section: what the keep/reject decision needs."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, description="run the stage; off by default, as it needs a trained model (`model_path`)")

    model_path: str | None = Field(default=None, description="model from `gristmill quality train-classifier`")
    label: str = Field(
        default=POSITIVE, min_length=1, description="the label whose probability is the score, with or without __label__"
    )
    threshold: float = Field(default=0.5, ge=0.0, le=1.0, description="keep when quality_score >= threshold")
    top_percentile: float | None = Field(
        default=None,
        gt=0.0,
        le=100.0,
        description="keep the best P percent of documents by score instead of using `threshold`",
    )

    @model_validator(mode="after")
    def _model_when_enabled(self):
        if self.enabled and not self.model_path:
            raise ValueError("classifier.enabled needs classifier.model_path (train one with `gristmill quality train-classifier`)")
        return self


def prepare(text: str) -> str:
    """The one-line, lower-cased form fastText sees, both in training and in scoring."""
    return _SPACE.sub(" ", text).strip().lower()


def chunks(text: str, chunk_words: int) -> list[str]:
    """`text` as prepared pieces of at most `chunk_words` words (0 = one piece)."""
    words = prepare(text).split(" ")
    if not words or words == [""]:
        return []
    if chunk_words <= 0:
        return [" ".join(words)]
    return [" ".join(words[i : i + chunk_words]) for i in range(0, len(words), chunk_words)]


@dataclass
class Metrics:
    """Held-out figures for the positive label."""

    n_positive: int
    n_negative: int
    precision: float
    recall: float
    f1: float
    accuracy: float

    def summary(self) -> str:
        return (
            f"held-out: {self.n_positive} positive, {self.n_negative} negative examples; "
            f"precision {self.precision:.3f}  recall {self.recall:.3f}  F1 {self.f1:.3f}  accuracy {self.accuracy:.3f}"
        )


@dataclass
class TrainReport:
    train_positive: int
    train_negative: int
    heldout: Metrics
    output: Path


def split_documents(docs: list[str], heldout_fraction: float, rng: random.Random) -> tuple[list[str], list[str]]:
    """(train, held-out) by document; at least one document on each side when there are two or more."""
    docs = list(docs)
    rng.shuffle(docs)
    n_held = 0 if len(docs) < 2 else min(len(docs) - 1, max(1, math.ceil(len(docs) * heldout_fraction)))
    return docs[n_held:], docs[:n_held]


def balance(pos: list[str], neg: list[str], rng: random.Random) -> tuple[list[str], list[str]]:
    """Downsample the larger class to the size of the smaller one."""
    n = min(len(pos), len(neg))
    return (rng.sample(pos, n) if len(pos) > n else pos), (rng.sample(neg, n) if len(neg) > n else neg)


def _examples(docs: list[str], chunk_words: int) -> list[str]:
    return [piece for doc in docs for piece in chunks(doc, chunk_words)]


def train_classifier(
    positive: list[str],
    negative: list[str],
    output: str | Path,
    *,
    heldout_fraction: float = 0.2,
    chunk_words: int = 400,
    seed: int = 0,
    epoch: int = 25,
    lr: float = 0.5,
    dim: int = 64,
    threads: int = 1,
) -> TrainReport:
    """Train, evaluate on the held-out documents, and save the model to `output`."""
    import fasttext

    if len(positive) < 2 or len(negative) < 2:
        raise ValueError(
            f"need at least 2 documents per class for a held-out split, got {len(positive)} positive and {len(negative)} negative"
        )
    rng = random.Random(seed)
    pos_train, pos_held = split_documents(positive, heldout_fraction, rng)
    neg_train, neg_held = split_documents(negative, heldout_fraction, rng)
    pos_train, neg_train = balance(_examples(pos_train, chunk_words), _examples(neg_train, chunk_words), rng)
    pos_held, neg_held = balance(_examples(pos_held, chunk_words), _examples(neg_held, chunk_words), rng)
    if not pos_train or not pos_held:
        raise ValueError("no text left to train or evaluate on after splitting (are the documents empty?)")

    lines = [f"{_LABEL}{POSITIVE} {t}" for t in pos_train] + [f"{_LABEL}{NEGATIVE} {t}" for t in neg_train]
    rng.shuffle(lines)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gristmill-clf-") as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        model = fasttext.train_supervised(
            input=str(train_file),
            wordNgrams=2,
            epoch=epoch,
            lr=lr,
            dim=dim,
            minCount=2,
            bucket=2_000_000,
            thread=threads,
            seed=seed,
            verbose=0,
        )
    model.save_model(str(output))
    scorer = QualityClassifier(output, model=model)
    metrics = evaluate(scorer, pos_held, neg_held)
    return TrainReport(len(pos_train), len(neg_train), metrics, output)


def evaluate(scorer: "QualityClassifier", positive: list[str], negative: list[str], threshold: float = 0.5) -> Metrics:
    """Precision/recall/F1 of `score >= threshold` as the positive prediction."""
    tp = sum(scorer.score(t) >= threshold for t in positive)
    fp = sum(scorer.score(t) >= threshold for t in negative)
    fn = len(positive) - tp
    tn = len(negative) - fp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    total = len(positive) + len(negative)
    return Metrics(len(positive), len(negative), precision, recall, f1, (tp + tn) / total if total else 0.0)


class QualityClassifier:
    """A fastText model, loaded once; `score(text)` is the probability of `label` (default `positive`)."""

    def __init__(self, model_path: str | Path, model=None, label: str = POSITIVE):
        from quality.langid import load_fasttext

        self.model_path = Path(model_path)
        self._model = model if model is not None else load_fasttext(self.model_path)
        self._label = label if label.startswith(_LABEL) else f"{_LABEL}{label}"
        labels = self._model.get_labels()
        if self._label not in labels:
            shown = ", ".join(l.removeprefix(_LABEL) for l in labels[:10])
            raise ValueError(
                f"{self.model_path}: no '{self._label.removeprefix(_LABEL)}' label (labels: {shown}); "
                "set classifier.label to the label to score, or train a model with `gristmill quality train-classifier`"
            )
        self._n_labels = len(labels)

    def score(self, text: str) -> float:
        labels, probs = self._model.predict(prepare(text), k=self._n_labels)
        for label, prob in zip(labels, probs):
            if label == self._label:
                return min(float(prob), 1.0)
        return 0.0
