"""The declared stage order: a new stage is one class plus one entry, and the funnel and manifest follow the order."""

import json

import pytest

from conftest import runner_args
from gristmill.cli import main
from pipelines import stages
from pipelines.manifest import funnel
from pipelines.stage import Stage


def test_funnel_lists_stages_in_declared_order_and_unknown_ones_after():
    by_reason = {"bias:flagged_words": 1, "near_dup:duplicate": 2, "c4:lorem_ipsum": 1, "length:empty": 1, "zz:x": 1}
    rows = funnel(10, 1, by_reason)
    assert [r["stage"] for r in rows] == ["read", "length", "c4", "near_dup", "bias", "zz"]
    assert [(r["in"], r["out"]) for r in rows] == [(10, 9), (9, 8), (8, 7), (7, 5), (5, 4), (4, 3)]
    declared = stages.reason_order()
    assert declared.index("exact_dedup") < declared.index("language") < declared.index("near_dup") < declared.index("pii")


def test_build_stages_groups_the_enabled_stages_by_segment_in_order():
    from pipelines.config import CurateConfig
    from pipelines.segments import Layout

    config = CurateConfig.model_validate({"language": {"enabled": False}, "bias": {"enabled": False}})
    built = stages.build_stages(config, Layout("/unused"))
    assert {segment: [s.name for s in group] for segment, group in built.items()} == {
        "s1": ["read", "normalize"],
        "s2": ["exact_dedup", "quality_rules"],
        "s3": ["near_dup", "pii"],
    }


def _reject_marked(doc):
    return (doc, ("toy:marked", "xyzzy")) if "xyzzy" in doc["text"] else (doc, None)


def _make_toy_judge():
    return _reject_marked


class ToyStage(Stage):
    """A stage written the way a new one is: rejects documents holding a marker word, counts the kept ones."""

    name = "toy"

    @classmethod
    def from_config(cls, config, layout):
        return cls(_make_toy_judge)

    def kept_counts(self, doc):
        return {"docs": 1, "chars": len(doc["text"])}

    def rejected_counts(self, row):
        return {"docs": 1}

    def section(self, kept, rejected_by_reason):
        return {"kept_docs": kept.get("docs", 0), "kept_chars": kept.get("chars", 0), "rejected": rejected_by_reason}


@pytest.mark.slow
def test_a_new_stage_is_one_class_and_one_entry(tmp_path, monkeypatch):
    order = list(stages.ORDER)
    order.insert(order.index((stages.LanguageStage, "s2")), (ToyStage, "s2"))
    monkeypatch.setattr(stages, "ORDER", tuple(order))

    src = tmp_path / "in.jsonl"
    texts = ["A plain note about the weather.", "This one says xyzzy and goes.", "   ", "Another plain note, longer."]
    src.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))
    config = tmp_path / "c.yaml"
    families = ("gopher_repetition", "gopher_quality", "c4", "fineweb")
    config.write_text(json.dumps({
        "language": {"enabled": False}, "near_dup": {"enabled": False}, "pii": {"enabled": False},
        "bias": {"enabled": False}, "quality": {family: {"enabled": False} for family in families},
    }))
    out = tmp_path / "out"
    # In memory: the patched order must be the one the workers read.
    assert main(["curate", "--config", str(config), "--input", str(src), "--output", str(out), *runner_args("in_memory")]) == 0

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["rejected_by_reason"] == {"length:empty": 1, "toy:marked": 1}
    assert [r["stage"] for r in manifest["counts"]["funnel"]] == ["read", "length", "toy"]
    kept_chars = len(texts[0]) + len(texts[3])
    # Rejected rows are counted whichever stage rejected them (as the bias audit needs).
    rejected = {"length:empty": {"docs": 1}, "toy:marked": {"docs": 1}}
    assert manifest["toy"] == {"kept_docs": 2, "kept_chars": kept_chars, "rejected": rejected}
