"""The Airflow DAG against a real Airflow 3 (.venv-airflow), with a throwaway AIRFLOW_HOME and SQLite DB.

Airflow runs in its own environment, so every check is a script run by
.venv-airflow/bin/python in a subprocess; the DAG's tasks run gristmill from .venv.
`make test` creates .venv-airflow (target `airflow`) before running the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_PY = REPO / ".venv-airflow" / "bin" / "python"
STAGES = ["curate", "report", "tokenizer", "tokenize", "train"]

if not AIRFLOW_PY.exists():
    pytest.skip(
        f"{AIRFLOW_PY} is missing: run `make airflow` (`make test` creates it, so CI never skips)",
        allow_module_level=True,
    )

# Loads the DAG file the way Airflow does; prints one RESULT line of JSON.
DAGBAG_SCRIPT = """
import copy, json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.exceptions import ParamValidationError

bag = DagBag(dag_folder=sys.argv[1])
dag = bag.get_dag("gristmill")
bad_names = []
for name in ["../elsewhere", "a b", "x;rm -rf /", "", "ok-name_1.v2"]:
    try:
        copy.deepcopy(dag.params)["run_name"] = name
    except ParamValidationError:
        bad_names.append(name)
project = {"pipelines", "quality", "tokenizer", "train", "torch", "apache_beam"}
print("RESULT " + json.dumps({
    "errors": {path: str(err) for path, err in bag.import_errors.items()},
    "dag_ids": sorted(bag.dag_ids),
    "order": [t.task_id for t in dag.topological_sort()],
    "downstream": {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks},
    "retries": {t.task_id: t.retries for t in dag.tasks},
    "params": dag.params.dump(),
    "max_active_runs": dag.max_active_runs,
    "rejected_run_names": bad_names,
    "heavy_modules": sorted(m for m in sys.modules if m.split(".")[0] in project),
}))
"""

# Runs the report stage's callable against each fake gristmill executable given (GRISTMILL_BIN).
EXIT_CODE_SCRIPT = """
import importlib.util, json, os, sys
from airflow.sdk.exceptions import AirflowException, AirflowFailException

