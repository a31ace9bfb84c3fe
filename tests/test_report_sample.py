"""End to end: `gristmill curate` on the embedded sample corpus, then `gristmill report --gate` on its output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gristmill.cli import main


@pytest.mark.slow
def test_report_gate_passes_on_curated_sample(repo, tmp_path, capsys):
    out = tmp_path / "dataset"
    curate = subprocess.run(
        [sys.executable, "-m", "gristmill.cli", "curate", "--config", str(repo / "configs/sample.yaml"), "--output", str(out)],
        capture_output=True, text=True, timeout=600, cwd=repo,
    )
    assert curate.returncode == 0, curate.stderr[-3000:]

    code = main(["report", str(out), "--gate"])
    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err

    results = json.loads((out / "report/validation_results.json").read_text())
    assert results["mode"] == "full" and results["gate_passed"]
    columns = {e["kwargs"].get("column") for e in results["expectations"]}
    # Derived from the sample config: allowed languages and their score, Gopher/FineWeb bounds, leftover PII per type.
    assert {"lang", "lang_score", "gq_word_count", "fw_line_punct_ratio", "leftover_email", "leftover_phone"} <= columns

    page = (out / "report/index.html").read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    for reason in manifest["counts"]["rejected_by_reason"]:
        assert f"<h3>{reason}</h3>" in page  # sample documents for every rejection reason
    planted = json.loads((repo / "sample/planted.json").read_text())["planted"]
    for item in planted:
        for secret in item.get("strings", []) if item["kind"] == "pii" else []:
            assert secret not in page, f"planted PII {secret!r} shown in the report"
