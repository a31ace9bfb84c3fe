"""What a curate stage is: a name, its rejections, a per-document judge, and an optional manifest section.

The stages, in pipeline order and with the segment each runs in, are declared
once, in `pipelines.stages`; the segments, the funnel and the manifest follow
that declaration. A stage's `name` is the stage part of its rejection reasons
(`stage:rule`; `rejects` lists them when they are other names, as the quality
rules' families are), the key of its sums in the stats, and the key of its
manifest section. `from_config` builds the stage, or returns None when the
config leaves it off.

A per-document stage judges one document at a time: `make_judge()` is called
once per worker (models and compiled patterns load there, not in the pickled
stage) and returns `judge(doc) -> (doc, rejection)`, where the document is a
plain dict of `pipelines.schema` columns and the rejection is `(reason, detail)`
with reason `stage:rule`, or None when the document goes on. A stage never
drops a document. Judges run inside the per-unit tasks of `pipelines.segments`,
so they hold no Beam.

A cross-document stage (exact dedup, near-dup) decides on all documents at
once, in three parts: `sidecar(layout, unit)` is fed `add(row, doc)` every
document the segment before the stage's own keeps (small files beside that
segment's rows of the unit; `close()` returns counts for the unit's stats record);
`decide(stats, layout, cut)` is its global Beam step, from that segment's stats
records (and the classifier cut, or None) to `(unit, (row, decision))` records
and its manifest section (a one-element PCollection, or None); and in its own
segment `apply(doc, decision)` gives the verdict, with decision None for a row
that has none. A stage that counts what its decisions did overrides
`applier(unit, decisions)` instead: an object whose `apply(row, doc)` gives the
verdicts and whose `stats()` goes into the unit's stats record under the
stage's name; its `decide` may then return, in place of a section, a function
from its own segment's stats records to the section. The classifier's cut is
the one global step outside this protocol: a single number from every score,
applied first thing in s3.

A stage with a manifest section says what to count: `kept_counts(doc)` is
summed over the final kept documents, `rejected_counts(row)` over every
rejected row per reason, and `section(kept, rejected_by_reason)` returns the
section built from the sums, or None (the default) for no section.
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


class Stage:
    """A curate stage; see the module docstring. `make_judge` must be picklable."""

    name = "stage"
    rejects: tuple[str, ...] = ()  # the stage parts of its rejection reasons, when not just `name`
    cross_document = False

    def __init__(self, make_judge: Callable[[], Judge] | None = None):
        self._make_judge = make_judge

    @classmethod
    def from_config(cls, config, layout) -> Stage | None:
        """The stage for a `CurateConfig` and a run's `Layout`, or None when the config leaves it off.

        By default the stage is built from the config section named after it, when that section is enabled.
        """
        settings = getattr(config, cls.name)
        return cls(settings) if settings.enabled else None

    @classmethod
    def reason_stages(cls) -> tuple[str, ...]:
        return cls.rejects or (cls.name,)

    def make_judge(self) -> Judge | None:
        """The per-document judge, once per worker; None for a stage without one (read, cross-document stages)."""
        return self._make_judge() if self._make_judge else None

    def kept_counts(self, doc: dict) -> dict | None:
        return None

    def rejected_counts(self, row: dict) -> dict | None:
        return None

    def section(self, kept: dict, rejected_by_reason: dict) -> dict | None:
        return None

    # The three parts of a cross-document stage; see the module docstring.
    def sidecar(self, layout, unit: int):
        raise NotImplementedError(f"{type(self).__name__} is not a cross-document stage")

    def decide(self, stats, layout, cut) -> tuple:
        raise NotImplementedError(f"{type(self).__name__} is not a cross-document stage")

    def apply(self, doc: dict, decision) -> Verdict:
        raise NotImplementedError(f"{type(self).__name__} is not a cross-document stage")

    def applier(self, unit: int, decisions: dict):
        """The unit's side of a cross-document stage: `apply(row, doc)` per document, `stats()` (or None) once."""
        return _Applier(self, decisions)


class _Applier:
    """`Stage.apply` with the unit's decisions looked up by row; nothing to count."""

    def __init__(self, stage: Stage, decisions: dict):
        self._stage, self._decisions = stage, decisions

    def apply(self, row: int, doc: dict) -> Verdict:
        return self._stage.apply(doc, self._decisions.get(row))

    def stats(self) -> dict | None:
        return None


def add_nested(totals: dict, counts: dict) -> dict:
    """Sum `counts` into `totals`, key by key, through nested dicts."""
    for key, value in counts.items():
        if isinstance(value, dict):
            add_nested(totals.setdefault(key, {}), value)
        else:
            totals[key] = totals.get(key, 0) + value
    return totals
