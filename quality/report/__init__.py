"""The dataset quality report and gate: Great Expectations validation plus one self-contained HTML page.

`build_report(DIR)` reads the dataset through its manifest, derives the
expectation suite from the run's config, manifest and columns, validates with
Great Expectations, and writes `DIR/report/` (index.html, validation_results.json,
GX Data Docs under gx/). No Beam here.
"""

from quality.report.build import Report, build_report

__all__ = ["Report", "build_report"]
