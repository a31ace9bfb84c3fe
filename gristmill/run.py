"""`gristmill run`: curate -> report (gate) -> tokenizer train -> tokenize -> train, from one config.

Each stage's outputs live under `output_root`. A stage is skipped when its
outputs are complete for the same key: the hash of its own settings and of
the keys of the stages it reads from, so a changed curate config re-runs
everything after it. The report (the gate) re-checks the dataset on every run,
and training always resumes from its latest checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from gristmill.config import canonical_json
from gristmill.errors import GristmillError
from gristmill.files import atomic_write

if TYPE_CHECKING:
    from gristmill.run_config import RunConfig

log = logging.getLogger(__name__)

STAGES = ["curate", "report", "tokenizer", "tokenize", "train"]
# The gate re-checks the dataset on every run (files can change after a run);
# training resumes from its checkpoint and returns at once when it has finished.
ALWAYS_RUN = {"report", "train"}
STATE_FILE = "run-state.json"


class RunPaths:
    def __init__(self, root: Path):
        self.root = root
        self.dataset = root / "dataset"
        self.tokenizer = root / "tokenizer"
        self.tokens = root / "tokens"
        self.train = root / "train"
        self.state = root / STATE_FILE


def _hash(*parts) -> str:
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()[:16]


# Train keys the run sets itself (gristmill.run_config.SET_BY_RUN): they follow from output_root, where the state lives.
TRAIN_PATHS = {"out_dir": True, "data": {"train": True, "val": True}}


def stage_keys(config: RunConfig) -> dict[str, str]:
    """Each stage's key: its settings chained with the keys of what it reads."""
    curate = _hash("curate", config.curate.model_dump(mode="json"))
    report = _hash("report", curate, config.report.model_dump(mode="json"))
    tokenizer = _hash("tokenizer", curate, config.tokenizer.model_dump(mode="json"))
    tokenize = _hash("tokenize", tokenizer, config.tokenize.model_dump(mode="json"))
    train = _hash("train", tokenize, config.train.model_dump(mode="json", exclude=TRAIN_PATHS))
    return {"curate": curate, "report": report, "tokenizer": tokenizer, "tokenize": tokenize, "train": train}


class RunState:
    """Which stages finished, and under which key; kept in <output_root>/run-state.json."""

    def __init__(self, path: Path):
        self.path = path
        self.done = json.loads(path.read_text()) if path.exists() else {}

    def is_done(self, stage: str, key: str) -> bool:
        return self.done.get(stage, {}).get("key") == key

    def mark(self, stage: str, key: str, seconds: float) -> None:
        self.done[stage] = {"key": key, "seconds": round(seconds, 1)}
        atomic_write(self.path, json.dumps(self.done, indent=2))

    def forget_after(self, stage: str) -> None:
        for later in STAGES[STAGES.index(stage):]:
            self.done.pop(later, None)


def _run_curate(config: RunConfig, paths: RunPaths, beam_args) -> None:
    from pipelines.curate import run_curate

    run_curate(config.curate, beam_args)


def _run_report(config: RunConfig, paths: RunPaths, beam_args) -> None:
    from quality.report import build_report

    report = build_report(str(paths.dataset), sample=config.report.sample)
    failed = report.failed_critical
    print(f"  report: {report.index}")
    if failed and config.report.gate:
        names = "; ".join(o.message for o in failed)
        raise GristmillError(f"quality gate failed, nothing downstream runs: {names} (see {report.index})")


def _run_tokenizer(config: RunConfig, paths: RunPaths, beam_args) -> None:
    from tokenizer.train import train_tokenizer

    train_tokenizer(paths.dataset, paths.tokenizer, config.tokenizer)


def _run_tokenize(config: RunConfig, paths: RunPaths, beam_args) -> None:
    from tokenizer.tokenize import tokenize_dataset

    tokenize_dataset(paths.tokenizer, paths.dataset, paths.tokens, **config.tokenize.model_dump())


