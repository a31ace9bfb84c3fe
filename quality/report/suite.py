"""The expectation suite, derived from the run's own config, manifest and columns, and its validation.

`plan_checks` is plain Python: it says what to expect of which table. `validate`
turns the plan into Great Expectations suites, runs them in a file context under
`DIR/report/gx` (GX is imported there, not at module import, and its analytics
are off), builds the Data Docs, and returns one `Outcome` per expectation.

Four tables are validated: `documents` (kept rows, all or a seeded sample),
`ids` (every kept id), `shards` (one row per shard file: rows and sha256 from the
manifest against the file on disk) and `counts` (the manifest's tallies against
the shards, and the conservation of records).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pandas as pd
from pydantic import BaseModel

from quality.bias import BiasSettings
from quality.classifier import ClassifierThresholds
from quality.langid import LanguageThresholds
from quality.report.dataset import DatasetView
from quality.report.decontamination_check import CONTAMINATED, contaminated_flags, decontamination_settings
from quality.report.pii_check import EMAIL_REGEX, LEFTOVER_PREFIX, leftover_counts, redacted_types
from quality.rule_chain import FAMILIES

INDEX_COLUMNS = {"documents": ["id"], "ids": ["id"], "shards": ["path"], "counts": ["check"]}


@dataclass
class Check:
    table: str  # documents, ids, shards or counts
    expectation: str  # a class name in great_expectations.expectations
    kwargs: dict
    summary: str  # what must hold, in words; failures are reported with it
    severity: str = "critical"


@dataclass
class Outcome:
    check: Check
    success: bool
    observed: str  # counts and a few offending rows, or what GX raised

    @property
    def message(self) -> str:
        return f"[{self.check.table}] {self.check.summary}: {self.observed}"


@dataclass
class Plan:
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was not checked, and why


def _section(config: dict, name: str) -> dict:
    value = config.get(name)
    return value if isinstance(value, dict) else {}


def _enabled(section: dict, model: type[BaseModel]) -> bool:
    """A section is on when present and its `enabled` (or, when the key is missing, the model's default) is true."""
    return bool(section) and section.get("enabled", model.model_fields["enabled"].default) is not False


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bound(column: str, side: str, value, source: str) -> Check:
    bound, sign = ("min_value", ">=") if side == "min" else ("max_value", "<=")
    return Check("documents", "ExpectColumnValuesToBeBetween", {"column": column, bound: value},
                 f"{column} {sign} {value} ({source})")


def _family_bounds(config: dict, columns: set[str]) -> list[Check]:
    """Each enabled rule family's declared bounds (`RuleFamily.bounds`), with the run's threshold values."""
    quality = _section(config, "quality")
    checks = []
    for family in FAMILIES:
        section = _section(quality, family.name)
        if not _enabled(section, family.thresholds):
            continue
        for threshold, column, side in family.bounds():
            value = section.get(threshold)
            if column in columns and _is_number(value):
                checks.append(_bound(column, side, value, f"quality.{family.name}.{threshold}"))
    return checks


def plan_checks(view: DatasetView) -> Plan:
    config, plan = view.config, Plan()
    # Signal bounds apply only to columns with values: the schema lists every stage's columns, and a
    # stage that did not run leaves its columns null.
    columns = {c for c in view.kept.columns if c in ("id", "text") or view.kept[c].notna().any()}
    add = plan.checks.append

    add(Check("ids", "ExpectColumnValuesToNotBeNull", {"column": "id"}, "every kept document has an id"))
    add(Check("ids", "ExpectColumnValuesToBeUnique", {"column": "id"}, "kept ids are unique (duplicated id)"))
    if "text" in columns:
        add(Check("documents", "ExpectColumnValuesToNotBeNull", {"column": "text"}, "text is not null"))
    else:
        plan.notes.append("no kept rows to check: row-level expectations skipped")

    length = _section(config, "length")
    bounds = {k: v for k, v in (("min_value", length.get("min_chars")), ("max_value", length.get("max_chars"))) if _is_number(v)}
    if bounds and "n_chars" in columns:
        add(Check("documents", "ExpectColumnValuesToBeBetween", {"column": "n_chars", **bounds},
                  f"n_chars within length bounds [{bounds.get('min_value', '-')}, {bounds.get('max_value', '-')}]"))
    elif bounds and "text" in columns:
        add(Check("documents", "ExpectColumnValueLengthsToBeBetween", {"column": "text", **bounds},
                  f"text length within length bounds [{bounds.get('min_value', '-')}, {bounds.get('max_value', '-')}]"))

    language = _section(config, "language")
    if _enabled(language, LanguageThresholds) and "lang" in columns:
        allowed = [str(a) for a in language.get("allowed") or []]
        if allowed:
            # Matches quality.langid.language_matches: the label itself or its part before "_" is listed.
            alternatives = "|".join(sorted({a.replace("\\", "\\\\").replace(".", "\\.") for a in allowed}))
            add(Check("documents", "ExpectColumnValuesToMatchRegex", {"column": "lang", "regex": f"^(?:{alternatives})(?:_.*)?$"},
                      f"lang in the allowed set {allowed} (wrong language)"))
        min_score = language.get("min_score")
        if _is_number(min_score) and "lang_score" in columns:
            add(_bound("lang_score", "min", min_score, "language.min_score"))

    classifier = _section(config, "classifier")
    if _enabled(classifier, ClassifierThresholds) and "quality_score" in columns:
        if classifier.get("top_percentile") is None and _is_number(classifier.get("threshold")):
            add(_bound("quality_score", "min", classifier["threshold"], "classifier.threshold"))
        else:
            plan.notes.append("classifier keeps a top percentile: no fixed quality_score bound to check")

    if "text" in columns:
        plan.checks.extend(_family_bounds(config, columns))
        bias = _section(config, "bias")
        max_flagged = bias.get("max_flagged_ratio")
        if _enabled(bias, BiasSettings) and _is_number(max_flagged) and "flagged_words_ratio" in columns:
            add(_bound("flagged_words_ratio", "max", max_flagged, "bias.max_flagged_ratio"))

    redacted = redacted_types(config)
    if not redacted:
        plan.notes.append("the run's config redacts no PII: leftover-PII expectations not derived")
    elif "text" in columns:
        if "email" in redacted:
            add(Check("documents", "ExpectColumnValuesToNotMatchRegex", {"column": "text", "regex": EMAIL_REGEX},
                      "no email address left in text (regex)"))
        for entity in redacted:
            add(Check("documents", "ExpectColumnValuesToBeInSet", {"column": f"{LEFTOVER_PREFIX}{entity}", "value_set": [0]},
                      f"no {entity} left in text after PII redaction (quality.pii detector)"))

    if decontamination_settings(config) and "text" in columns:
        add(Check("documents", "ExpectColumnValuesToBeInSet", {"column": CONTAMINATED, "value_set": [0]},
                  "no kept document matches an eval item (eval sets indexed again by the report)"))

    add(Check("shards", "ExpectColumnPairValuesToBeEqual", {"column_A": "manifest_rows", "column_B": "actual_rows"},
              "shard row count equals the manifest"))
    add(Check("shards", "ExpectColumnPairValuesToBeEqual", {"column_A": "manifest_sha256", "column_B": "actual_sha256"},
              "shard sha256 equals the manifest (shard edited or missing after the manifest was written)"))
    add(Check("counts", "ExpectColumnPairValuesToBeEqual", {"column_A": "expected", "column_B": "actual"},
              "manifest counts agree with the shards, and input == kept + rejected + errors (conservation)"))
    return plan


def documents_table(view: DatasetView) -> pd.DataFrame:
    """The kept rows, plus the leftover-PII counts when the run redacted PII and the contamination flag."""
    if "text" not in view.kept:
        return view.kept
    parts = [view.kept]
    if redacted_types(view.config):
        parts.append(leftover_counts(view.kept["text"], view.config))
    settings = decontamination_settings(view.config)
    if settings:
        parts.append(contaminated_flags(view.kept["text"], settings))
    return pd.concat(parts, axis=1) if len(parts) > 1 else view.kept


def shards_table(view: DatasetView) -> pd.DataFrame:
    return pd.DataFrame([vars(s) for s in view.shards],
                        columns=["kind", "path", "manifest_rows", "actual_rows", "manifest_sha256", "actual_sha256"])


def counts_table(view: DatasetView) -> pd.DataFrame:
    counts = view.manifest["counts"]
    actual = {kind: sum(max(s.actual_rows, 0) for s in view.shards if s.kind == kind) for kind in ("data", "rejected", "errors")}
    rows = [
        ("conservation: input == kept + rejected + errors (shard rows)", counts.get("input"), sum(actual.values())),
        ("counts.kept == rows in data shards", counts.get("kept"), actual["data"]),
        ("counts.rejected == rows in rejected shards", counts.get("rejected"), actual["rejected"]),
        ("counts.errors == lines in error shards", counts.get("errors"), actual["errors"]),
        ("sum of counts.rejected_by_reason == counts.rejected", sum((counts.get("rejected_by_reason") or {}).values()), counts.get("rejected")),
    ]
    return pd.DataFrame(rows, columns=["check", "expected", "actual"])


def _describe(result: dict, table: str) -> str:
    if not result:
        return "no result"
    if "unexpected_count" not in result:
        return f"observed {result.get('observed_value')!r}"
    n, total = result.get("unexpected_count", 0), result.get("element_count", 0)
    if not n:
        return f"0 of {total} rows fail"
    keys = INDEX_COLUMNS[table]
    examples = []
    for row in (result.get("partial_unexpected_index_list") or [])[:5]:
        where = ", ".join(f"{k}={row.get(k)!r}" for k in keys)
        values = {k: v.item() if hasattr(v, "item") else v for k, v in row.items() if k not in keys and k != "text"}
        examples.append(f"{where} {values}" if values else where)
    return f"{n} of {total} rows fail, e.g. " + "; ".join(examples)


def _exception(info) -> str | None:
    """GX's exception message for a result; `info` is one record or a dict of them keyed by metric."""
    if not isinstance(info, dict):
        return None
    records = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    messages = [str(r.get("exception_message")) for r in records if r.get("raised_exception")]
    return "; ".join(messages) or None


def validate(view: DatasetView, plan: Plan, report_dir) -> tuple[list[Outcome], list[dict], str]:
    """Run the plan with Great Expectations; (outcomes, validation results as JSON, Data Docs index path)."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=str(report_dir))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.enable_analytics(False)  # recorded in gx/great_expectations.yml too, for anyone reopening the context
    source = context.data_sources.add_or_update_pandas("gristmill")
    frames = {"documents": documents_table(view), "ids": view.kept_ids, "shards": shards_table(view), "counts": counts_table(view)}

    outcomes, results_json = [], []
    for table, frame in frames.items():
        checks = [c for c in plan.checks if c.table == table]
        if not checks:
            continue
        # Expectations go in with the suite: add_expectation on a stored suite writes the store each time.
        expectations = [getattr(gxe, c.expectation)(**c.kwargs, severity=c.severity, meta={"summary": c.summary}) for c in checks]
        suite = context.suites.add(gx.ExpectationSuite(name=f"gristmill_{table}", expectations=expectations))
        batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("whole")
        definition = context.validation_definitions.add_or_update(gx.ValidationDefinition(name=table, data=batch, suite=suite))
        run = definition.run(
            batch_parameters={"dataframe": frame},
            result_format={"result_format": "SUMMARY", "unexpected_index_column_names": INDEX_COLUMNS[table]},
        )
        results_json.append(run.to_json_dict())
        by_summary = {r.expectation_config.meta.get("summary"): r for r in run.results}
        for check in checks:
            result = by_summary.get(check.summary)
            if result is None:
                outcomes.append(Outcome(check, False, "GX returned no result for this expectation"))
            elif _exception(result.exception_info):
                outcomes.append(Outcome(check, False, f"GX raised: {_exception(result.exception_info)}"))
            else:
                outcomes.append(Outcome(check, bool(result.success), _describe(result.result, table)))
    sites = context.build_data_docs()
    return outcomes, results_json, sites.get("local_site", "")
