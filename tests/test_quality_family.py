"""The rule-family protocol: the built-in families' declarations hold, and a toy family added in a
test (`toy_family.py` plus one `register` line) runs in the chain, gets its columns in the Arrow
schema and its bounds in the report's expectations, with nothing else edited."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
import toy_family
from dataset_fixtures import write_dataset
from report_support import ERRORS, config, kept_rows, rejected_rows

from pipelines.config import CurateConfig, QualityConfig
from pipelines.schema import data_schema, rejected_schema
from quality import rule_chain
from quality.gopher_quality import GopherQualityThresholds
from quality.report import build_report
from quality.report.dataset import read_dataset
from quality.report.suite import plan_checks
from quality.rule_chain import FAMILIES, apply_rules, register

PROSE = " ".join(
    f"The miller counted {n} sacks of wheat, and the farmers who brought them waited by the water for their flour."
    for n in range(6)
)


@pytest.fixture
def toy():
    """The toy family registered for one test; the registry is restored afterwards."""
    saved = list(FAMILIES)
    register(toy_family.FAMILY)
    yield toy_family.FAMILY
    FAMILIES[:] = saved


def test_builtin_declarations_are_consistent():
    assert [f.name for f in FAMILIES] == ["gopher_repetition", "gopher_quality", "c4", "fineweb"]
    assert list(QualityConfig.model_fields) == [f.name for f in FAMILIES] + ["unsegmented_languages"]
    defaults = CurateConfig().quality
    assert {f.name: getattr(defaults, f.name).enabled for f in FAMILIES} == {
        "gopher_repetition": True, "gopher_quality": True, "c4": False, "fineweb": True}
    for family in FAMILIES:
        t = family.thresholds()
        signals = family.signals(PROSE, None, "en", t)
        assert set(family.column_names) <= set(signals), family.name
        for threshold, column, side in family.bounds():
            assert threshold in family.thresholds.model_fields and column in family.column_names, (family.name, threshold)
            assert side == threshold[:3], (family.name, threshold)  # min_* bounds from below, max_* from above


def test_register_refuses_a_clashing_family():
    with pytest.raises(ValueError, match="clashes with 'gopher_quality'"):
        register(FAMILIES[1])


def test_toy_family_runs_in_the_chain_in_order(toy):
    assert [f.name for f in rule_chain.FAMILIES][-1] == "toy"
    enabled = {"gopher_quality": GopherQualityThresholds(), "toy": toy_family.ToyThresholds()}
    text, signals, rejection = apply_rules(PROSE, enabled, "en")
    assert rejection is None and signals["toy_shout_ratio"] < 0.1 and signals["toy_exclamations"] == 0
    assert list(signals)[-2:] == ["toy_shout_ratio", "toy_exclamations"]  # after Gopher's columns

    shouted = " ".join(w if w in ("the", "of", "and") else w.upper() for w in PROSE.split())  # Gopher's stop words stay
    _, signals, rejection = apply_rules(shouted, enabled, "en")
    assert rejection[0] == "toy:shout_ratio" and float(rejection[1]) > 0.8
    _, _, rejection = apply_rules(PROSE + " Flour! Bread! Cake! Pie!", enabled, "en")
    assert rejection == ("toy:exclamations", "4")

    # An earlier family's rejection wins, and the toy never runs: no toy columns.
    _, signals, rejection = apply_rules("TOO SHORT!", enabled, "en")
    assert rejection[0] == "gopher_quality:word_count" and "toy_shout_ratio" not in signals

    # The toy judges the text C4 kept: the shouting line C4 drops (no terminal mark) does not count.
    from quality.c4 import C4Thresholds

    shouting_heading = "WHEAT! FLOUR! BREAD! CAKE! PIE"
    enabled_c4 = {"c4": C4Thresholds(), "toy": toy_family.ToyThresholds()}
    assert apply_rules(shouting_heading + "\n" + PROSE, {"toy": toy_family.ToyThresholds()})[2] == ("toy:exclamations", "4")
    text, signals, rejection = apply_rules(shouting_heading + "\n" + PROSE, enabled_c4)
    assert rejection is None and signals["c4_lines_removed"] == 1 and signals["toy_exclamations"] == 0


def test_toy_columns_are_in_the_arrow_schema(toy):
    for schema in (data_schema(), rejected_schema()):
        assert schema.field("toy_shout_ratio").type == pa.float64()
        assert schema.field("toy_exclamations").type == pa.int64()
        names = schema.names
        assert names.index("fw_newline_word_ratio") < names.index("toy_shout_ratio") < names.index("quality_score")


def with_toy_section(root, section: dict):
    """The dataset with a `quality.toy` section in its manifest's config, as a run with the family in
    `FAMILIES` writes it (the curate config model is built from FAMILIES when `pipelines.config` is
    first imported, before the fixture registers the toy)."""
    path = root / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["config"]["quality"]["toy"] = section
    path.write_text(json.dumps(manifest))
    return root


def test_toy_bounds_become_report_expectations(toy, tmp_path):
    toy_section = toy_family.ToyThresholds(max_shout_ratio=0.4).model_dump(mode="json")
    kept = kept_rows()
    for row in kept:
        row.update(toy_shout_ratio=0.05, toy_exclamations=0)
    kept[2]["toy_shout_ratio"] = 0.9
    root = with_toy_section(write_dataset(tmp_path / "toy", kept, rejected_rows(), ERRORS, config()), toy_section)

    bounds = [c for c in plan_checks(read_dataset(root)).checks if c.kwargs.get("column", "").startswith("toy_")]
    assert [(c.kwargs, c.summary) for c in bounds] == [
        ({"column": "toy_shout_ratio", "max_value": 0.4}, "toy_shout_ratio <= 0.4 (quality.toy.max_shout_ratio)"),
        ({"column": "toy_exclamations", "max_value": 3}, "toy_exclamations <= 3 (quality.toy.max_exclamations)"),
    ]
    failed = build_report(root).failed_critical
    assert [o.check.summary for o in failed] == ["toy_shout_ratio <= 0.4 (quality.toy.max_shout_ratio)"]
    assert "doc-002" in failed[0].observed

    toy_section["enabled"] = False  # a disabled family's bounds are not expected
    root = with_toy_section(write_dataset(tmp_path / "toy-off", kept, rejected_rows(), ERRORS, config()), toy_section)
    assert not [c for c in plan_checks(read_dataset(root)).checks if c.kwargs.get("column", "").startswith("toy_")]
