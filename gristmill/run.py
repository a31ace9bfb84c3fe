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

from pydantic import Field

from gristmill.config import Section, canonical_json, load_yaml
from pipelines.config import CurateConfig
from gristmill.errors import GristmillError
from gristmill.files import atomic_write

log = logging.getLogger(__name__)

STAGES = ["curate", "report", "tokenizer", "tokenize", "train"]
# The gate re-checks the dataset on every run (files can change after a run);
# training resumes from its checkpoint and returns at once when it has finished.
ALWAYS_RUN = {"report", "train"}
STATE_FILE = "run-state.json"


class ReportSection(Section):
    gate: bool = Field(default=True, description="stop the run when a critical expectation fails")
    sample: int | None = Field(default=None, ge=1, description="validate rows on a seeded sample of N documents")


class TokenizeSection(Section):
    shard_tokens: int | None = Field(default=None, ge=1)
    batch_docs: int | None = Field(default=None, ge=1)
    workers: int = Field(default=1, ge=1)


class RunConfig(Section):
    output_root: str = Field(default="runs/default", description="every stage writes below it")
    curate: CurateConfig
    report: ReportSection = Field(default_factory=ReportSection)
    tokenizer: dict = Field(default_factory=dict, description="tokenizer training options (gristmill tokenizer train)")
    tokenize: TokenizeSection = Field(default_factory=TokenizeSection)
    train: dict = Field(default_factory=dict, description="the train config; its data paths and out_dir are set by the run")


class RunPaths:
    def __init__(self, root: Path):
        self.root = root
        self.dataset = root / "dataset"
        self.tokenizer = root / "tokenizer"
        self.tokens = root / "tokens"
        self.train = root / "train"
        self.train_config = root / "train-config.yaml"
        self.state = root / STATE_FILE


def load_run_config(path: str | Path, output_root: str | None = None) -> RunConfig:
    """The run config; `output_root` (relative to the cwd) overrides the file's (relative to the file)."""
    from pipelines.config import load_config

    raw = load_yaml(path)
    if "curate" not in raw:
        raise GristmillError(f"{path}: a run config needs a `curate:` section (see README: gristmill run)")
    curate_output = (raw.get("curate") or {}).get("output") or {}
    if "dir" in curate_output:
        raise GristmillError(f"{path}: in a run config the dataset goes to <output_root>/dataset; remove curate.output.dir")
    config = RunConfig.parse(raw, str(path))
    config.curate = load_config(path)  # resolves input paths relative to the config file
    if output_root:
        config.output_root = str(Path(output_root).resolve())
    else:
        config.output_root = str((Path(path).resolve().parent / config.output_root).resolve())
    config.curate.output.dir = str(Path(config.output_root) / "dataset")
    return config


def _hash(*parts) -> str:
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()[:16]


def stage_keys(config: RunConfig) -> dict[str, str]:
    """Each stage's key: its settings chained with the keys of what it reads."""
    curate = _hash("curate", config.curate.model_dump(mode="json"))
    report = _hash("report", curate, config.report.model_dump(mode="json"))
    tokenizer = _hash("tokenizer", curate, config.tokenizer)
    tokenize = _hash("tokenize", tokenizer, config.tokenize.model_dump(mode="json"))
    train = _hash("train", tokenize, config.train)
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
    from tokenizer.train import TokenizerTrainConfig, train_tokenizer

    options = TokenizerTrainConfig.parse(config.tokenizer, "tokenizer")
    train_tokenizer(paths.dataset, paths.tokenizer, options)


def _run_tokenize(config: RunConfig, paths: RunPaths, beam_args) -> None:
    from tokenizer.tokenize import tokenize_dataset

    options = {k: v for k, v in config.tokenize.model_dump().items() if v is not None}
    tokenize_dataset(paths.tokenizer, paths.dataset, paths.tokens, **options)


def _run_train(config: RunConfig, paths: RunPaths, beam_args) -> None:
    import yaml

    from train.config import load_train_config
    from train.loop import train

    section = json.loads(json.dumps(config.train))
    section.setdefault("data", {})["train"] = [str(paths.tokens)]
    section["data"].pop("val", None)
    section["out_dir"] = str(paths.train)
    paths.train_config.write_text(yaml.safe_dump({"train": section}, sort_keys=False))
    train_config = load_train_config(paths.train_config)
    resume = (paths.train / "checkpoints").is_dir() and any((paths.train / "checkpoints").iterdir())
    if resume:
        print("  resuming training from its latest checkpoint")
    train(train_config, resume=resume)


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
