"""Instruction fine-tuning (`gristmill finetune`): a checkpoint's weights, chat-template data, loss on replies only.

Data: JSONL files, one conversation per line, either `{"messages": [{"role", "content"}, ...]}` with
roles system / user / assistant, or `{"prompt": ..., "response": ...}` (a user turn and the
assistant's reply; an optional "system"). Each is rendered by `train.chat.ChatTemplate`; the target
of every position that is not an assistant token is the ignore index (-100), so the loss is the mean
over assistant tokens (and their closing `<|end|>`) only. Every bad record (not JSON, a missing or
mistyped field, an unknown role, no assistant message, longer than seq_len + 1 tokens) is reported
with its file and line, and the run does not start.

The order of examples is a seeded permutation per epoch, so a resumed run needs only its step.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field, field_validator

from gristmill.config import Section, section_data, with_overrides
from gristmill.errors import GristmillError
from tokenizer.saved import load_tokenizer
from train import checkpoint
from train.chat import ROLES, ChatTemplate
from train.config import CheckpointSection, EvalSection, OptimizerSection, ScheduleSection
from train.model import GPT, GPTConfig

IGNORE_INDEX = -100


class FinetuneData(Section):
    train: list[str] = Field(min_length=1, description="instruction JSONL files")
    val: list[str] = Field(default_factory=list, description="held-out instruction JSONL files (response loss)")
    seq_len: int | None = Field(default=None, ge=2, description="null: the checkpoint's seq_len")
    batch_size: int = Field(default=8, ge=1)

    @field_validator("train", "val", mode="before")
    @classmethod
    def _as_list(cls, value):
        return [value] if isinstance(value, str) else value


class FinetuneOptimizer(OptimizerSection):
    lr: float = Field(default=1e-4, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)


class FinetuneSchedule(ScheduleSection):
    max_steps: int = Field(default=500, ge=1)
    warmup_steps: int = Field(default=20, ge=0)


class FinetuneEval(EvalSection):
    every: int = Field(default=100, ge=0, description="steps between evaluations; 0 = only at the end")
    max_batches: int | None = Field(default=None, ge=1, description="null = all held-out examples")


class FinetuneConfig(Section):
    init_from: str = Field(description="checkpoint file or train run directory whose weights start the run")
    tokenizer: str = Field(description="TOKDIR of the tokenizer the checkpoint was trained with")
    out_dir: str = "finetune-out"
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "bf16", "fp32"] = Field(default="auto", description="auto: bf16 autocast on CUDA")
    log_every: int = Field(default=10, ge=1)
    data: FinetuneData
    optimizer: FinetuneOptimizer = Field(default_factory=FinetuneOptimizer)
    schedule: FinetuneSchedule = Field(default_factory=FinetuneSchedule)
    checkpoint: CheckpointSection = Field(default_factory=CheckpointSection)
    eval: FinetuneEval = Field(default_factory=FinetuneEval)


def load_finetune_config(path: str | Path, overrides: list[str] = ()) -> FinetuneConfig:
    """The `finetune:` section (or the whole file); paths relative to the file, overrides' to the cwd."""
    config = FinetuneConfig.parse(section_data(path, "finetune"), str(path))
    base = Path(path).resolve().parent
    resolve = lambda p: p if "://" in p or Path(p).is_absolute() else str(base / p)
    config.init_from, config.tokenizer, config.out_dir = map(resolve, (config.init_from, config.tokenizer, config.out_dir))
    config.data.train = [resolve(p) for p in config.data.train]
    config.data.val = [resolve(p) for p in config.data.val]
    return with_overrides(config, overrides, path)


