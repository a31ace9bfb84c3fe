"""The `train:` configuration: model, data, optimizer, schedule, checkpoint and eval settings.

Like every gristmill section, unknown keys are errors that name the allowed keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from gristmill.config import Section, section_data, with_overrides


class ModelSection(Section):
    vocab_size: int | None = Field(
        default=None, ge=1, description="null: the tokens' vocab_size rounded up to a multiple of 64"
    )
    n_layer: int = Field(default=12, ge=1)
    n_head: int = Field(default=12, ge=1)
    n_embd: int = Field(default=768, ge=2)
    mlp: Literal["gelu", "swiglu"] = Field(default="swiglu", description="swiglu (Llama's MLP; exportable) or gelu")
    mlp_hidden: int = Field(default=0, ge=0, description="0: 4 * n_embd (gelu) or ~8/3 * n_embd (swiglu)")
    rope_theta: float = Field(default=10000.0, gt=0)


class DatasetRef(Section):
    path: str
    weight: float = Field(default=1.0, gt=0)


class DataSection(Section):
    train: list[DatasetRef] = Field(min_length=1, description="token directories mixed by weight")
    val: str | None = Field(default=None, description="token directory whose val split is evaluated; null: first train")
    seq_len: int = Field(default=1024, ge=1)
    batch_size: int = Field(default=8, ge=1, description="sequences per device per micro-step")
    grad_accum: int = Field(default=1, ge=1)
    num_workers: int = Field(default=1, ge=0)
    doc_mask: bool = False

    @field_validator("train", mode="before")
    @classmethod
    def _paths_as_refs(cls, value):
        if isinstance(value, (str, dict)):
            value = [value]
        return [{"path": v} if isinstance(v, str) else v for v in value or []]


class OptimizerSection(Section):
    lr: float = Field(default=6e-4, gt=0)
    weight_decay: float = Field(default=0.1, ge=0)
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.95, ge=0, lt=1)
    eps: float = Field(default=1e-8, gt=0)
    grad_clip: float = Field(default=1.0, ge=0, description="max global grad norm; 0 = no clipping")


class ScheduleSection(Section):
    max_steps: int = Field(default=1000, ge=1)
    warmup_steps: int = Field(default=100, ge=0)
    min_lr_ratio: float = Field(default=0.1, ge=0, le=1)


class CheckpointSection(Section):
    every: int = Field(default=500, ge=0, description="steps between checkpoints; 0 = only at the end")
    keep: int = Field(default=2, ge=1)


class EvalSection(Section):
    every: int = Field(default=250, ge=0, description="steps between evaluations; 0 = only at the end")
    max_batches: int | None = Field(
        default=50, ge=1,
        description="batches in all ranks together: a seeded sample of max_batches x batch_size windows spread over the split; null = every window",
    )
    batch_size: int | None = Field(default=None, ge=1, description="null: data.batch_size")
    seed: int = Field(default=0, description="seed of the val sample, apart from the run's seed so runs compare on the same windows")


class TrainConfig(Section):
    out_dir: str = "train-out"
    init_from: str | None = Field(
        default=None,
        description="checkpoint (file or run directory) whose weights start the run, with a fresh optimizer and "
        "schedule; --resume, once this run has a checkpoint, continues that instead",
    )
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "bf16", "fp32"] = Field(default="auto", description="auto: bf16 autocast on CUDA")
    compile: bool | Literal["auto"] = Field(default="auto", description="torch.compile the model; auto: on CUDA only")
    loss_chunk: int = Field(default=4096, ge=0, description="rows of the loss computed at a time (no full logits); 0 = all at once")
    log_every: int = Field(default=10, ge=1)
    model: ModelSection = Field(default_factory=ModelSection)
    data: DataSection
    optimizer: OptimizerSection = Field(default_factory=OptimizerSection)
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    checkpoint: CheckpointSection = Field(default_factory=CheckpointSection)
    eval: EvalSection = Field(default_factory=EvalSection)


def load_train_config(path: str | Path, overrides: list[str] = ()) -> TrainConfig:
    """Load the `train:` section (or the whole file); file paths are relative to the file, overrides to the cwd."""
    config = TrainConfig.parse(section_data(path, "train"), str(path))
    resolve_paths(config, Path(path).resolve().parent)
    return with_overrides(config, overrides, path)


def resolve_paths(config: TrainConfig, base: Path) -> None:
    """Relative paths in `config` made relative to `base`, the config file's folder."""
    resolve = lambda p: p if "://" in p or Path(p).is_absolute() else str(base / p)
    for ref in config.data.train:
        ref.path = resolve(ref.path)
    if config.data.val:
        config.data.val = resolve(config.data.val)
    config.out_dir = resolve(config.out_dir)
    if config.init_from:
        config.init_from = resolve(config.init_from)
