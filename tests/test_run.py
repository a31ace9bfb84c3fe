"""`gristmill run`: the chain from one config, with skipping and resuming."""

import json
import shutil

import pyarrow.parquet as pq
import pytest
import yaml

from gristmill.cli import main
from gristmill.errors import GristmillError
from gristmill.run import load_run_config, stage_keys

TINY = {
    "output_root": "out",
    "curate": {
        "inputs": [{"path": "web.jsonl", "name": "web"}],
        "runner": {"direct_running_mode": "in_memory", "direct_num_workers": 1},
    },
    "tokenizer": {"vocab_size": 300, "val_fraction": 0.2},
    "train": {
        "device": "cpu",
        "model": {"n_layer": 1, "n_head": 2, "n_embd": 32},
        "data": {"seq_len": 32, "batch_size": 4, "num_workers": 0},
        "schedule": {"max_steps": 4, "warmup_steps": 1},
        "checkpoint": {"every": 2},
        "eval": {"every": 4, "max_batches": 2},
    },
}


def write_config(tmp_path, data):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_stage_keys_chain_downstream(tmp_path, repo):
    shutil.copy(repo / "sample" / "web.jsonl", tmp_path / "web.jsonl")
    base = stage_keys(load_run_config(write_config(tmp_path, TINY)))

    changed_train = json.loads(json.dumps(TINY))
    changed_train["train"]["schedule"]["max_steps"] = 8
    keys = stage_keys(load_run_config(write_config(tmp_path, changed_train)))
    assert [keys[s] == base[s] for s in ("curate", "report", "tokenizer", "tokenize", "train")] == [True] * 4 + [False]

    changed_curate = json.loads(json.dumps(TINY))
    changed_curate["curate"]["length"] = {"max_chars": 5000}
    keys = stage_keys(load_run_config(write_config(tmp_path, changed_curate)))
    assert all(keys[s] != base[s] for s in base)


def test_run_config_errors_name_the_problem(tmp_path):
    with pytest.raises(GristmillError, match="needs a `curate:` section"):
        load_run_config(write_config(tmp_path, {"train": {}}))
    bad = json.loads(json.dumps(TINY))
    bad["curate"]["output"] = {"dir": "elsewhere"}
    with pytest.raises(GristmillError, match="remove curate.output.dir"):
        load_run_config(write_config(tmp_path, bad))
    bad = json.loads(json.dumps(TINY))
    bad["tokeniser"] = {}
    with pytest.raises(GristmillError, match="unknown key 'tokeniser'.*tokenizer"):
        load_run_config(write_config(tmp_path, bad))


def test_chain_runs_then_skips_and_resumes(tmp_path, repo, capsys):
    shutil.copy(repo / "sample" / "web.jsonl", tmp_path / "web.jsonl")
    config = write_config(tmp_path, TINY)
    assert main(["run", "--config", str(config)]) == 0
    first = capsys.readouterr().out
    out = tmp_path / "out"
    for produced in ("dataset/manifest.json", "dataset/report/index.html", "tokenizer/tokenizer.json",
                     "tokens/manifest.json", "train/metrics.jsonl"):
        assert (out / produced).exists(), produced
    assert "bytes/token" in first and "bits/byte" in first and "kept" in first

    assert main(["run", "--config", str(config)]) == 0
    second = capsys.readouterr().out
    for stage in ("curate", "tokenizer", "tokenize"):
        assert f"{stage}: up to date" in second
    assert "report: running" in second and "resuming training" in second


def test_gate_failure_stops_the_chain(tmp_path, repo, capsys):
    shutil.copy(repo / "sample" / "web.jsonl", tmp_path / "web.jsonl")
    config = write_config(tmp_path, TINY)
    assert main(["run", "--config", str(config), "--only", "curate"]) == 0
    shard = max((tmp_path / "out" / "dataset" / "data").glob("*.parquet"), key=lambda p: p.stat().st_size)
    table = pq.read_table(shard)
    pq.write_table(table.slice(1), shard)  # a row deleted after the manifest was written
    assert main(["run", "--config", str(config)]) == 2
    captured = capsys.readouterr()
    assert "quality gate failed" in captured.err and "curate: up to date" in captured.out
    assert not (tmp_path / "out" / "tokenizer").exists()