spec = importlib.util.spec_from_file_location("gristmill_dag", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
params = {"config": "configs/sample.yaml", "output_root": "/tmp/nowhere", "run_name": "x"}
outcomes = {}
for executable in json.loads(sys.argv[2]):
    os.environ["GRISTMILL_BIN"] = executable
    try:
        module.run_stage("report", params)
        outcomes[executable] = ["ok", ""]
    except AirflowFailException as err:
        outcomes[executable] = ["fail-now", str(err)]
    except AirflowException as err:
        outcomes[executable] = ["retry", str(err)]
print("RESULT " + json.dumps(outcomes))
"""

# dag.test() of the whole DAG with the given run conf; prints the run's and each task's state.
DAG_TEST_SCRIPT = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session

dag = DagBag(dag_folder=sys.argv[1]).get_dag("gristmill")
run = dag.test(run_conf=json.loads(sys.argv[2]))
with create_session() as session:
    tis = session.query(TaskInstance).filter(TaskInstance.dag_id == "gristmill", TaskInstance.run_id == run.run_id)
    tasks = {ti.task_id: {"state": str(ti.state), "try_number": ti.try_number} for ti in tis}
print("RESULT " + json.dumps({"state": str(run.state), "tasks": tasks}))
"""


def airflow_python(env: dict, script: str, *args: str, timeout: int = 120) -> tuple[object, str]:
    """Run `script` with .venv-airflow's Python; returns its RESULT payload and its whole output."""
    proc = subprocess.run(
        [str(AIRFLOW_PY), "-c", script, *args], env=env, cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
    )
    results = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and results, f"airflow script failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}"
    return json.loads(results[-1][len("RESULT "):]), proc.stdout


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory) -> dict:
    """A throwaway AIRFLOW_HOME with a migrated SQLite metadata DB, reading DAGs from the repo's dags/."""
    home = tmp_path_factory.mktemp("airflow-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "GRISTMILL_BIN"}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    })
    proc = subprocess.run(
        [str(AIRFLOW_PY.parent / "airflow"), "db", "migrate"], env=env, cwd=home,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"airflow db migrate failed:\n{proc.stdout[-4000:]}"
    assert (home / "airflow.db").exists()
    return env


def tiny_run_config(path: Path, report: dict | None = None) -> Path:
    """configs/sample.yaml with absolute inputs, a small vocabulary and a 20-step toy model."""
    raw = yaml.safe_load((REPO / "configs" / "sample.yaml").read_text())
    for source in raw["curate"]["inputs"]:
        source["path"] = str((REPO / "configs" / source["path"]).resolve())
    raw.pop("output_root", None)
    raw["tokenizer"] = {"vocab_size": 300, "min_frequency": 2}
    raw["train"] = {
        "model": {"n_layer": 1, "n_head": 2, "n_embd": 32},
        "data": {"seq_len": 32, "batch_size": 4, "num_workers": 0},
        "schedule": {"max_steps": 20, "warmup_steps": 2},
        "checkpoint": {"every": 0},
        "eval": {"every": 0, "max_batches": 2},
    }
    if report:
        raw["report"] = report
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_dag(env: dict, config: Path, output_root: Path, run_name: str) -> tuple[dict, str]:
    conf = {"config": str(config), "output_root": str(output_root), "run_name": run_name}
    return airflow_python(env, DAG_TEST_SCRIPT, str(REPO / "dags"), json.dumps(conf), timeout=1200)


def test_dagbag_imports_the_dag_with_its_five_tasks_in_order(airflow_env):
    result, _ = airflow_python(airflow_env, DAGBAG_SCRIPT, str(REPO / "dags"))
    assert result["errors"] == {}
    assert result["dag_ids"] == ["gristmill"]
    assert result["order"] == STAGES
    assert result["downstream"] == {a: [b] for a, b in zip(STAGES, STAGES[1:])} | {"train": []}
    assert set(result["retries"].values()) == {2}
    assert set(result["params"]) == {"config", "output_root", "run_name"}
    assert result["max_active_runs"] == 1
    assert result["rejected_run_names"] == ["../elsewhere", "a b", "x;rm -rf /", ""]
    assert result["heavy_modules"] == [], "parsing the DAG must not import gristmill or its heavy dependencies"


def test_exit_2_fails_at_once_other_failures_are_retried(airflow_env, tmp_path):
    """gristmill exits 2 on what another try cannot fix (bad config, failed gate); anything else may be transient."""
    expected = {0: "ok", 2: "fail-now", 1: "retry", 137: "retry"}
    fakes = {}
    for code in expected:
        fake = tmp_path / f"gristmill-{code}"
        fake.write_text(f"#!/bin/sh\necho \"args: $*\"\necho \"error: stage said {code}\"\nexit {code}\n")
        fake.chmod(0o755)
        fakes[code] = str(fake)
    missing = str(tmp_path / "absent" / "gristmill")
    outcomes, output = airflow_python(
        airflow_env, EXIT_CODE_SCRIPT, str(REPO / "dags" / "gristmill.py"), json.dumps([*fakes.values(), missing])
    )
    for code, outcome in expected.items():
        got, message = outcomes[fakes[code]]
        assert got == outcome, (code, message)
        if code:
            assert f"error: stage said {code}" in message
    # the command each task runs; relative params are taken from the repository root
    assert f"args: run --config {REPO}/configs/sample.yaml --output-root /tmp/nowhere/x --only report" in output
    got, message = outcomes[missing]
    assert got == "fail-now" and "GRISTMILL_BIN" in message and missing in message


@pytest.fixture(scope="module")
def full_run(airflow_env, tmp_path_factory):
    """One dag.test() of the whole chain on the embedded sample, shared by the tests below."""
    work = tmp_path_factory.mktemp("dag-run")
    config = tiny_run_config(work / "run.yaml")
    result, output = run_dag(airflow_env, config, work / "runs", "sample")
    return {"result": result, "output": output, "config": config, "root": work / "runs", "run_dir": work / "runs" / "sample"}


def test_dag_test_runs_every_stage_and_writes_its_outputs(full_run):
    result, run_dir = full_run["result"], full_run["run_dir"]
    assert result["state"] == "success", full_run["output"][-6000:]
    assert {t: s["state"] for t, s in result["tasks"].items()} == {t: "success" for t in STAGES}
    assert all(s["try_number"] == 1 for s in result["tasks"].values())

    # curate: the dataset and its manifest, every listed shard present
    manifest = json.loads((run_dir / "dataset" / "manifest.json").read_text())
    assert manifest["format"] == "gristmill-dataset-v1"
    assert manifest["counts"]["kept"] > 50
    assert sum(s["rows"] for s in manifest["shards"]["data"]) == manifest["counts"]["kept"]
    assert all((run_dir / "dataset" / s["path"]).is_file() for s in manifest["shards"]["data"])
    # report: the HTML report next to the dataset
    assert "<html" in (run_dir / "dataset" / "report" / "index.html").read_text().lower()
    # tokenizer: a trained BPE of the configured size
    from tokenizers import Tokenizer

    assert Tokenizer.from_file(str(run_dir / "tokenizer" / "tokenizer.json")).get_vocab_size() == 300
    # tokenize: token shards of the kept documents
    tokens = json.loads((run_dir / "tokens" / "manifest.json").read_text())
    assert tokens["format"] == "gristmill-tokens-v1" and tokens["vocab_size"] == 300
    assert sum(split["docs"] for split in tokens["splits"].values()) == manifest["counts"]["kept"]
    assert all((run_dir / "tokens" / s["path"]).is_file() for split in tokens["splits"].values() for s in split["shards"])
    # train: 20 steps, an evaluation and a final checkpoint
    metrics = [json.loads(line) for line in (run_dir / "train" / "metrics.jsonl").read_text().splitlines()]
    assert max(m["step"] for m in metrics) == 20
    assert any("val_loss" in m for m in metrics)
    assert (run_dir / "train" / "checkpoints" / "step-00000020.pt").is_file()
    # each task ran exactly its own stage
    state = json.loads((run_dir / "run-state.json").read_text())
    assert list(state) == STAGES
    for stage in STAGES:
        assert f"--only {stage}" in full_run["output"]


def test_failed_gate_fails_report_and_nothing_downstream_runs(airflow_env, full_run, tmp_path):
    run_dir = full_run["run_dir"]
    assert full_run["result"]["state"] == "success", "needs the first run's outputs"
    # Edit a kept shard after the manifest was written: its checksum and row count no longer match.
    manifest = json.loads((run_dir / "dataset" / "manifest.json").read_text())
    shard = run_dir / "dataset" / manifest["shards"]["data"][0]["path"]
    table = pq.read_table(shard)
    pq.write_table(table.slice(1), shard)
    downstream = [run_dir / "tokenizer" / "tokenizer.json", run_dir / "tokens" / "manifest.json", run_dir / "train" / "metrics.jsonl"]
    before = {p: p.stat().st_mtime_ns for p in downstream}
    # Same curate settings (so curate is up to date and skipped), a changed report section so it re-validates.
    config = tiny_run_config(tmp_path / "run.yaml", report={"gate": True, "sample": 100000})

    result, output = run_dag(airflow_env, config, full_run["root"], "sample")

    assert result["state"] == "failed"
    states = {t: s["state"] for t, s in result["tasks"].items()}
    assert states == {
        "curate": "success",
        "report": "failed",
        "tokenizer": "upstream_failed",
        "tokenize": "upstream_failed",
        "train": "upstream_failed",
    }
    assert result["tasks"]["report"]["try_number"] == 1, "a failed gate must not be retried"
    assert "curate: up to date for this config" in output
    assert "quality gate failed" in output
    assert "--only tokenizer" not in output and "--only train" not in output
    assert {p: p.stat().st_mtime_ns for p in downstream} == before
