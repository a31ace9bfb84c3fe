"""Cross-document line dedup inside `gristmill curate`: removals, `line_dedup:empty`, the manifest, determinism, resume."""

from __future__ import annotations

import json
import random
import shutil

import pyarrow.parquet as pq
import pytest

from conftest import runner_args
from gristmill.cli import main
from quality.line_dedup import LineDedupSettings, dedup_reference

BANNER = "We use cookies to improve your experience. Accept all cookies"
NAV = "Home | News | Sport | Contact"
WORDS = "river mill grain flour valley winter farmer cart wheel stone water summer harvest village bread oven".split()


@pytest.fixture
def corpus(tmp_path):
    """4 JSONL files of 12 pages, each page: nav, a unique body, the cookie banner; plus an exact copy and a banner-only page."""
    rng = random.Random(3)
    src = tmp_path / "in"
    src.mkdir()
    docs = {}
    for f in range(4):
        rows = []
        for i in range(12):
            body = " ".join(rng.choice(WORDS) for _ in range(25)).capitalize() + "."
            footer = f"Page {i} of section {f}"  # unique to the page
            rows.append({"id": f"{i:02d}", "text": f"{NAV}\n{body}\n{footer}\n{BANNER}"})
        if f == 2:
            rows.append({"id": "copy", "text": rows[0]["text"] + "\nA line only this page and its copy hold."})
            rows.append({"id": "copy2", "text": rows[-1]["text"]})  # an exact copy: its lines count once
            rows.append({"id": "empty", "text": f"{NAV}\n{BANNER}"})  # nothing left after line dedup
        (src / f"part-{f}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        docs.update({f"in/part-{f}.jsonl/{r['id']}": r["text"] for r in rows})
    config = tmp_path / "c.yaml"
    config.write_text(
        f"inputs: [{src}]\noutput: {{dir: {tmp_path / 'out'}, shard_bytes: 3000}}\nlength: {{min_chars: 20}}\n"
        "language: {enabled: false}\nnear_dup: {enabled: false}\n"
        "quality: {gopher_repetition: {enabled: false}, gopher_quality: {enabled: false}, fineweb: {enabled: false}}\n"
        "line_dedup: {enabled: true, min_chars: 5, max_docs: 3, keep_first: 2}\n"
        "runner: {unit_bytes: 1}\n"  # one unit per file: the decisions and samples cross units
    )
    return config, docs


def run(config, out, mode):
    assert main(["curate", "--config", str(config), "--output", str(out), *runner_args(mode)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    shards = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("part-*"))}
    return manifest, shards


@pytest.mark.slow
def test_repeated_lines_go_from_all_but_the_first_documents_deterministically_and_resumably(corpus, tmp_path, monkeypatch):
    config, docs = corpus
    manifest, shards = run(config, tmp_path / "one", "in_memory")
    out = tmp_path / "one"
    kept = {r["id"]: r for r in pq.read_table(out / "data").to_pylist()}
    rejected = {r["id"]: r for r in pq.read_table(out / "rejected").to_pylist()}
    assert {i: r["reason"] for i, r in rejected.items()} == {
        "in/part-2.jsonl/copy2": "exact_dedup:duplicate", "in/part-2.jsonl/empty": "line_dedup:empty"}
    assert rejected["in/part-2.jsonl/empty"]["text"] == docs["in/part-2.jsonl/empty"]  # rejected as it came

    with_banner = sorted(i for i, r in kept.items() if BANNER in r["text"])
    assert with_banner == ["in/part-0.jsonl/00", "in/part-0.jsonl/01"]  # keep_first 2: the smallest ids
    assert sorted(i for i, r in kept.items() if NAV in r["text"]) == with_banner
    copy = kept["in/part-2.jsonl/copy"]["text"]
    assert copy.endswith("A line only this page and its copy hold.") and BANNER not in copy  # its copy did not make it repeated
    assert all(r["n_chars"] == len(r["text"]) for r in kept.values())

    settings = LineDedupSettings(min_chars=5, max_docs=3, keep_first=2)
    reference = dedup_reference([{"id": i, "text": t} for i, t in sorted(docs.items())], settings, min_doc_chars=20)
    expected = {d["id"]: d["text"] for d, rejection in reference.docs if rejection is None and d["id"] in kept}
    assert {i: r["text"] for i, r in kept.items()} == expected

    section = manifest["line_dedup"]
    changed = len(docs) - 1 - 2  # every distinct page but the two keepers (the exact copy is rejected before)
    assert section["docs"] == len(docs) - 1 and section["docs_changed"] == changed and section["docs_emptied"] == 1
    assert section["units_removed"] == 2 * changed
    emptied = len(docs["in/part-2.jsonl/empty"].encode())  # all of it goes
    assert section["bytes_removed"] == sum(len(docs[i].encode()) - len(r["text"].encode()) for i, r in kept.items()) + emptied
    assert section["repeated_units"] == 2 and section["max_docs"] == 3 and section["keep_first"] == 2
    distinct = len(docs) - 1  # the exact copy counts once
    assert sorted(section["top_units"], key=lambda u: u["text"]) == [{"text": NAV, "docs": distinct}, {"text": BANNER, "docs": distinct}]
    assert len(section["samples"]) == 3 and all(s["removed"] == [NAV, BANNER] for s in section["samples"])
    assert [row["stage"] for row in manifest["counts"]["funnel"]] == ["read", "exact_dedup", "line_dedup"]

    from quality.report.dataset import read_dataset
    from quality.report.page import line_dedup_section

    page = line_dedup_section(read_dataset(out), lambda text: text)
    first = section["samples"][0]["id"]
    assert f"<h3>{first}</h3>" in page and f"- {NAV}" in page and BANNER in page
    assert kept[first]["text"][:40] in page  # after: the stored text

    # Two workers in separate processes: the same shards and the same section. Keep the staging area for the rerun.
    from pipelines.curate import Staging

    def publish_and_keep_staging(self):
        shutil.rmtree(self.out_path, ignore_errors=True)
        shutil.copytree(f"{self.root}/dataset", self.out_path)

    monkeypatch.setattr(Staging, "publish", publish_and_keep_staging)
    two, two_shards = run(config, tmp_path / "two", "multi_processing")
    assert two_shards == shards and two["line_dedup"] == section
    assert two["counts"] == manifest["counts"]

    # The rerun reuses every unit; its global steps run again, now over many small hash ranges, to the same decisions.
    monkeypatch.setattr("pipelines.sidecars.RANGE_ENTRIES", 7)
    resumed, resumed_shards = run(config, tmp_path / "two", "in_memory")
    units = resumed["resume"]["units"]
    assert units == 4 and resumed["resume"]["reused_units"] == {"s1": units, "s2": units, "s3": units}
    assert resumed_shards == shards and resumed["line_dedup"] == section
