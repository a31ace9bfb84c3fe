"""The contract every curate stage keeps.

A stage is a `beam.PTransform` that takes a PCollection of documents (plain
dicts whose keys are columns of `pipelines.schema`) and returns a dict with
two PCollections: `kept` (documents that go on) and `rejected` (the same
documents plus `reason` = "stage:rule" and `detail` = the value that failed).
A stage never drops a document: each one leaves by exactly one of the two.

Most stages judge one document at a time; `JudgeStage` wraps such a judge.
"""

from __future__ import annotations

from typing import Callable, Iterable

import apache_beam as beam

KEPT = "kept"
REJECTED = "rejected"

# A judge returns the (possibly updated) document, and a rejection as
# (reason, detail) or None when the document is kept.
Verdict = tuple[dict, tuple[str, str] | None]


def reject(doc: dict, reason: str, detail) -> dict:
    """The rejected row for `doc`: reason is `stage:rule`, detail the failing value as text."""
    if ":" not in reason:
        raise ValueError(f"rejection reason must be 'stage:rule', got {reason!r}")
    out = dict(doc)
    out["reason"] = reason
    out["detail"] = None if detail is None else str(detail)
    return out


class _ApplyJudge(beam.DoFn):
    def __init__(self, make_judge: Callable[[], Callable[[dict], Verdict]]):
        self._make_judge = make_judge
        self._judge = None

    def setup(self):
        # Built once per worker: models and compiled patterns are loaded here, not pickled.
        self._judge = self._make_judge()

    def process(self, doc: dict) -> Iterable:
        # Judges may update the document; Beam elements must not be mutated in place.
        doc, rejection = self._judge(dict(doc))
        if rejection is None:
            yield doc
        else:
            yield beam.pvalue.TaggedOutput(REJECTED, reject(doc, *rejection))


class JudgeStage(beam.PTransform):
    """A stage made of a per-document judge.

    `make_judge` is called once per worker and returns `judge(doc) -> (doc, rejection)`.
    It must be picklable (a module-level function or a `functools.partial` of one).
    """

    def __init__(self, make_judge: Callable[[], Callable[[dict], Verdict]], label: str | None = None):
        super().__init__(label)
        self._make_judge = make_judge

    def expand(self, docs):
        results = docs | beam.ParDo(_ApplyJudge(self._make_judge)).with_outputs(REJECTED, main=KEPT)
        return {KEPT: results[KEPT], REJECTED: results[REJECTED]}
