"""The contract every per-document curate stage keeps.

A stage judges one document at a time: `make_judge()` is called once per
worker (models and compiled patterns load there, not in the pickled stage)
and returns `judge(doc) -> (doc, rejection)`, where the document is a plain
dict of `pipelines.schema` columns and the rejection is `(reason, detail)`
with reason `stage:rule`, or None when the document goes on. A stage never
drops a document. Stages run inside the per-unit tasks of `pipelines.segments`,
so they hold no Beam.

A stage with a manifest section says what to count: `kept_counts(doc)` is
summed over the final kept documents, `rejected_counts(row)` over every
rejected row per reason, and `section(kept, rejected_by_reason)` turns the
sums into the section.
"""

from __future__ import annotations

from typing import Callable

KEPT = "kept"
REJECTED = "rejected"

# A judge returns the (possibly updated) document, and a rejection as
# (reason, detail) or None when the document is kept.
Verdict = tuple[dict, tuple[str, str] | None]
Judge = Callable[[dict], Verdict]


def reject(doc: dict, reason: str, detail) -> dict:
    """The rejected row for `doc`: reason is `stage:rule`, detail the failing value as text."""
    if ":" not in reason:
        raise ValueError(f"rejection reason must be 'stage:rule', got {reason!r}")
    out = dict(doc)
    out["reason"] = reason
    out["detail"] = None if detail is None else str(detail)
    return out


class DocStage:
    """A per-document stage; see the module docstring. `make_judge` must be picklable."""

    name = "stage"
    section_name: str | None = None

    def __init__(self, make_judge: Callable[[], Judge]):
        self._make_judge = make_judge

    def make_judge(self) -> Judge:
        return self._make_judge()

    def kept_counts(self, doc: dict) -> dict | None:
        return None

    def rejected_counts(self, row: dict) -> dict | None:
        return None

    def section(self, kept: dict, rejected_by_reason: dict) -> dict:
        raise NotImplementedError(f"{type(self).__name__} has no manifest section")


def add_nested(totals: dict, counts: dict) -> dict:
    """Sum `counts` into `totals`, key by key, through nested dicts."""
    for key, value in counts.items():
        if isinstance(value, dict):
            add_nested(totals.setdefault(key, {}), value)
        else:
            totals[key] = totals.get(key, 0) + value
    return totals