@dataclass
class Example:
    ids: list[int]
    trained: list[bool]
    where: str

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Input ids[:-1] and targets ids[1:], a target kept only where it is an assistant token."""
        target = [t if keep else IGNORE_INDEX for t, keep in zip(self.ids[1:], self.trained[1:])]
        return torch.tensor(self.ids[:-1]), torch.tensor(target)


def messages_of(record) -> list[dict]:
    """The conversation of one JSONL record; ValueError says what is wrong with it."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    if "messages" in record:
        if "prompt" in record or "response" in record:
            raise ValueError('has both "messages" and "prompt"/"response"')
        messages = record["messages"]
        if not isinstance(messages, list) or not messages:
            raise ValueError('"messages" must be a non-empty list')
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or "role" not in m or "content" not in m:
                raise ValueError(f'messages[{i}] needs "role" and "content"')
            if m["role"] not in ROLES:
                raise ValueError(f"messages[{i}]: unknown role {m['role']!r} (expected one of {', '.join(ROLES)})")
            if not isinstance(m["content"], str):
                raise ValueError(f"messages[{i}]: content must be a string")
        if not any(m["role"] == "assistant" for m in messages):
            raise ValueError("no assistant message to train on")
        return [{"role": m["role"], "content": m["content"]} for m in messages]
    missing = [k for k in ("prompt", "response") if k not in record]
    if missing:
        raise ValueError(f'missing {" and ".join(repr(k) for k in missing)} (or give "messages")')
    fields = {k: record[k] for k in ("system", "prompt", "response") if k in record}
    if not all(isinstance(v, str) for v in fields.values()):
        raise ValueError("system, prompt and response must be strings")
    system = [{"role": "system", "content": fields["system"]}] if "system" in fields else []
    return system + [{"role": "user", "content": fields["prompt"]}, {"role": "assistant", "content": fields["response"]}]


