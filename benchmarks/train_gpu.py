"""GPU training throughput and MFU of the real loop: GPT-2 small (124M), seq 1024, bf16, compiled, SDPA.

    .venv/bin/python benchmarks/train_gpu.py                  # one GPU
    .venv/bin/python benchmarks/train_gpu.py --set data.batch_size=32

Writes a synthetic uint16 token directory (random tokens; the loader is measured on its own in
train_cpu.py), runs `train.loop.train` with the config below, and reports tokens/s and MFU from its
metrics.jsonl, leaving out the first log windows (torch.compile and CUDA warm-up). MFU is measured
against the device's dense bf16 peak (train.loop.BF16_PEAK_FLOPS); the issue's target is >= 45%.
`--set KEY=VALUE` overrides any config key, as in `gristmill train`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

# The repo root replaces this script's folder on the path: benchmarks/tokenizer.py would shadow the package.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from pipelines.config import parse_config  # noqa: E402
from train.config import TrainConfig, apply_override  # noqa: E402
from train.loop import train  # noqa: E402

_spec = importlib.util.spec_from_file_location("train_cpu", Path(__file__).with_name("train_cpu.py"))
_train_cpu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_train_cpu)
write_tokens = _train_cpu.write_tokens

GPT2_SMALL = {
    "device": "cuda",
    "precision": "bf16",
    "compile": True,
    "log_every": 10,
    "model": {"vocab_size": 50304, "n_layer": 12, "n_head": 12, "n_embd": 768, "mlp": "gelu"},
    "data": {"seq_len": 1024, "batch_size": 16, "grad_accum": 1, "num_workers": 2},
    "optimizer": {"lr": 6e-4},
    "schedule": {"max_steps": 100, "warmup_steps": 10},
    "checkpoint": {"every": 0, "keep": 1},
    "eval": {"every": 0, "max_batches": 1},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--skip-windows", type=int, default=2, help="log windows left out as warm-up")
    parser.add_argument("--tokens", type=int, default=60_000_000, help="synthetic train tokens to write")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tokens = Path(tmp) / "tokens"
        write_tokens(tokens, args.tokens, shard_tokens=20_000_000)
        raw = json.loads(json.dumps(GPT2_SMALL))
        raw["data"]["train"] = [str(tokens)]
        raw["out_dir"] = str(Path(tmp) / "run")
        for assignment in args.overrides:
            apply_override(raw, assignment)
        cfg = parse_config(raw, "benchmark", model=TrainConfig)
        start = time.perf_counter()
        summary = train(cfg)
        wall = time.perf_counter() - start
        rows = [json.loads(line) for line in (Path(cfg.out_dir) / "metrics.jsonl").read_text().splitlines()]
    windows = [r for r in rows if "tokens_per_s" in r][args.skip_windows :]
    if not windows:
        raise SystemExit("no log windows left after the warm-up; raise schedule.max_steps")
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    mfu = [r["mfu"] for r in windows if r["mfu"] is not None]
    print(json.dumps({
        "device": device,
        "torch": torch.__version__,
        "params": summary["params"],
        "config": {k: raw[k] for k in ("precision", "compile", "model", "data")},
        "steps_measured": len(windows) * cfg.log_every,
        "tokens_per_s_median": statistics.median(r["tokens_per_s"] for r in windows),
        "mfu_median": statistics.median(mfu) if mfu else None,
        "final_loss": summary.get("loss"),
        "max_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
        "wall_s_including_compile": wall,
    }, indent=2))


if __name__ == "__main__":
    main()
