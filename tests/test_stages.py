"""The declared stage order: a new stage is one class plus one entry, and the funnel and manifest follow the order."""

import json

import apache_beam as beam
import fsspec
import pytest

from conftest import runner_args
from gristmill.cli import main
from pipelines import stages
from pipelines.manifest import funnel
from pipelines.sidecars import SidecarWriter
from pipelines.stage import Stage

FIRST_WORDS = "first_words.jsonl"


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


def _curate(tmp_path, texts: list[str]) -> dict:
    """Curate `texts` with only the stages that do not judge prose (and any added to the order); the manifest."""
    src = tmp_path / "in.jsonl"
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
    return json.loads((out / "manifest.json").read_text())


@pytest.mark.slow
def test_a_new_stage_is_one_class_and_one_entry(tmp_path, monkeypatch):
    order = list(stages.ORDER)
    order.insert(order.index((stages.LanguageStage, "s2")), (ToyStage, "s2"))
    monkeypatch.setattr(stages, "ORDER", tuple(order))

    texts = ["A plain note about the weather.", "This one says xyzzy and goes.", "   ", "Another plain note, longer."]
    manifest = _curate(tmp_path, texts)
    assert manifest["counts"]["rejected_by_reason"] == {"length:empty": 1, "toy:marked": 1}
    assert [r["stage"] for r in manifest["counts"]["funnel"]] == ["read", "length", "toy"]
    kept_chars = len(texts[0]) + len(texts[3])
    # Rejected rows are counted whichever stage rejected them (as the bias audit needs).
    rejected = {"length:empty": {"docs": 1}, "toy:marked": {"docs": 1}}
    assert manifest["toy"] == {"kept_docs": 2, "kept_chars": kept_chars, "rejected": rejected}


class _FirstWords:
    """The toy cross-document stage's sidecar: (row, id, first word) of each document s2 keeps."""

    def __init__(self, layout, unit):
        self._files, self._count = SidecarWriter(lambda name: layout.path("s2", unit, name)), 0

    def add(self, row, doc):
        self._files.write(FIRST_WORDS, (json.dumps([row, doc["id"], doc["text"].split()[0]]) + "\n").encode())
        self._count += 1

    def close(self):
        self._files.close()
        return {"first_words": self._count}


def _first_words(item, layout):
    unit, stats = item
    if not stats["first_words"]:
        return
    with fsspec.open(layout.path("s2", unit, FIRST_WORDS), "rt") as handle:
        for line in handle:
            row, doc_id, word = json.loads(line)
            yield word, (doc_id, unit, row)


def _repeats(group):
    """Every document but the smallest id of a first word's group, with that id as the survivor."""
    _, members = group
    survivor, *others = sorted(members)
    for _, unit, row in others:
        yield unit, (row, survivor[0])


class FirstWordStage(Stage):
    """Rejects a document whose first word another document with a smaller id starts with."""

    name = "first_word"
    cross_document = True

    @classmethod
    def from_config(cls, config, layout):
        return cls()

    def sidecar(self, layout, unit):
        return _FirstWords(layout, unit)

    def decide(self, stats, layout, cut):
        decisions = (
            stats
            | "FirstWords" >> beam.FlatMap(_first_words, layout)
            | "ByWord" >> beam.GroupByKey()
            | "Repeats" >> beam.FlatMap(_repeats)
        )
        words = stats | "Count" >> beam.Map(lambda item: item[1]["first_words"]) | "Sum" >> beam.CombineGlobally(sum)
        return decisions, words | "Section" >> beam.Map(lambda n: {"documents_seen": n})

    def apply(self, doc, survivor):
        return doc, (None if survivor is None else ("first_word:repeat", survivor))


@pytest.mark.slow
def test_a_new_cross_document_stage_is_one_class_and_one_entry(tmp_path, monkeypatch):
    order = list(stages.ORDER)
    order.insert(order.index((stages.PiiStage, "s3")), (FirstWordStage, "s3"))
    monkeypatch.setattr(stages, "ORDER", tuple(order))

    texts = ["Alpha one two.", "Beta three four.", "Alpha five six.", "", "Gamma seven.", "Beta eight.", "Alpha nine."]
    manifest = _curate(tmp_path, texts)
    assert manifest["counts"]["rejected_by_reason"] == {"first_word:repeat": 3, "length:empty": 1}
    assert [r["stage"] for r in manifest["counts"]["funnel"]] == ["read", "length", "first_word"]
    assert manifest["first_word"] == {"documents_seen": 6}
    rejected = {row["id"]: row["detail"] for row in _rows(tmp_path / "out" / "rejected") if row["reason"] == "first_word:repeat"}
    assert rejected == {"in/2": "in/0", "in/5": "in/1", "in/6": "in/0"}  # ids are source/record


def _rows(directory):
    import pyarrow.parquet as pq

    return [row for path in sorted(directory.glob("*.parquet")) for row in pq.read_table(path).to_pylist()]
