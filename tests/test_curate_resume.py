"""Staging, publishing and resume: a killed run leaves the previous dataset whole, and the rerun reuses its work."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from conftest import REPO, runner_args
from gristmill.cli import main

WORDS = (
    "river mill grain flour valley winter farmer cart wheel stone water summer harvest village bread oven "
    "market road bridge field barn orchard meadow hill forest path lantern evening morning season weather"
).split()
SPINE = "language: {enabled: false}\nquality: {gopher_repetition: {enabled: false}, gopher_quality: {enabled: false}, fineweb: {enabled: false}}\n"


def prose(rng: random.Random, sentences: int) -> str:
    return " ".join(" ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + "." for _ in range(sentences))


@pytest.fixture
def many_files(tmp_path):
    """40 JSONL files of 60 distinct documents (144 KB each), read two to a unit: 20 units, enough work to stop a run part-way."""
    rng = random.Random(1)
    src = tmp_path / "in"
    src.mkdir()
    for f in range(40):
        rows = [{"id": f"{f}-{i}", "text": prose(rng, 30)} for i in range(60)]
        (src / f"part-{f:02d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tmp_path / "c.yaml"
    config.write_text(SPINE + f"inputs: [{src}]\noutput: {{dir: {tmp_path / 'out'}, shard_bytes: 200000}}\nrunner: {{unit_bytes: 300000}}\n")
    return config


def shard_files(out) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("part-*"))}


@pytest.mark.slow
def test_killed_run_keeps_the_previous_dataset_and_the_rerun_resumes(many_files, tmp_path):
    out, staging = tmp_path / "out", tmp_path / "out.staging"
    assert main(["curate", "--config", str(many_files), *runner_args("multi_processing")]) == 0
    finished = json.loads((out / "manifest.json").read_text())
    before = shard_files(out)
    assert len(finished["shards"]["data"]) > 1 and not staging.exists()  # published, staging dropped
    assert finished["resume"] == {"units": 20, "reused_units": {"s1": 0, "s2": 0, "s3": 0}}

    cmd = [sys.executable, "-m", "gristmill.cli", "curate", "--config", str(many_files), *runner_args("multi_processing")]
    proc = subprocess.Popen(cmd, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(staging.glob("*/s1/*.done.json")):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(staging.glob("*/s1/*.done.json")))
    assert 1 <= done < 20, f"the run was not stopped part-way ({done} of 20 units read)"

    assert json.loads((out / "manifest.json").read_text()) == finished  # the previous dataset is untouched
    assert shard_files(out) == before
    assert pq.read_table(out / "data").num_rows == finished["counts"]["kept"]

    assert main(["curate", "--config", str(many_files), *runner_args("multi_processing")]) == 0
    resumed = json.loads((out / "manifest.json").read_text())
    assert resumed["resume"]["reused_units"]["s1"] >= done
    assert resumed["shards"] == finished["shards"] and shard_files(out) == before
    assert resumed["counts"] == finished["counts"]


@pytest.mark.slow
def test_fresh_ignores_staged_work(many_files, tmp_path):
    staging = tmp_path / "out.staging"
    key_dir = staging / "k"
    key_dir.mkdir(parents=True)  # staged work of another config: removed before the run
    assert main(["curate", "--config", str(many_files), "--fresh", *runner_args("in_memory")]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["resume"]["reused_units"] == {"s1": 0, "s2": 0, "s3": 0} and not staging.exists()


def test_output_with_foreign_files_is_refused_before_work(many_files, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["curate", "--config", str(many_files)]) == 2
    err = capsys.readouterr().err
    assert "notes.txt" in err and "refusing to replace" in err
    assert (out / "notes.txt").read_text() == "mine"


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_counts_finished_units_from_their_markers(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from pipelines.curate import Progress
    from pipelines.segments import Layout
    from gristmill.files import atomic_write

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    layout = Layout(str(tmp_path))
    progress = Progress(layout, [SimpleNamespace(input_bytes=100), SimpleNamespace(input_bytes=300)])
    atomic_write(layout.marker("s1", 0), json.dumps({"digest": "d", "stats": {"input": 7, "input_bytes": 100}}).encode())
    atomic_write(layout.marker("s3", 0), json.dumps({"digest": "d", "stats": {"alive": {"rows": 5}}}).encode())
    progress._update()
    assert progress._bar.total == 400 and progress._bar.n == 100
    assert progress._bar.postfix == "docs=7, kept=5"
    progress._bar.close()
    assert "docs=7, kept=5" in terminal.getvalue()
