"""The PII stage: entities replaced by placeholders (`quality.pii`), the second-last stage.

`PiiStage` replaces entities by placeholders per the `pii` config, adds the
`pii_*` count columns, and rejects `pii:<entity>` (detail: the counts as
JSON) where a `reject` policy says so; the text of a rejected document is
redacted too. Its manifest section sums the counts over the kept documents.
`redact_field` redacts the rows that never passed the PII stage.
"""

from __future__ import annotations

import functools

from pipelines.stage import Stage, Verdict
from quality.pii import COLUMNS, PiiSettings, apply_policies


def _pii_judge(settings: PiiSettings, doc: dict) -> Verdict:
    text, counts, rejection = apply_policies(doc["text"], settings)
    doc = {**doc, "text": text, **counts}
    if "n_chars" in doc:
        doc["n_chars"] = len(text)
    return doc, rejection


def _make_pii_judge(settings: PiiSettings):
    return functools.partial(_pii_judge, settings)


def _pii_counts(doc: dict) -> dict[str, int]:
    counts = {column: doc.get(column) or 0 for column in COLUMNS.values()}
    counts["docs"] = 1
    counts["docs_with_pii"] = int(any(counts[c] for c in COLUMNS.values()))
    return counts


class PiiStage(Stage):
    name = "pii"

    def __init__(self, settings: PiiSettings):
        super().__init__(functools.partial(_make_pii_judge, settings))
        self._settings = settings

    def kept_counts(self, doc: dict) -> dict:
        return _pii_counts(doc)

    def section(self, kept: dict, rejected_by_reason: dict) -> dict:
        """Entities found in the final documents, per type, and the policies applied."""
        settings = self._settings
        policies = {key: settings.policy(key).model_dump() for key in (c.removeprefix("pii_") for c in COLUMNS.values())}
        return {
            "docs": kept.get("docs", 0),
            "docs_with_pii": kept.get("docs_with_pii", 0),
            "entities": {column: kept.get(column, 0) for column in COLUMNS.values()},
            "policies": policies,
            "phone_regions": list(settings.phone_regions),
        }


def redact_field(settings: PiiSettings, field: str, record: dict) -> dict:
    """Redact one text field of a record that never passed the PII stage, so no output holds PII.

    Used on rejected documents (`text`: rejected before the PII stage; their `pii_*`
    columns stay null) and on read errors (`excerpt`: the raw start of a bad record).
    """
    if (record.get("reason") or "").startswith("pii:") or not record.get(field):
        return record  # already redacted by PiiStage, or nothing to redact
    return {**record, field: apply_policies(record[field], settings)[0]}