def read_examples(paths: list[str], template: ChatTemplate, seq_len: int) -> list[Example]:
    """Every record of the files, rendered; raises one error listing all bad records by file:line."""
    examples, errors = [], []
    for path in paths:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise GristmillError(f"{path}: cannot read instruction data: {err}") from None
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                messages = messages_of(json.loads(line))
            except (json.JSONDecodeError, ValueError) as err:
                errors.append(f"{where}: {err}")
                continue
            ids, trained = template.render(messages)
            if len(ids) > seq_len + 1:
                errors.append(f"{where}: {len(ids)} tokens, longer than seq_len + 1 = {seq_len + 1}")
                continue
            examples.append(Example(ids, trained, where))
    if errors:
        shown = "\n  ".join(errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise GristmillError(f"{len(errors)} bad instruction record(s), nothing trained:\n  {shown}{more}")
    if not examples:
        raise GristmillError(f"no instruction records in {', '.join(paths)}")
    return examples


def collate(examples: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded inputs (pad_id) and targets (ignored); causal attention keeps padding out of real positions."""
    pairs = [e.tensors() for e in examples]
    width = max(len(x) for x, _ in pairs)
    inputs = torch.full((len(pairs), width), pad_id, dtype=torch.long)
    targets = torch.full((len(pairs), width), IGNORE_INDEX, dtype=torch.long)
    for row, (x, y) in enumerate(pairs):
        inputs[row, : len(x)], targets[row, : len(y)] = x, y
    return {"input": inputs, "target": targets}


@lru_cache(maxsize=2)
def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def batch_at(examples: list[Example], step: int, batch_size: int, seed: int) -> list[Example]:
    """Batch `step` of the stream of per-epoch seeded permutations of the examples."""
    n = len(examples)
    picked = []
    for position in range(step * batch_size, (step + 1) * batch_size):
        epoch, offset = divmod(position, n)
        picked.append(examples[epoch_order(n, seed, epoch)[offset]])
    return picked


@torch.no_grad()
def response_loss(model: GPT, examples: list[Example], batch_size: int, pad_id: int, device, autocast,
                  max_batches: int | None = None) -> dict:
    """Mean loss (nats) over the assistant tokens of held-out examples."""
    was_training = model.training
    model.eval()
    nats, count = 0.0, 0
    for index, start in enumerate(range(0, len(examples), batch_size)):
        if max_batches is not None and index >= max_batches:
            break
        batch = {k: v.to(device) for k, v in collate(examples[start : start + batch_size], pad_id).items()}
        with autocast():
            nats += float(model(batch["input"], batch["target"], reduction="sum"))
        count += int((batch["target"] != IGNORE_INDEX).sum())
    model.train(was_training)
    return {"val_loss": nats / count, "val_tokens": count}


def finetune(cfg: FinetuneConfig, resume: bool = False) -> dict:
    """Run (or continue) fine-tuning; returns the last logged metrics, with the base model's val loss."""
    from train.loop import Dist, MetricsLog, autocast_for, lr_factor, make_optimizer, pick_device

    device = pick_device(cfg, Dist())
    autocast = autocast_for(cfg, device)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    tok, meta = load_tokenizer(cfg.tokenizer)
    template = ChatTemplate(tok)

    source = checkpoint.resolve(cfg.init_from)
    base_config = checkpoint.load(source).get("model_config")
    if base_config is None:
        raise GristmillError(f"init_from {source}: not a gristmill training checkpoint")
    model_cfg = GPTConfig(**{**base_config, "seq_len": cfg.data.seq_len or base_config["seq_len"]})
    if tok.get_vocab_size(with_added_tokens=True) > model_cfg.vocab_size:
        raise GristmillError(f"{cfg.tokenizer}: more tokens than the model's vocab_size {model_cfg.vocab_size}: not its tokenizer")
    model = GPT(model_cfg)
    checkpoint.init_weights(model, source)
    model.to(device)

    train_examples = read_examples(cfg.data.train, template, model_cfg.seq_len)
    val_examples = read_examples(cfg.data.val, template, model_cfg.seq_len) if cfg.data.val else []
    optimizer = make_optimizer(model, cfg, device)
    s = cfg.schedule
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda at: lr_factor(at, s.warmup_steps, s.max_steps, s.min_lr_ratio))
    out = Path(cfg.out_dir)
    ckpt_dir = out / "checkpoints"
    step = 0
    if resume:
        step = int(checkpoint.restore(ckpt_dir, model, optimizer, scheduler)["step"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg.model_dump(mode="json"), indent=2))
    log = MetricsLog(out / "metrics.jsonl")
    pad_id = meta["pad_id"]
    last: dict = {"params": model.num_params(), "step": step, "train_examples": len(train_examples),
                  "init_from": str(source)}

    def run_eval(at: int) -> dict:
        result = response_loss(model, val_examples, cfg.eval.batch_size or cfg.data.batch_size, pad_id, device,
                               autocast, cfg.eval.max_batches)
        log.write({"step": at, **result})
        return result

    if val_examples and step == 0:
        last["base_val_loss"] = run_eval(0)["val_loss"]
    model.train()
    loss_sum, window, window_start = 0.0, 0, time.perf_counter()
    try:
        while step < s.max_steps:
            batch = {k: v.to(device) for k, v in collate(batch_at(train_examples, step, cfg.data.batch_size, cfg.seed), pad_id).items()}
            with autocast():
                loss = model(batch["input"], batch["target"])
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optimizer.grad_clip or float("inf"))
            lr = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            loss_sum, window = loss_sum + loss.item(), window + 1
            if step % cfg.log_every == 0 or step == s.max_steps:
                elapsed = time.perf_counter() - window_start
                record = {"step": step, "loss": loss_sum / window, "lr": lr, "grad_norm": grad_norm.item(),
                          "steps_per_s": window / elapsed}
                last.update(record)
                log.write(record)
                loss_sum, window, window_start = 0.0, 0, time.perf_counter()
            if val_examples and ((cfg.eval.every and step % cfg.eval.every == 0) or step == s.max_steps):
                last.update(run_eval(step))
            if (cfg.checkpoint.every and step % cfg.checkpoint.every == 0) or step == s.max_steps:
                checkpoint.save(ckpt_dir, step, {
                    "step": step, "config": cfg.model_dump(mode="json"), "model_config": model.cfg.to_dict(),
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "rng": [checkpoint.rng_state()], "init_from": str(source),
                }, cfg.checkpoint.keep)
    finally:
        log.close()
    return last