def _run_train(config: RunConfig, paths: RunPaths, beam_args) -> None:
    from train.loop import train

    resume = (paths.train / "checkpoints").is_dir() and any((paths.train / "checkpoints").iterdir())
    if resume:
        print("  resuming training from its latest checkpoint")
    train(config.train, resume=resume)


RUNNERS = {
    "curate": _run_curate,
    "report": _run_report,
    "tokenizer": _run_tokenizer,
    "tokenize": _run_tokenize,
    "train": _run_train,
}


def run_chain(config: RunConfig, only: list[str] | None = None, beam_args: list[str] = ()) -> dict:
    """Run (or skip, when up to date) each stage in order; returns the run's summary."""
    paths = RunPaths(Path(config.output_root))
    paths.root.mkdir(parents=True, exist_ok=True)
    keys = stage_keys(config)
    state = RunState(paths.state)
    selected = only or STAGES
    for stage in STAGES:
        if stage not in selected:
            continue
        if state.is_done(stage, keys[stage]) and stage not in ALWAYS_RUN:
            print(f"{stage}: up to date for this config (key {keys[stage]}), skipped")
            continue
        print(f"{stage}: running")
        if stage not in ALWAYS_RUN:
            state.forget_after(stage)
        started = time.time()
        RUNNERS[stage](config, paths, list(beam_args))
        state.mark(stage, keys[stage], time.time() - started)
        print(f"{stage}: done in {time.time() - started:.1f}s")
    return summarize(paths)


def summarize(paths: RunPaths) -> dict:
    """What a person wants after a run: the funnel, the report, compression, and the final losses."""
    from gristmill.dataset import MANIFEST, load_manifest

    summary: dict = {"output_root": str(paths.root)}
    curated = (paths.dataset / MANIFEST).exists()
    if curated:
        counts = load_manifest(paths.dataset)[0]["counts"]
        summary["funnel"] = counts["funnel"]
        summary["counts"] = {k: counts[k] for k in ("input", "kept", "rejected", "errors")}
        summary["dataset"] = str(paths.dataset)
    index = paths.dataset / "report" / "index.html"
    if index.exists():
        summary["report"] = str(index)
    if (paths.tokenizer / "tokenizer.json").exists() and curated:
        from tokenizer.evaluate import evaluate

        table = evaluate([paths.tokenizer], paths.dataset)
        overall = next(g for g in table["groups"] if g["group"] == "overall")
        summary["tokenizer"] = str(paths.tokenizer)
        summary["bytes_per_token"] = overall["bytes_per_token"][0]
    metrics = paths.train / "metrics.jsonl"
    if metrics.exists():
        evals = [r for r in map(json.loads, metrics.read_text().splitlines()) if "val_loss" in r]
        if evals:
            summary["val_loss"] = evals[-1]["val_loss"]
            summary["val_bits_per_byte"] = evals[-1].get("val_bpb")
        summary["train"] = str(paths.train)
    return summary


def format_summary(summary: dict) -> str:
    lines = [f"outputs under {summary['output_root']}"]
    if "counts" in summary:
        c = summary["counts"]
        lines.append(f"  dataset   {summary['dataset']}: input {c['input']}, kept {c['kept']}, rejected {c['rejected']}, errors {c['errors']}")
        for row in summary["funnel"]:
            lines.append(f"    {row['stage']:<18} in {row['in']:>7}  out {row['out']:>7}  rejected {row['rejected']:>6}")
    if "report" in summary:
        lines.append(f"  report    {summary['report']}")
    if "bytes_per_token" in summary:
        lines.append(f"  tokenizer {summary['tokenizer']}: {summary['bytes_per_token']:.2f} bytes/token on held-out documents")
    if "val_loss" in summary:
        bpb = summary.get("val_bits_per_byte")
        lines.append(f"  model     {summary['train']}: val loss {summary['val_loss']:.3f}" + (f", {bpb:.3f} bits/byte" if bpb else ""))
    return "\n".join(lines)
