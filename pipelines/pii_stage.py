"""The last two curate stages: PII redaction (`quality.pii`) and the bias screen (`quality.bias`).

`PiiStage` replaces entities by placeholders per the `pii` config, adds the
`pii_*` count columns, and rejects `pii:<entity>` (detail: the counts as
JSON) where a `reject` policy says so; the text of a rejected document is
redacted too. Its manifest section sums the counts over the kept documents.
`RedactRejected` redacts the documents that earlier stages rejected.

`BiasStage` adds `flagged_words_ratio` and, only if `bias.max_flagged_ratio`
is set, rejects `bias:flagged_words` (detail: the ratio). Its manifest section
is the representation statistics and the removal audit, computed with
combiners over the final kept documents and every rejected one.
"""

from __future__ import annotations

import functools

import apache_beam as beam

from pipelines.stage import JudgeStage, Verdict
from quality.bias import BiasSettings, add_counts, bias_section, doc_counts, flagged_counts, flagged_words_ratio
from quality.pii import COLUMNS, PiiSettings, apply_policies


class SumCounts(beam.CombineFn):
    """Key-wise sum of count dicts."""

    def create_accumulator(self):
        return {}

    def add_input(self, totals, counts):
        return add_counts(totals, counts)

    def merge_accumulators(self, accumulators):
        totals: dict = {}
        for acc in accumulators:
            add_counts(totals, acc)
        return totals

    def extract_output(self, totals):
        return totals


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


class PiiStage(JudgeStage):
    section_name = "pii"

    def __init__(self, settings: PiiSettings, label: str | None = "pii"):
        super().__init__(functools.partial(_make_pii_judge, settings), label)
        self._settings = settings

    def manifest_section(self, kept, rejected):
        """Entities found in the final documents, per type, and the policies applied."""
        policies = {key: self._settings.policy(key).model_dump() for key in (c.removeprefix("pii_") for c in COLUMNS.values())}

        def section(totals):
            return {
                "docs": totals.get("docs", 0),
                "docs_with_pii": totals.get("docs_with_pii", 0),
                "entities": {column: totals.get(column, 0) for column in COLUMNS.values()},
                "policies": policies,
                "phone_regions": list(self._settings.phone_regions),
            }

        return (
            kept
            | "PiiManifest/Counts" >> beam.Map(_pii_counts)
            | "PiiManifest/Sum" >> beam.CombineGlobally(SumCounts())
            | "PiiManifest/Section" >> beam.Map(section)
        )


def _redact_field(settings: PiiSettings, field: str, record: dict) -> dict:
    if record.get("reason", "").startswith("pii:") or not record.get(field):
        return record  # already redacted by PiiStage, or nothing to redact
    return {**record, field: apply_policies(record[field], settings)[0]}


class RedactField(beam.PTransform):
    """Redact one text field of records that never passed the PII stage, so no output holds PII.

    Used on rejected documents (`text`: rejected before the PII stage; their `pii_*`
    columns stay null) and on read errors (`excerpt`: the raw start of a bad record).
    """

    def __init__(self, settings: PiiSettings, field: str):
        super().__init__()
        self._settings, self._field = settings, field

    def expand(self, records):
        return records | beam.Map(functools.partial(_redact_field, self._settings, self._field))


def _bias_judge(settings: BiasSettings, doc: dict) -> Verdict:
    ratio = flagged_words_ratio(doc["text"], doc.get("lang") or settings.default_lang)
    doc = {**doc, "flagged_words_ratio": ratio}
    if settings.max_flagged_ratio is not None and ratio is not None and ratio > settings.max_flagged_ratio:
        return doc, ("bias:flagged_words", f"{ratio:.6f}")
    return doc, None


def _make_bias_judge(settings: BiasSettings):
    return functools.partial(_bias_judge, settings)


def _kept_counts(doc: dict) -> dict:
    return {**doc_counts(doc["text"]), **flagged_counts(doc.get("flagged_words_ratio"))}


def _reason_counts(doc: dict) -> tuple[str, dict]:
    return doc["reason"], doc_counts(doc["text"])


class BiasStage(JudgeStage):
    section_name = "bias"

    def __init__(self, settings: BiasSettings, label: str | None = "bias"):
        super().__init__(functools.partial(_make_bias_judge, settings), label)
        self._settings = settings

    def manifest_section(self, kept, rejected):
        """Representation of the kept corpus and the per-rule removal audit (see `quality.bias`)."""
        settings = self._settings
        kept_totals = (
            kept
            | "BiasManifest/KeptCounts" >> beam.Map(_kept_counts)
            | "BiasManifest/KeptSum" >> beam.CombineGlobally(SumCounts())
        )
        by_reason = (
            rejected
            | "BiasManifest/RejectedCounts" >> beam.Map(_reason_counts)
            | "BiasManifest/RejectedSum" >> beam.CombinePerKey(SumCounts())
            | "BiasManifest/ByReason" >> beam.combiners.ToDict()
        )
        return kept_totals | "BiasManifest/Section" >> beam.Map(
            lambda totals, reasons: bias_section(totals, reasons, settings), reasons=beam.pvalue.AsSingleton(by_reason)
        )
