"""No document text crosses a shuffle: every GroupByKey of a full curate run is checked element by element."""

from __future__ import annotations

import json
import pickle
import random

import apache_beam as beam
import pytest
from apache_beam.pipeline import PTransformOverride

from conftest import runner_args
from gristmill.cli import main

MARKER = "Zyxwvutsrqmarker"  # in every document's text; a shuffled element holding it carries text
MAX_ELEMENT_BYTES = 4096  # ids, hashes, row numbers, one signature: well under this


def no_text(element):
    data = pickle.dumps(element)
    if MARKER.encode() in data or MARKER in repr(element):
        raise AssertionError(f"document text in a shuffle: {repr(element)[:200]}")
    if len(data) > MAX_ELEMENT_BYTES:
        raise AssertionError(f"a {len(data)}-byte element in a shuffle: {repr(element)[:200]}")
    return element


class _Checked(beam.PTransform):
    def expand(self, pcoll):
        return pcoll | "NoText" >> beam.Map(no_text) | "Shuffle" >> beam.GroupByKey()


class _CheckShuffles(PTransformOverride):
    def __init__(self):
        self.matched = []

    def matches(self, applied):
        checked = applied.parent is not None and isinstance(applied.parent.transform, _Checked)
        if isinstance(applied.transform, beam.GroupByKey) and not checked:
            if applied.full_label not in self.matched:
                self.matched.append(applied.full_label)
            return True
        return False

    def get_replacement_transform_for_applied_ptransform(self, applied):
        return _Checked()


def test_the_check_catches_text():
    with pytest.raises(AssertionError, match="document text"):
        no_text(("key", {"text": f"a document about {MARKER}"}))
    with pytest.raises(AssertionError, match="byte element"):
        no_text(("key", b"x" * 10_000))


@pytest.mark.slow
def test_no_shuffle_carries_document_text(tmp_path, monkeypatch):
    rng = random.Random(2)
    words = "the mill river grain flour valley winter cart wheel stone water harvest bread".split()
    base = [" ".join(rng.choice(words) for _ in range(120)) for _ in range(30)]
    banner = "\nAccept all cookies to keep reading"  # on every page, for line dedup
    rows = [{"id": f"d{i}", "text": f"{MARKER} {text} {i}{banner}"} for i, text in enumerate(base)]
    rows += [{"id": f"copy{i}", "text": f"{MARKER} {text} {i}{banner}"} for i, text in enumerate(base[:5])]  # exact duplicates
    rows += [{"id": f"near{i}", "text": f"{MARKER} {text} tail{banner}"} for i, text in enumerate(base[5:10])]  # near-dups
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{broken\n")
    (tmp_path / "page.txt").write_text(f"{MARKER} " + " ".join(base[10:12]))
    config = tmp_path / "c.yaml"
    config.write_text(
        f"inputs: [{src}, {tmp_path / 'page.txt'}]\noutput: {{dir: {tmp_path / 'out'}}}\n"
        "language: {enabled: false}\nline_dedup: {enabled: true}\nquality: {gopher_repetition: {enabled: false}, gopher_quality: {enabled: false}, fineweb: {enabled: false}}\n"
    )
    override = _CheckShuffles()
    run = beam.Pipeline.run

    def checked_run(self, *args, **kwargs):
        self.replace_all([override])
        return run(self, *args, **kwargs)

    monkeypatch.setattr(beam.Pipeline, "run", checked_run)
    assert main(["curate", "--config", str(config), *runner_args("in_memory")]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    by_reason = manifest["counts"]["rejected_by_reason"]
    assert by_reason.get("exact_dedup:duplicate") == 5 and by_reason.get("near_dup:duplicate") == 5
    assert manifest["line_dedup"]["units_removed"] == 30 + 5 - 1  # the banner, from every distinct page but one
    # every global step was checked: exact dedup, line dedup, near-dup's buckets and components, the shard plan, the stats list
    labels = " ".join(override.matched)
    for step in ("ExactDedup/GroupByUnit", "ExactDedup/GroupByText", "LineDedup/GroupByUnit", "LineDedup/Keepers", "JoinExact", "NearDup/DistinctCandidates", "NearDup/Components", "NearDup/GroupByCluster", "JoinNearDup", "Shards", "Curate/StatsList"):
        assert step in labels, step
    assert len(override.matched) >= 20
