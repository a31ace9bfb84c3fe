"""Read units: small files read together up to `runner.unit_bytes`, large files and Parquet row groups alone,
and a changed file making its own unit (and no other) be read again on resume."""

from __future__ import annotations

import json
import os
import random

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.config import CurateConfig
from pipelines.curate import run_curate
from pipelines.segments import Layout, ReadSegment
from pipelines.sources import expand_inputs, plan_units, read_unit

SPINE = {"language": {"enabled": False}, "near_dup": {"enabled": False},
         "quality": {"gopher_repetition": {"enabled": False}, "gopher_quality": {"enabled": False}, "fineweb": {"enabled": False}}}


def jsonl(path, n: int, size: int = 100) -> None:
    """`n` records of about `size` bytes each; the last line of every file is broken (an error with its line)."""
    rows = [{"id": f"{path.stem}-{i}", "text": f"{path.stem} {i} " + "x" * (size - 40)} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{broken\n")


def files_of(src):
    files, _ = expand_inputs(CurateConfig(inputs=[str(src)]))
    return files


def records(units):
    """Every record the units yield, in order: ('doc', id) or ('error', file name, offset)."""
    out = []
    for unit in units:
        for item in read_unit(unit):
            if isinstance(item, beam.pvalue.TaggedOutput):
                out.append(("error", os.path.basename(item.value["source_path"]), item.value["offset"]))
            else:
                out.append(("doc", item["id"]))
    return out


def test_small_files_are_grouped_in_order_up_to_the_budget(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(7):
        jsonl(src / f"f{i}.jsonl", 10)
    files = files_of(src)
    size = os.path.getsize(files[0].url.removeprefix("file://"))
    units = plan_units(files, 3 * size)
    assert [[f.relpath for f in u.files] for u in units] == [
        ["f0.jsonl", "f1.jsonl", "f2.jsonl"], ["f3.jsonl", "f4.jsonl", "f5.jsonl"], ["f6.jsonl"]]
    assert [u.index for u in units] == [0, 1, 2]
    assert [u.input_bytes for u in units] == [3 * size, 3 * size, size]  # the progress bar's bytes, per unit
    assert all(len(u.fingerprints) == len(u.files) for u in units)
    # just under the budget for three: groups of two; a budget of one byte: one file per unit
    assert [len(u.files) for u in plan_units(files, 3 * size - 1)] == [2, 2, 2, 1]
    assert [len(u.files) for u in plan_units(files, 1)] == [1] * 7
    # the same records with the same ids and error offsets, in the same order, whatever the grouping
    alone = records(plan_units(files, 1))
    assert records(units) == alone
    assert ("error", "f3.jsonl", 11) in alone and len(alone) == 7 * 11


def test_a_large_file_is_a_unit_of_its_own(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name, n in (("a", 2), ("b", 2), ("big", 50), ("c", 2), ("d", 2)):
        jsonl(src / f"{name}.jsonl", n)
    budget = 1000  # about four small files, a fifth of the big one
    units = plan_units(files_of(src), budget)
    assert [[f.relpath for f in u.files] for u in units] == [["a.jsonl", "b.jsonl"], ["big.jsonl"], ["c.jsonl", "d.jsonl"]]
    assert units[1].input_bytes > budget and all(u.input_bytes <= budget for u in (units[0], units[2]))


def test_parquet_row_groups_stay_units_and_cut_the_groups(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    jsonl(src / "a.jsonl", 2)
    table = pa.table({"id": [f"r{i}" for i in range(10)], "text": [f"row {i}" for i in range(10)]})
    pq.write_table(table, src / "b.parquet", row_group_size=4)
    (src / "c.parquet").write_bytes(b"not parquet")
    jsonl(src / "d.jsonl", 2)
    jsonl(src / "e.jsonl", 2)
    units = plan_units(files_of(src), 1 << 20)
    assert [([f.relpath for f in u.files], u.group, u.first_row) for u in units] == [
        (["a.jsonl"], None, 0),
        (["b.parquet"], 0, 0), (["b.parquet"], 1, 4), (["b.parquet"], 2, 8),  # one unit per row group, as before
        (["c.parquet"], None, 0),  # unreadable: a unit holding its error
        (["d.jsonl", "e.jsonl"], None, 0),
    ]
    assert "not a readable Parquet file" in units[4].error["message"]
    assert [r for r in records(units[1:4])] == [("doc", f"in/b.parquet/r{i}") for i in range(10)]


def test_a_changed_file_makes_its_group_and_no_other_be_read_again(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        jsonl(src / f"f{i}.jsonl", 5)
    config = CurateConfig.parse({**SPINE, "inputs": [str(src)]})
    files = files_of(src)
    budget = 2 * os.path.getsize(src / "f0.jsonl")
    layout = Layout(str(tmp_path / "staging"))
    task = ReadSegment(config, layout)
    task.setup()

    def run() -> list[int]:
        """Read every unit (or reuse its marker); the `reused` flag of each."""
        units = plan_units(files, budget)
        assert [len(u.files) for u in units] == [2, 2, 2]
        return [stats["reused"] for unit in units for _, stats in task.process(unit)]

    assert run() == [0, 0, 0]
    assert run() == [1, 1, 1]
    changed = src / "f3.jsonl"  # the second file of the middle unit, rewritten at the same size
    before = changed.read_text()
    changed.write_text(before.replace("f3 0 ", "F3 0 "))
    stat = os.stat(changed)
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert run() == [1, 0, 1]
    texts = pq.read_table(layout.path("s1", 1, "alive.parquet")).column("text").to_pylist()
    assert any(t.startswith("F3 0 ") for t in texts) and len(texts) == 10


@pytest.mark.slow
def test_grouping_changes_no_decision_and_no_kept_byte(tmp_path):
    """The same input read one file per unit and in groups: the same counts and data shards byte for byte;
    the same rejected rows and errors (rejected rows are gathered unit by unit, so their order may differ)."""
    rng = random.Random(3)
    words = "mill river grain flour valley winter cart wheel stone water harvest bread oven market road".split()
    texts = [" ".join(rng.choice(words) for _ in range(4000)) for _ in range(52)]  # 1.2 MB: parquet pages of 1 MB
    src = tmp_path / "in"
    src.mkdir()
    for f in range(8):
        rows = [{"id": f"{f}-{i}", "text": texts[6 * f + i]} for i in range(10)]  # 4 exact duplicates of the file before
        rows.append({"id": f"{f}-near", "text": texts[f] + " tail"})  # a near-duplicate of an earlier document
        (src / f"p{f}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "{broken\n")
    (src / "z.txt").write_text(texts[0])

    def curate(unit_bytes: int, out):
        config = CurateConfig.parse({**SPINE, "near_dup": {"enabled": True}, "inputs": [str(src)],
                                     "output": {"dir": str(out)}, "runner": {"unit_bytes": unit_bytes}})
        return run_curate(config, ["--direct_running_mode=in_memory", "--direct_num_workers=1"])

    alone, grouped = curate(1, tmp_path / "alone"), curate(64 << 20, tmp_path / "grouped")
    assert (alone["resume"]["units"], grouped["resume"]["units"]) == (9, 1)
    assert grouped["counts"] == alone["counts"]
    assert alone["counts"]["rejected_by_reason"]["exact_dedup:duplicate"] > 0 and alone["counts"]["errors"] == 8
    assert alone["counts"]["rejected_by_reason"].get("near_dup:duplicate", 0) > 0
    for kind in ("data", "errors"):  # each shard's rows, bytes and sha256
        assert grouped["shards"][kind] == alone["shards"][kind]
    rows = [sorted(json.dumps(r, sort_keys=True) for r in pq.read_table(out / "rejected").to_pylist())
            for out in (tmp_path / "alone", tmp_path / "grouped")]
    assert rows[0] == rows[1]
