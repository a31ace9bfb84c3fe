"""Apply a per-document stage to documents the way the curate segments do, without a pipeline."""

from __future__ import annotations

from pipelines.stage import Stage, add_nested, reject


def run_stage(stage: Stage, docs: list[dict]) -> tuple[list[dict], list[dict]]:
    """(kept documents, rejected rows), in input order."""
    judge = stage.make_judge()
    kept, rejected = [], []
    for doc in docs:
        doc, rejection = judge(dict(doc))
        if rejection is None:
            kept.append(doc)
        else:
            rejected.append(reject(doc, *rejection))
    return kept, rejected


def section_of(stage: Stage, kept: list[dict], rejected: list[dict]) -> dict:
    """The stage's manifest section from its sums over kept documents and rejected rows."""
    kept_totals, by_reason = {}, {}
    for doc in kept:
        add_nested(kept_totals, stage.kept_counts(doc) or {})
    for row in rejected:
        add_nested(by_reason, {row["reason"]: stage.rejected_counts(row) or {}})
    return stage.section(kept_totals, by_reason)
