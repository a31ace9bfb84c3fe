"""The curate command end to end on a real Beam DirectRunner."""

import gzip
import json

import duckdb
import pyarrow.dataset as ds
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.cli import main
from gristmill.config import ConfigError
from pipelines.config import load_config
from pipelines.manifest import ConservationError, STATS_DIR, write_manifest
from conftest import runner_args

FAST = runner_args("in_memory")
PROSE = (
    "The old mill stood by the river for three hundred years. Farmers brought their grain in carts, "
    "and the miller ground it into flour that fed the whole valley through the long winters. "
)


@pytest.fixture
def inputs(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    rows = [
        {"id": "a", "text": PROSE * 3, "url": "http://a"},
        {"id": "b", "text": (PROSE * 3).replace(" ", "  ")},  # exact duplicate of a after normalization
        {"id": "c", "text": "   "},  # empty after normalization
    ]
    lines = "\n".join(json.dumps(r) for r in rows) + "\n{not json\n"
    (src / "web.jsonl").write_text(lines)
    (src / "news.jsonl.gz").write_bytes(gzip.compress(json.dumps({"id": "n1", "text": "News. " + PROSE}).encode() + b"\n"))
    pq.write_table(pa.table({"id": ["w1", "w2"], "text": ["Wiki one. " + PROSE, "Wiki two. " + PROSE]}), src / "wiki.parquet")
    (src / "book.txt").write_text("A book. " + PROSE * 5)
    return src


# These tests are about reading, accounting and writing: the filters that judge
# prose (language, quality rules, near-dup) are off so short test texts pass through.
SPINE_CONFIG = """
language: {enabled: false}
quality:
  gopher_repetition: {enabled: false}
  gopher_quality: {enabled: false}
  fineweb: {enabled: false}
near_dup: {enabled: false}
"""


@pytest.fixture
def curate(tmp_path):
    """`gristmill curate ...`, with the spine config unless the test gives its own --config."""
    spine = tmp_path / "spine.yaml"
    spine.write_text(SPINE_CONFIG)

    def run(*args):
        if "--config" not in args:
            args = ("--config", str(spine), *args)
        return main(["curate", *args])

    return run


def manifest_of(out):
    return json.loads((out / "manifest.json").read_text())


@pytest.mark.parametrize("mode", ["multi_processing", "in_memory"])
def test_mixed_sources_every_record_accounted_for(curate, inputs, tmp_path, capsys, mode):
    out = tmp_path / "out"
    assert curate("--input", str(inputs), "--output", str(out), *runner_args(mode)) == 0
    m = manifest_of(out)
    c = m["counts"]
    assert c["input"] == 8 and c["errors"] == 1 and c["kept"] == 5 and c["rejected"] == 2
    assert c["rejected_by_reason"] == {"exact_dedup:duplicate": 1, "length:empty": 1}
    assert c["input"] == c["kept"] + c["rejected"] + c["errors"]
    assert [f["stage"] for f in c["funnel"]] == ["read", "length", "exact_dedup"]

    rejected = pq.read_table(out / "rejected").to_pylist()
    dup = next(r for r in rejected if r["reason"] == "exact_dedup:duplicate")
    assert dup["id"] == "in/web.jsonl/b" and dup["detail"] == "in/web.jsonl/a"  # a directory source
    error = json.loads((out / "errors" / "part-00000.jsonl").read_text())
    assert error["source_path"].endswith("web.jsonl") and error["offset"] == 4 and "malformed JSON" in error["message"]

    assert len(m["shards"]["data"]) == 1 and sum(s["rows"] for s in m["shards"]["data"]) == 5  # 256 MiB shards
    assert m["config_hash"] and m["gristmill_version"] and m["timings"]["pipeline_s"] > 0
    assert "kept 5" in capsys.readouterr().out


def test_same_input_gives_byte_identical_shards(curate, inputs, tmp_path):
    first, second = tmp_path / "o1", tmp_path / "o2"
    assert curate("--input", str(inputs), "--output", str(first), *FAST) == 0
    assert curate("--input", str(inputs), "--output", str(second), *runner_args("multi_processing")) == 0
    assert manifest_of(first)["shards"] == manifest_of(second)["shards"]


def test_output_opens_in_pyarrow_dataset_and_duckdb(curate, inputs, tmp_path):
    out = tmp_path / "out"
    assert curate("--input", str(inputs), "--output", str(out), *FAST) == 0
    table = ds.dataset(out / "data", format="parquet").to_table()
    assert table.num_rows == 5 and {"id", "text", "source", "url", "metadata", "n_chars"} <= set(table.column_names)
    ids = duckdb.sql(f"select id from read_parquet('{out}/data/*.parquet') order by id").fetchall()
    assert [i[0] for i in ids] == sorted(table.column("id").to_pylist())
    reasons = duckdb.sql(f"select reason, count(*) from read_parquet('{out}/rejected/*.parquet') group by 1").fetchall()
    assert dict(reasons) == {"exact_dedup:duplicate": 1, "length:empty": 1}


def test_fifty_megabyte_document_is_rejected_not_lost(curate, tmp_path):
    path = tmp_path / "huge.jsonl"
    path.write_text(json.dumps({"id": "big", "text": "x" * 50_000_000}) + "\n" + json.dumps({"id": "ok", "text": PROSE}) + "\n")
    out = tmp_path / "out"
    assert curate("--input", str(path), "--output", str(out), *FAST) == 0
    c = manifest_of(out)["counts"]
    assert c["kept"] == 1 and c["rejected_by_reason"] == {"length:too_long": 1}
    row = pq.read_table(out / "rejected", columns=["id", "detail"]).to_pylist()[0]
    assert row == {"id": "huge/big", "detail": "50000000"}


def test_missing_input_stops_before_work(curate, tmp_path, capsys):
    out = tmp_path / "out"
    assert curate("--input", str(tmp_path / "absent.jsonl"), "--output", str(out)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "input not found" in err and "absent.jsonl" in err
    assert not out.exists()


def test_unwritable_output_stops_before_work(curate, inputs, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert curate("--input", str(inputs), "--output", str(blocker / "out")) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not writable" in err and "a-file" in err


def test_bad_config_names_the_key_and_the_allowed_values(curate, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("inputs: [x.jsonl]\nnormalise: {ftfy: false}\n")
    assert curate("--config", str(config)) == 2
    err = capsys.readouterr().err
    assert "unknown key 'normalise'" in err and "normalize" in err and "exact_dedup" in err

    config.write_text("inputs: [{path: x.jsonl, format: csv}]\n")
    with pytest.raises(ConfigError, match="inputs.0.format.*'jsonl'"):
        load_config(config)


def test_set_and_the_path_flags_override_the_config(tmp_path):
    from gristmill.cli import build_parser
    from pipelines.cli import config_from_args

    config = tmp_path / "c.yaml"
    config.write_text("inputs: [x.jsonl]\noutput: {dir: result}\nnear_dup: {threshold: 0.9}\n")
    args = build_parser().parse_args(["curate", "--config", str(config), "--set", "near_dup.threshold=0.7",
                                      "--set", "output.shard_bytes=4096", "--input", "a.txt", "b.txt", "--format", "text"])
    loaded = config_from_args(args)
    assert loaded.near_dup.threshold == 0.7 and loaded.output.shard_bytes == 4096
    assert [(s.path, s.format) for s in loaded.inputs] == [("a.txt", "text"), ("b.txt", "text")]
    assert loaded.output.dir == str(tmp_path / "result")
    args = build_parser().parse_args(["curate", "--input", "a.txt", "--set", "near_dup.treshold=0.7"])
    with pytest.raises(ConfigError, match="defaults with --set: unknown key 'near_dup.treshold'.*threshold"):
        config_from_args(args)


def test_config_paths_are_relative_to_the_config_file(curate, inputs, tmp_path):
    config = tmp_path / "conf" / "c.yaml"
    config.parent.mkdir()
    config.write_text("inputs:\n  - path: ../in/web.jsonl\noutput: {dir: ../result, shard_bytes: 1}\n")
    loaded = load_config(config)
    assert loaded.inputs[0].path == str(inputs / "web.jsonl") and loaded.output.dir == str(tmp_path / "result")
    assert curate("--config", str(config), *FAST) == 0
    assert len(manifest_of(tmp_path / "result")["shards"]["data"]) == 1  # web.jsonl keeps one document


def test_conservation_failure_is_loud(curate, inputs, tmp_path):
    out = tmp_path / "out"
    assert curate("--input", str(inputs), "--output", str(out), *FAST) == 0
    (out / STATS_DIR).mkdir()
    (out / STATS_DIR / "input.json").write_text("9")  # one more record read than written
    config = load_config_for(inputs, out)
    with pytest.raises(ConservationError, match="read 9, but kept 5 \\+ rejected 2 \\+ errors 1 = 8"):
        write_manifest(str(out), config, [], [], {})


def load_config_for(inputs, out):
    from pipelines.config import CurateConfig

    return CurateConfig.parse({"inputs": [str(inputs)], "output": {"dir": str(out)}})


def test_error_excerpts_hold_no_pii(curate, tmp_path):
    path = tmp_path / "leaky.jsonl"
    path.write_text('{"text": "write to jane.doe@example.com about the mill" oops\n')
    out = tmp_path / "out"
    assert curate("--input", str(path), "--output", str(out), *FAST) == 0
    error = json.loads((out / "errors" / "part-00000.jsonl").read_text())
    assert "malformed JSON" in error["message"]
    assert "jane.doe@example.com" not in error["excerpt"] and "<EMAIL>" in error["excerpt"]


@pytest.mark.slow
def test_beam_start_up_notices_stay_off_the_terminal_unless_verbose(inputs, tmp_path):
    import subprocess
    import sys

    from conftest import REPO
    from pipelines.beam_logs import NOISE

    spine = tmp_path / "spine.yaml"
    spine.write_text(SPINE_CONFIG)

    def stderr_of(*flags):
        cmd = [sys.executable, "-m", "gristmill.cli", *flags, "curate", "--config", str(spine), "--input", str(inputs),
               "--output", str(tmp_path / f"out{len(flags)}"), *runner_args("multi_processing")]
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stderr

    quiet = stderr_of()
    assert not NOISE.search(quiet), quiet
    assert NOISE.search(stderr_of("-v"))  # the notices exist; the default level hides them
