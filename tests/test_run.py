"""`gristmill run`: the chain from one config, with skipping and resuming."""

import json
import shutil
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
import yaml

from gristmill.cli import main
from gristmill.errors import GristmillError
from gristmill.run import stage_keys
from gristmill.run_config import load_run_config

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


# A typo in every section, nested keys and list items included: (where it goes, the misspelt key).
TYPOS = [
    ("", "output_rot"),
    ("curate", "lenght"),
    ("curate.near_dup", "treshold"),
    ("curate.inputs.0", "nmae"),
    ("curate.pii.email", "actoin"),
    ("report", "gat"),
    ("tokenizer", "vocab_sise"),
    ("tokenize", "workrs"),
    ("train", "modle"),
    ("train.model", "n_layers"),
    ("train.data", "batch_sise"),
]


def with_typos(*typos) -> dict:
    data = json.loads(json.dumps(TINY))
    data["curate"]["pii"] = {"email": {"action": "redact"}}
    for where, key in typos:
        node = data
        for part in filter(None, where.split(".")):
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        node[key] = 1
    return data


@pytest.mark.parametrize("where,key", TYPOS)
def test_a_typo_anywhere_names_the_file_the_key_and_the_allowed_keys(tmp_path, where, key):
    path = write_config(tmp_path, with_typos((where, key)))
    with pytest.raises(GristmillError) as err:
        load_run_config(path)
    dotted = f"{where}.{key}" if where else key
    assert f"{path}: unknown key '{dotted}'; allowed keys here:" in str(err.value)
    assert "train-config.yaml" not in str(err.value)


def test_run_with_typos_fails_in_under_2s_before_any_stage(tmp_path, repo):
    """The whole command, as a user runs it: every typo reported at once, nothing written."""
    shutil.copy(repo / "sample" / "web.jsonl", tmp_path / "web.jsonl")
    path = write_config(tmp_path, with_typos(*TYPOS))
    seconds = []
    for _ in range(3):  # the best of three: the 2-core machine is shared, and the test is about our own time
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "gristmill.cli", "run", "--config", str(path)],
                              capture_output=True, text=True, cwd=repo, timeout=60)
        seconds.append(time.perf_counter() - started)
        assert proc.returncode == 2, proc.stderr
        for where, key in TYPOS:
            dotted = f"{where}.{key}" if where else key
            assert f"{path}: unknown key '{dotted}'" in proc.stderr
        assert "running" not in proc.stdout
        assert not (tmp_path / "out").exists()
    assert min(seconds) < 2.0, f"{min(seconds):.2f}s at best of {[round(s, 2) for s in seconds]}"


def test_run_sets_the_train_paths_and_resolves_the_users_relative_to_the_file(tmp_path, repo):
    data = json.loads(json.dumps(TINY))
    data["train"]["init_from"] = "base/run"
    config = load_run_config(write_config(tmp_path, data))
    assert config.train.init_from == str(tmp_path / "base/run")
    assert [r.path for r in config.train.data.train] == [str(tmp_path / "out" / "tokens")]
    assert config.train.out_dir == str(tmp_path / "out" / "train")
    data["train"]["out_dir"] = "mine"
    with pytest.raises(GristmillError, match="remove train.out_dir"):
        load_run_config(write_config(tmp_path, data))
    with pytest.raises(GristmillError, match="remove train.data.train"):
        load_run_config(write_config(tmp_path, TINY), overrides=["train.data.train=elsewhere"])


def test_set_overrides_any_section_and_changes_only_the_keys_downstream(tmp_path):
    path = write_config(tmp_path, TINY)
    base = stage_keys(load_run_config(path))
    config = load_run_config(path, overrides=["tokenize.workers=2", "train.model.n_layer=2"])
    assert config.tokenize.workers == 2 and config.train.model.n_layer == 2
    keys = stage_keys(config)
    assert [keys[s] == base[s] for s in ("curate", "report", "tokenizer", "tokenize", "train")] == [True] * 3 + [False] * 2
    with pytest.raises(GristmillError, match="unknown key 'tokenize.wrokers'"):
        load_run_config(path, overrides=["tokenize.wrokers=2"])
