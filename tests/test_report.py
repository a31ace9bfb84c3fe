"""`gristmill report`: a good dataset passes the gate; datasets corrupted on purpose fail it, naming the problem."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dataset_fixtures import write_dataset
from report_support import ERRORS, SECTIONS, config, kept_rows, rejected_rows

from gristmill.cli import main
from pipelines.schema import data_schema
from pipelines.staging import write_parquet
from quality.report import build_report


@pytest.fixture
def good(tmp_path) -> Path:
    return write_dataset(tmp_path / "good", kept_rows(), rejected_rows(), ERRORS, config(), sections=SECTIONS)


def gate(root: Path, capsys, *extra: str) -> tuple[int, str]:
    code = main(["report", str(root), "--gate", *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_good_dataset_passes_and_writes_report(good, capsys):
    code, out = gate(good, capsys)
    assert code == 0, out
    report_dir = good / "report"
    page = (report_dir / "index.html").read_text()
    for heading in ("Funnel", "Rejections per stage:rule", "Distributions", "Language mix", "Near-duplicate clusters",
                    "Bias audit", "Sample rejected documents", "Parse errors", "Gate: <b>PASS</b>"):
        assert heading in page, heading
    assert "data:image/png;base64," in page
    # Self-contained: nothing is fetched.
    assert "http://" not in page.replace('href="', "") and "<script" not in page and "<link" not in page
    # Sample documents are shown with PII masked.
    assert "someone@example.org" not in page and "555-123-4567" not in page and "&lt;EMAIL&gt;" in page
    results = json.loads((report_dir / "validation_results.json").read_text())
    assert results["gate_passed"] is True and results["mode"] == "full"
    checked = {e["summary"].split(" (")[0] for e in results["expectations"]}
    assert {"kept ids are unique", "no email left in text after PII redaction", "lang in the allowed set ['en']"} <= checked
    assert any(e["kwargs"].get("column") == "lang_score" for e in results["expectations"])
    assert list((report_dir / "gx").rglob("data_docs/local_site/index.html"))


def corrupt(tmp_path, change) -> Path:
    kept, rejected, cfg = kept_rows(), rejected_rows(), config()
    change(kept, rejected, cfg)
    return write_dataset(tmp_path / "bad", kept, rejected, ERRORS, cfg, sections=SECTIONS)


def test_duplicated_id_fails_the_gate(tmp_path, capsys):
    def duplicate(kept, rejected, cfg):
        kept[-1]["id"] = kept[0]["id"]  # the two copies land in different shards

    code, out = gate(corrupt(tmp_path, duplicate), capsys)
    assert code == 1
    assert "kept ids are unique (duplicated id)" in out and "doc-000" in out


def test_email_left_in_fails_the_gate(tmp_path, capsys):
    def leak(kept, rejected, cfg):
        kept[2]["text"] += " Contact jane.doe@example.com for the ledger."

    code, out = gate(corrupt(tmp_path, leak), capsys)
    assert code == 1
    assert "no email left in text after PII redaction" in out and "doc-002" in out
    assert "jane.doe@example.com" not in out  # the failure names the document, not the address


def test_contaminated_document_fails_the_gate(tmp_path, capsys):
    item = "the committee agreed that the northern bridge would be rebuilt in stone before the spring floods"
    (tmp_path / "eval.jsonl").write_text(json.dumps({"q": item}) + "\n")

    def leak(kept, rejected, cfg):
        cfg["decontamination"] = {"sets": [{"name": "quiz", "path": str(tmp_path / "eval.jsonl"), "fields": ["q"]}]}
        kept[3]["text"] += " " + item.capitalize() + "."

    code, out = gate(corrupt(tmp_path, leak), capsys)
    assert code == 1
    assert "no kept document matches an eval item" in out and "doc-003" in out


def test_wrong_language_fails_the_gate(tmp_path, capsys):
    def french(kept, rejected, cfg):
        kept[1].update(text="Le moulin de la rivière moud le blé de toute la vallée depuis cent ans.", lang="fr")

    code, out = gate(corrupt(tmp_path, french), capsys)
    assert code == 1
    assert "wrong language" in out and "doc-001" in out and "'fr'" in out


def test_shard_edited_after_manifest_fails_the_gate(good, capsys):
    shard = good / "data/part-00001.parquet"
    table = pq.read_table(shard)
    rows = table.to_pylist()
    rows[0]["text"] = rows[0]["text"].replace("mill", "mall")
    write_parquet(str(shard), rows, data_schema())
    code, out = gate(good, capsys)
    assert code == 1
    assert "shard sha256 equals the manifest" in out and "data/part-00001.parquet" in out
    assert "shard row count" not in out  # same number of rows: only the checksum names the edit


def test_shard_that_is_not_parquet_fails_the_gate(good, capsys):
    (good / "data/part-00001.parquet").write_bytes(b"not parquet any more")
    code, out = gate(good, capsys)
    assert code == 1
    assert "shard sha256 equals the manifest" in out and "data/part-00001.parquet" in out


def test_broken_conservation_fails_the_gate(good, capsys):
    manifest = json.loads((good / "manifest.json").read_text())
    manifest["counts"]["input"] += 1
    (good / "manifest.json").write_text(json.dumps(manifest))
    code, out = gate(good, capsys)
    assert code == 1 and "conservation" in out


def test_adapts_to_absent_columns_and_sections(tmp_path, capsys):
    """An early-pipeline dataset (no language, PII or near-dup output) gets only the checks that apply."""
    kept = [{k: v for k, v in row.items() if k not in ("lang", "lang_score", "dup_cluster", "dup_cluster_size")} for row in kept_rows()]
    cfg = config()
    cfg["language"]["enabled"] = False
    cfg["pii"]["enabled"] = False
    root = write_dataset(tmp_path / "early", kept, rejected_rows()[:1], [], cfg)  # no near_dup or bias section
    code, out = gate(root, capsys)
    assert code == 0, out
    report = json.loads((root / "report/validation_results.json").read_text())
    columns = {e["kwargs"].get("column") for e in report["expectations"]}
    assert "lang" not in columns and "lang_score" not in columns
    assert any("redacts no PII" in note for note in report["notes"])
    page = (root / "report/index.html").read_text()
    assert "Bias audit" not in page and "Near-duplicate clusters" not in page


def test_sample_mode_still_checks_every_id(tmp_path):
    kept = kept_rows() * 1
    kept = copy.deepcopy(kept) + [dict(kept[0], id=f"extra-{i:03d}") for i in range(60)]
    kept.append(dict(kept[3]))  # a duplicate that a small sample would probably miss
    root = write_dataset(tmp_path / "big", kept, rejected_rows(), ERRORS, config(), sections=SECTIONS)
    report = build_report(root, sample=5)
    assert report.view.mode == "sample" and len(report.view.kept) < len(kept)
    assert len(report.view.kept_ids) == len(kept)
    failed = [o.check.summary for o in report.failed_critical]
    assert failed == ["kept ids are unique (duplicated id)"]
    assert "seeded sample" in report.index.read_text()


def test_quality_signal_over_its_threshold_fails_the_gate(tmp_path, capsys):
    def hashy(kept, rejected, cfg):
        for row in kept:
            row["gq_hash_ratio"] = 0.0
        kept[4]["gq_hash_ratio"] = 0.5  # over quality.gopher_quality.max_hash_ratio

    code, out = gate(corrupt(tmp_path, hashy), capsys)
    assert code == 1
    assert "gq_hash_ratio <= 0.1 (quality.gopher_quality.max_hash_ratio)" in out and "doc-004" in out


def test_great_expectations_is_imported_only_by_the_report_command():
    code = "import sys; import gristmill.cli as c; c.build_parser(); import quality.report; print('great_expectations' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "False", run.stderr[-2000:]
