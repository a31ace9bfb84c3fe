"""The pretraining loop: one CPU, one GPU, or many GPUs under torchrun (DDP).

Each optimizer step takes `grad_accum` micro-batches per rank; the loss, learning rate, tokens/s,
MFU and grad norm go to `OUT/metrics.jsonl` every `log_every` steps, evaluation results every
`eval.every` steps, and checkpoints to `OUT/checkpoints/` every `checkpoint.every` steps.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from gristmill.errors import GristmillError
from train import checkpoint
from train.config import TrainConfig
from train.data import PackedStream, StreamingLoader, TokenSplit, eval_batches, eval_sample, split_batch
from train.model import GPT, GPTConfig

# Dense (no sparsity) bf16 tensor-core peaks in FLOP/s from the vendors' datasheets, keyed by the
# exact name `torch.cuda.get_device_name` reports: a substring match would read "NVIDIA H200 NVL"
# (835 TFLOP/s) as an H200 (989).
BF16_PEAK_FLOPS = {
    "NVIDIA H100 80GB HBM3": 989e12,  # H100 SXM5
    "NVIDIA H100 PCIe": 756e12,
    "NVIDIA H100 NVL": 835e12,
    "NVIDIA H200": 989e12,  # H200 SXM
    "NVIDIA H200 NVL": 835e12,
    "NVIDIA H800": 989e12,  # H800 SXM5
    "NVIDIA H800 PCIe": 756e12,
    "NVIDIA GH200 480GB": 989e12,
    "NVIDIA A100-SXM4-80GB": 312e12,
    "NVIDIA A100-SXM4-40GB": 312e12,
    "NVIDIA A100 80GB PCIe": 312e12,
    "NVIDIA A100-PCIE-40GB": 312e12,
    "NVIDIA B200": 2250e12,
    "NVIDIA L40S": 362e12,
}


def peak_flops_for(name: str) -> float | None:
    """The dense bf16 peak of a device by its exact name; None for names not in the table."""
    return BF16_PEAK_FLOPS.get(name.strip())


def bf16_peak_flops(device: torch.device) -> float | None:
    """The device's dense bf16 peak, or None where unknown (CPU, unlisted GPUs): MFU is then null."""
    if device.type != "cuda":
        return None
    return peak_flops_for(torch.cuda.get_device_name(device))


