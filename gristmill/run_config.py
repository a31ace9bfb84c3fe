"""The run config of `gristmill run`: one typed section per stage, all validated when the file is loaded.

A typo anywhere (`train.modle`, `curate.near_dup.treshold`) fails before any
stage runs, naming the user's file, the key path and the keys allowed there.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from gristmill.config import ConfigError, Section, load_yaml, with_overrides
from pipelines import config as curate_config
from pipelines.config import CurateConfig
from tokenizer.config import TokenizeConfig, TokenizerTrainConfig
from train import config as train_config
from train.config import DataSection, DatasetRef, TrainConfig


class ReportSection(Section):
    gate: bool = Field(default=True, description="stop the run, naming the failed expectations, when a critical expectation fails")
    sample: int | None = Field(default=None, ge=1, description="validate rows on a seeded sample of N documents instead of all")


class RunTrainData(DataSection):
    train: list[DatasetRef] = Field(default_factory=list, description="set by the run: <output_root>/tokens")


class RunTrainSection(TrainConfig):
    """The train config; the run sets where its data and outputs are (`SET_BY_RUN`)."""

    data: RunTrainData = Field(default_factory=RunTrainData)


class RunConfig(Section):
    output_root: str = Field(default="runs/default", description="every stage writes below it")
    curate: CurateConfig
    report: ReportSection = Field(default_factory=ReportSection)
    tokenizer: TokenizerTrainConfig = Field(default_factory=TokenizerTrainConfig)
    tokenize: TokenizeConfig = Field(default_factory=TokenizeConfig)
    train: RunTrainSection = Field(default_factory=RunTrainSection)


# Keys a run sets itself, with where they point; a run config may not set them.
SET_BY_RUN = {
    "curate.output.dir": "<output_root>/dataset",
    "train.data.train": "<output_root>/tokens",
    "train.data.val": "<output_root>/tokens",
    "train.out_dir": "<output_root>/train",
}


def _reject_keys_set_by_run(raw: dict, overrides: list[str], path) -> None:
    for key, where in SET_BY_RUN.items():
        node = raw
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        given = [a for a in overrides if a.partition("=")[0] == key or a.startswith(key + ".")]
        if node is not None or given:
            raise ConfigError(f"{path}: in a run config {key} is {where}, set by the run; remove {key}")


def load_run_config(path: str | Path, output_root: str | None = None, overrides: list[str] = ()) -> RunConfig:
    """The run config, every section validated; `output_root` and `--set` paths are relative to the cwd, the file's to the file."""
    raw = load_yaml(path)
    if "curate" not in raw:
        raise ConfigError(f"{path}: a run config needs a `curate:` section (see README: gristmill run)")
    _reject_keys_set_by_run(raw, list(overrides), path)
    config = RunConfig.parse(raw, str(path))
    base = Path(path).resolve().parent
    curate_config.resolve_paths(config.curate, base)
    train_config.resolve_paths(config.train, base)
    config.output_root = str((base / config.output_root).resolve())
    config = with_overrides(config, list(overrides), path)
    if output_root:
        config.output_root = str(Path(output_root).resolve())
    root = Path(config.output_root)
    config.curate.output.dir = str(root / "dataset")
    config.train.data.train = [DatasetRef(path=str(root / "tokens"))]
    config.train.data.val = None
    config.train.out_dir = str(root / "train")
    return config
