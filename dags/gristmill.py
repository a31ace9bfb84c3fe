"""Airflow 3 DAG: curate -> report (quality gate) -> tokenizer -> tokenize -> train.

Each task runs one stage of `gristmill run --only STAGE` in the project's own
environment (a subprocess of the gristmill executable), so Airflow and gristmill
never share a Python environment. The executable is $GRISTMILL_BIN, by default
the .venv next to this file's folder (symlinks are followed). Every stage of a
run writes below <output_root>/<run_name>; a stage already complete for the same
config is skipped by gristmill itself, so re-running the DAG is cheap.

gristmill exits 2 on a problem that another try cannot fix (a bad config, a
missing input, a failed quality gate): the task then fails at once instead of
retrying. Any other failure (a killed worker, a crash) is retried.
"""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path

from airflow.sdk import Param, dag, task

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BIN = REPO / ".venv" / "bin" / "gristmill"
DETERMINISTIC_EXIT = 2  # gristmill.cli: a GristmillError or a usage error


def _absolute(path: str) -> Path:
    """Relative paths in params are taken from the repository root, not the worker's cwd."""
    return (REPO / Path(path).expanduser()).resolve()


def run_stage(stage: str, params: dict) -> None:
    """Run one gristmill stage, streaming its output to the task log."""
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    executable = Path(os.environ.get("GRISTMILL_BIN", DEFAULT_BIN))
    if not os.access(executable, os.X_OK):
        raise AirflowFailException(
            f"gristmill executable not found at {executable}: run `make install` in {REPO} "
            "or set GRISTMILL_BIN for the Airflow worker"
        )
    run_dir = _absolute(params["output_root"]) / params["run_name"]
    command = [
        str(executable), "run",
        "--config", str(_absolute(params["config"])),
        "--output-root", str(run_dir),
        "--only", stage,
    ]
    print("running:", " ".join(command), flush=True)
    # Same process group as the task, so Airflow's kill on timeout or "mark failed" reaches it.
    last = ""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            print(line, end="", flush=True)
            last = line.strip() or last
    if proc.returncode == DETERMINISTIC_EXIT:
        raise AirflowFailException(f"gristmill {stage} failed, not retried (exit 2): {last}")
    if proc.returncode != 0:
        raise AirflowException(f"gristmill {stage} exited with code {proc.returncode}: {last}")


@dag(
    dag_id="gristmill",
    description="raw text -> curated dataset -> quality gate -> tokenizer -> token shards -> model",
    schedule=None,
    catchup=False,
    max_active_runs=1,  # runs of the same run_name write to the same directory
    tags=["gristmill"],
    doc_md=__doc__,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    params={
        "config": Param(
            str(REPO / "configs" / "sample.yaml"), type="string", minLength=1,
            description="gristmill run config (YAML); relative paths are taken from the repository root",
        ),
        "output_root": Param(
            str(REPO / "runs"), type="string", minLength=1,
            description="every run writes below <output_root>/<run_name>",
        ),
        "run_name": Param(
            "sample", type="string", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
            description="the run's folder under output_root; reuse it to skip stages that are up to date",
        ),
    },
)
def gristmill():
    @task
    def curate(params=None) -> None:
        run_stage("curate", params)

    @task
    def report(params=None) -> None:
        run_stage("report", params)

    @task
    def tokenizer(params=None) -> None:
        run_stage("tokenizer", params)

    @task
    def tokenize(params=None) -> None:
        run_stage("tokenize", params)

    @task
    def train(params=None) -> None:
        run_stage("train", params)

    curate() >> report() >> tokenizer() >> tokenize() >> train()


gristmill()