@dataclass
class Dist:
    rank: int = 0
    local_rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_kind: str) -> Dist:
    """Join the torchrun process group when WORLD_SIZE > 1 (NCCL on CUDA, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    if device_kind == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))  # before NCCL starts
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return Dist(dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")), world)


def pick_device(cfg: TrainConfig, ddp: Dist) -> torch.device:
    kind = cfg.device
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise GristmillError("device: cuda was asked for, but torch sees no CUDA device")
        torch.cuda.set_device(ddp.local_rank)
        return torch.device("cuda", ddp.local_rank)
    return torch.device("cpu")


def compile_enabled(cfg: TrainConfig, device: torch.device) -> bool:
    """`compile: auto` compiles on CUDA, where it pays; on CPU the compile time outweighs short runs."""
    return device.type == "cuda" if cfg.compile == "auto" else bool(cfg.compile)


def autocast_for(cfg: TrainConfig, device: torch.device):
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
    if bf16:
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def lr_factor(step: int, warmup: int, max_steps: int, min_ratio: float) -> float:
    """Linear warmup to the peak over `warmup` steps, then cosine decay to `min_ratio` of it at `max_steps`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, max_steps - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not norms); the fused kernel on CUDA."""
    params = [p for p in model.parameters() if p.requires_grad]
    o = cfg.optimizer
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": o.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        groups, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps, fused=device.type == "cuda" or None
    )


def model_config(cfg: TrainConfig, split: TokenSplit) -> GPTConfig:
    vocab = cfg.model.vocab_size or 64 * math.ceil(split.vocab_size / 64)
    if vocab < split.vocab_size:
        raise GristmillError(f"model.vocab_size {vocab} is below the tokens' vocab_size {split.vocab_size} ({split.root})")
    m = cfg.model
    try:
        return GPTConfig(vocab, cfg.data.seq_len, m.n_layer, m.n_head, m.n_embd, m.mlp, m.mlp_hidden, m.rope_theta)
    except ValueError as err:
        raise GristmillError(f"model: {err}") from None


@torch.no_grad()
def evaluate(model: torch.nn.Module, split: TokenSplit, windows: np.ndarray, cfg: TrainConfig, device, autocast, ddp: Dist) -> dict:
    """Validation loss, perplexity and bits per byte over `windows` of the val split (`eval_sample`).

    val_loss is the mean nats over every scored target token. val_bpb is exact: the nats of the
    targets that stand for text over the UTF-8 bytes those tokens decode to (the token dir's
    token -> bytes table), both leaving out special tokens (end of text), as nanochat's
    evaluate_bpb does; null for a token dir without the table.
    """
    was_training = model.training
    model.eval()
    eot = split.eot_id if cfg.data.doc_mask else None
    batch_size = cfg.eval.batch_size or cfg.data.batch_size
    table = torch.from_numpy(split.token_bytes.astype(np.int64)).to(device) if split.token_bytes is not None else None
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # nats, targets, nats of text tokens, their bytes
    for tokens, rows in eval_batches(split, cfg.data.seq_len, batch_size, windows, ddp.rank, ddp.world):
        tokens = tokens.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else tokens
        inputs, targets, doc_ids = split_batch(tokens, eot)
        with autocast():
            losses = model(inputs, targets, doc_ids, reduction="none").view(targets.shape).double()
        losses, targets = losses[:rows], targets[:rows]
        sums[0] += losses.sum()
        sums[1] += targets.numel()
        if table is not None:
            nbytes = table[targets]
            sums[2] += losses[nbytes > 0].sum()
            sums[3] += nbytes.sum()
    if ddp.world > 1:
        dist.all_reduce(sums)
    model.train(was_training)
    nats, count, text_nats, text_bytes = sums.tolist()
    if count == 0:
        raise GristmillError(f"{split.root}: the val split holds no window of seq_len + 1 = {cfg.data.seq_len + 1} tokens")
    loss = nats / count
    return {"val_loss": loss, "val_ppl": math.exp(min(loss, 700.0)),
            "val_bpb": text_nats / (math.log(2) * text_bytes) if table is not None and text_bytes else None,
            "val_tokens": int(count), "val_bytes": int(text_bytes) if table is not None else None}


class MetricsLog:
    def __init__(self, path: Path | None):
        self.file = open(path, "a", encoding="utf-8") if path else None

    def write(self, record: dict) -> None:
        if self.file:
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file:
            self.file.close()


def train(cfg: TrainConfig, resume: bool = False, stop_at_step: int | None = None) -> dict:
    """Run (or continue) training; returns the last logged train and eval metrics."""
    ddp = init_distributed("cuda" if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()) else "cpu")
    try:
        return _train(cfg, ddp, resume, stop_at_step)
    finally:
        if ddp.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _train(cfg: TrainConfig, ddp: Dist, resume: bool, stop_at_step: int | None) -> dict:
    device = pick_device(cfg, ddp)
    autocast = autocast_for(cfg, device)
    out = Path(cfg.out_dir)
    ckpt_dir = out / "checkpoints"
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    splits = [TokenSplit(ref.path, "train") for ref in cfg.data.train]
    val_split = TokenSplit(cfg.data.val or cfg.data.train[0].path, "val")
    stream = PackedStream(
        splits, [ref.weight for ref in cfg.data.train], cfg.data.seq_len, cfg.data.batch_size, seed=cfg.seed,
        rank=ddp.rank, world=ddp.world,
    )
    loader = StreamingLoader(stream, num_workers=cfg.data.num_workers, pin_memory=device.type == "cuda")
    eot = splits[0].eot_id if cfg.data.doc_mask else None
    eval_batch = cfg.eval.batch_size or cfg.data.batch_size
    eval_windows = eval_sample(
        val_split, cfg.data.seq_len, cfg.eval.max_batches * eval_batch if cfg.eval.max_batches else None, cfg.eval.seed
    )

    model = GPT(model_config(cfg, splits[0])).to(device)
    model.loss_chunk = cfg.loss_chunk
    if cfg.init_from and not resume:
        checkpoint.init_weights(model, cfg.init_from)
    optimizer = make_optimizer(model, cfg, device)
    s = cfg.schedule
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, s.warmup_steps, s.max_steps, s.min_lr_ratio)
    )
    step = 0
    if resume:
        state = checkpoint.restore(ckpt_dir, model, optimizer, scheduler, ddp.rank)
        loader.load_state_dict(state["loader"])
        step = int(state["step"])

    compiled = torch.compile(model) if compile_enabled(cfg, device) else model
    runner = compiled
    if ddp.world > 1:
        runner = DistributedDataParallel(compiled, device_ids=[ddp.local_rank] if device.type == "cuda" else None)

    if ddp.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(cfg.model_dump(mode="json"), indent=2))
    log = MetricsLog(out / "metrics.jsonl" if ddp.main else None)
    peak = bf16_peak_flops(device)
    flops_per_token = model.flops_per_token(cfg.data.seq_len)
    tokens_per_step = cfg.data.batch_size * cfg.data.seq_len * cfg.data.grad_accum * ddp.world
    last = {"params": model.num_params(), "step": step}

    def save(at: int) -> None:
        rng = [checkpoint.rng_state()]
        if ddp.world > 1:
            rng = [None] * ddp.world
            dist.all_gather_object(rng, checkpoint.rng_state())
        if ddp.main:
            state = {
                "step": at, "config": cfg.model_dump(mode="json"), "model_config": model.cfg.to_dict(),
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "loader": loader.state_dict(), "rng": rng,
            }
            checkpoint.save(ckpt_dir, at, state, cfg.checkpoint.keep)

    def run_eval(at: int) -> None:
        result = evaluate(compiled, val_split, eval_windows, cfg, device, autocast, ddp)
        last.update(result)
        log.write({"step": at, **result})

    end = min(s.max_steps, stop_at_step) if stop_at_step is not None else s.max_steps
    batches = iter(loader)
    bar = tqdm(total=s.max_steps, initial=step, desc="train", unit="step", disable=not ddp.main, dynamic_ncols=True)
    loss_sum = torch.zeros((), device=device)
    window_start, window_steps, paused = time.perf_counter(), 0, 0.0

    def pause(work) -> None:
        """Run evaluation or checkpointing with its time (queued GPU work finished first) kept out of tokens/s."""
        nonlocal paused
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        work()
        paused += time.perf_counter() - started

    try:
        while step < end:
            for micro in range(cfg.data.grad_accum):
                # One pinned (B, T + 1) buffer, one asynchronous copy; input and target are views on the device.
                tokens = next(batches)["tokens"].to(device, non_blocking=True)
                inputs, targets, doc_ids = split_batch(tokens, eot)
                sync = micro == cfg.data.grad_accum - 1 or ddp.world == 1
                with (contextlib.nullcontext() if sync else runner.no_sync()), autocast():
                    loss = runner(inputs, targets, doc_ids)
                (loss / cfg.data.grad_accum).backward()
                loss_sum += loss.detach()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optimizer.grad_clip or math.inf)
            lr = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            window_steps += 1
            bar.update(1)

            if step % cfg.log_every == 0 or step == end:
                mean_loss = loss_sum / (window_steps * cfg.data.grad_accum)
                if ddp.world > 1:
                    dist.all_reduce(mean_loss)
                    mean_loss /= ddp.world
                mean_loss = mean_loss.item()
                elapsed = time.perf_counter() - window_start - paused
                tokens_per_s = tokens_per_step * window_steps / elapsed
                record = {
                    "step": step, "loss": mean_loss, "lr": lr, "tokens_per_s": tokens_per_s,
                    "mfu": flops_per_token * tokens_per_s / (peak * ddp.world) if peak else None,
                    "grad_norm": grad_norm.item(), "tokens": step * tokens_per_step,
                }
                last.update(record)
                log.write(record)
                bar.set_postfix(loss=f"{mean_loss:.4f}", tok_s=f"{tokens_per_s:,.0f}")
                loss_sum.zero_()
                window_start, window_steps, paused = time.perf_counter(), 0, 0.0
            if (cfg.eval.every and step % cfg.eval.every == 0) or step == s.max_steps:
                pause(lambda: run_eval(step))
            if (cfg.checkpoint.every and step % cfg.checkpoint.every == 0) or step == end:
                pause(lambda: save(step))
    finally:
        bar.close()
        log.close()
        del batches
    return last
