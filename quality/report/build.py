"""Build `DIR/report/`: validate, then write the results JSON and the HTML page."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from quality.report import page
from quality.report.dataset import DatasetView, read_dataset
from quality.report.pii_check import mask
from quality.report.suite import Outcome, Plan, plan_checks, validate

REPORT_DIR = "report"


@dataclass
class Report:
    view: DatasetView
    plan: Plan
    outcomes: list[Outcome]
    directory: Path

    @property
    def failed_critical(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.check.severity == "critical"]

    @property
    def index(self) -> Path:
        return self.directory / "index.html"


def build_report(root: str | Path, sample: int | None = None, seed: int = 0) -> Report:
    """Validate the dataset in `root` and write `root/report/` afresh; `sample` documents (seeded) or all."""
    root = Path(root)
    view = read_dataset(root, sample=sample, seed=seed)
    directory = root / REPORT_DIR
    if directory.exists():
        shutil.rmtree(directory)  # a report describes one state of the dataset; old Data Docs would mislead
    directory.mkdir(parents=True)
    plan = plan_checks(view)
    outcomes, gx_results, docs_index = validate(view, plan, directory)
    report = Report(view, plan, outcomes, directory)
    summary = {
        "dataset": str(root),
        "mode": view.mode,
        "mode_note": view.mode_note,
        "gate_passed": not report.failed_critical,
        "expectations": [
            {"table": o.check.table, "expectation": o.check.expectation, "kwargs": o.check.kwargs, "summary": o.check.summary,
             "severity": o.check.severity, "success": o.success, "observed": o.observed}
            for o in outcomes
        ],
        "notes": plan.notes,
        "great_expectations": gx_results,
    }
    (directory / "validation_results.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    docs_link = os.path.relpath(docs_index.removeprefix("file://"), directory) if docs_index else ""
    report.index.write_text(page.render(view, plan, outcomes, docs_link, mask), encoding="utf-8")
    return report
