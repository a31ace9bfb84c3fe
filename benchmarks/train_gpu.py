"""GPU training throughput and MFU of the real loop: GPT-2 small (124M), seq 1024, bf16, compiled, SDPA flash.

    .venv/bin/python benchmarks/train_gpu.py                 # micro-batch 16, 32 and 64, a few minutes in all
    .venv/bin/python benchmarks/train_gpu.py --tiny          # the same script on CPU with a tiny model (the test)

One synthetic uint16 token directory is written (random tokens: the loader is measured on its
own in train_cpu.py); then for each micro-batch size a fresh process runs `train.loop.train` for `--steps` steps (DataLoader with 2 workers, pinned batches, fused
AdamW, grad clipping, the chunked loss, torch.compile, one evaluation batch and the checkpoint
at the end), and reports the median tokens/s and MFU of its log windows after the first
`--skip-windows` (torch.compile and CUDA warm-up). The loop's tokens/s leaves evaluation and
checkpoint time out. MFU is against the device's dense bf16 peak (train.loop.BF16_PEAK_FLOPS,
null for a device not in it); the target is >= 45% on one H100/H200. Before training it checks
that SDPA's flash kernel runs for the model's attention shape. `--set KEY=VALUE` overrides any
config key, as in `gristmill train`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

# The repo root replaces this script's folder on the path: benchmarks/tokenizer.py would shadow the package.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from gristmill.config import apply_override  # noqa: E402
from train.config import TrainConfig  # noqa: E402
from train.loop import train  # noqa: E402

_spec = importlib.util.spec_from_file_location("train_cpu", Path(__file__).with_name("train_cpu.py"))
_train_cpu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_train_cpu)
write_tokens = _train_cpu.write_tokens

MICRO_BATCHES = (16, 32, 64)
GPT2_SMALL = {
    "device": "cuda",
    "precision": "bf16",
    "compile": True,
    "log_every": 5,
    "model": {"vocab_size": 50304, "n_layer": 12, "n_head": 12, "n_embd": 768, "mlp": "gelu"},
    "data": {"seq_len": 1024, "grad_accum": 1, "num_workers": 2},
    "optimizer": {"lr": 6e-4},
    "schedule": {"warmup_steps": 5},
    "checkpoint": {"every": 0, "keep": 1},
    "eval": {"every": 0, "max_batches": 1},
}
TINY = {
    "device": "cpu", "precision": "fp32", "compile": False, "log_every": 2,
    "model": {"vocab_size": 50304, "n_layer": 1, "n_head": 2, "n_embd": 32, "mlp": "gelu"},
    "data": {"seq_len": 32, "grad_accum": 1, "num_workers": 1},
    "schedule": {"warmup_steps": 1},
    "checkpoint": {"every": 0, "keep": 1},
    "eval": {"every": 0, "max_batches": 1},
}


def flash_attention_runs(cfg: TrainConfig, batch: int) -> bool | None:
    """Whether SDPA's flash kernel accepts the model's causal attention in bf16 (None off CUDA)."""
    if not torch.cuda.is_available() or cfg.device == "cpu":
        return None
    from torch.nn.attention import SDPBackend, sdpa_kernel

    m = cfg.model
    q = torch.randn(batch, m.n_head, cfg.data.seq_len, m.n_embd // m.n_head, device="cuda", dtype=torch.bfloat16)
    try:
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True)
        return True
    except RuntimeError:
        return False


def run_one(raw: dict, tokens: Path, out: Path, skip: int) -> dict:
    raw = {**raw, "data": {**raw["data"], "train": [str(tokens)]}, "out_dir": str(out)}
    cfg = TrainConfig.parse(raw, "benchmark")
    flash = flash_attention_runs(cfg, cfg.data.batch_size)
    start = time.perf_counter()
    summary = train(cfg)
    wall = time.perf_counter() - start
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    windows = [r for r in rows if "tokens_per_s" in r][skip:]
    if not windows:
        raise SystemExit("no log windows left after the warm-up; raise --steps")
    mfu = [r["mfu"] for r in windows if r["mfu"] is not None]
    return {
        "micro_batch": cfg.data.batch_size,
        "tokens_per_s": statistics.median(r["tokens_per_s"] for r in windows),
        "mfu": statistics.median(mfu) if mfu else None,
        "steps_measured": len(windows) * cfg.log_every,
        "flash_attention": flash,
        "final_loss": summary.get("loss"),
        "val_loss": summary.get("val_loss"),
        "max_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() and cfg.device != "cpu" else None,
        "wall_s_including_compile": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny model on CPU: checks the script, measures nothing useful")
    parser.add_argument("--micro-batches", type=int, nargs="+", default=list(MICRO_BATCHES))
    parser.add_argument("--steps", type=int, help="steps per micro-batch size (default 30; 6 with --tiny)")
    parser.add_argument("--skip-windows", type=int, help="log windows left out as warm-up (default 2; 1 with --tiny)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child: one micro-batch size
    parser.add_argument("--tokens-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    steps = args.steps or (6 if args.tiny else 30)
    skip = args.skip_windows if args.skip_windows is not None else (1 if args.tiny else 2)
    raw = json.loads(json.dumps(TINY if args.tiny else GPT2_SMALL))
    raw["schedule"]["max_steps"] = steps
    for assignment in args.overrides:
        apply_override(raw, assignment)

    if args.one:
        raw["data"]["batch_size"] = args.one
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(run_one(raw, args.tokens_dir, Path(tmp) / "run", skip)))
        return

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tokens = Path(tmp) / "tokens"
        need = max(args.micro_batches) * raw["data"]["seq_len"] * steps
        write_tokens(tokens, max(need, 1_000_000), shard_tokens=max(need // 4, 100_000))
        for batch in args.micro_batches:
            # A fresh process per size: its own compile (no dynamic-shape recompiles) and memory peak.
            cmd = [sys.executable, __file__, "--one", str(batch), "--tokens-dir", str(tokens), "--steps", str(steps),
                   "--skip-windows", str(skip), *(["--tiny"] if args.tiny else [])]
            for assignment in args.overrides:
                cmd += ["--set", assignment]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                sys.stderr.write(done.stderr[-4000:])
                raise SystemExit(f"micro-batch {batch} failed ({done.returncode})")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(result)
            print(f"micro-batch {batch}: {result['tokens_per_s']:,.0f} tokens/s, MFU "
                  f"{'n/a' if result['mfu'] is None else format(result['mfu'], '.1%')}", file=sys.stderr, flush=True)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() and not args.tiny else "cpu"
    print(json.dumps({"device": device, "torch": torch.__version__, "steps": steps, "skip_windows": skip,
                      "config": {k: raw[k] for k in ("precision", "compile", "model", "data")}, "runs": results}, indent=2))


if __name__ == "__main__":
    main()
