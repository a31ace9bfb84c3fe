"""CPU training throughput: the streaming loader alone, and the tiny model's training step.

    .venv/bin/python benchmarks/train_cpu.py [--tokens 100000000] [--seconds 10]

The loader reads a synthetic uint16 token directory (written to a temp dir, in the page cache) at
seq_len 1024, batch 16, in its global random order, in this process. Its peer is a plain sequential memmap copy of
the same bytes into an int64 array: the floor a loader cannot beat. The loader target is
>= 50M tokens/s per process, so it never limits training.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

# The repo root replaces this script's folder on the path: benchmarks/tokenizer.py would shadow the package.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from tokenizer.shards import ShardWriter, write_manifest  # noqa: E402
from train.data import PackedStream, StreamingLoader, TokenSplit  # noqa: E402
from train.model import GPT, GPTConfig  # noqa: E402

SEQ, BATCH, EOT = 1024, 16, 50256


def write_tokens(root: Path, n_tokens: int, shard_tokens: int) -> None:
    """Random docs of 50..5000 tokens (eot-terminated), written with the tokenizer's own shard writer."""
    rng = np.random.default_rng(0)
    writer = ShardWriter(root, "train", np.dtype("<u2"), shard_tokens)
    written = 0
    while written < n_tokens:
        lengths = rng.integers(50, 5000, 1000)
        tokens = rng.integers(0, EOT, int(lengths.sum()), dtype=np.uint16)
        tokens[np.cumsum(lengths) - 1] = EOT
        writer.write(tokens, lengths, lengths * 4)
        written += int(lengths.sum())
    val = ShardWriter(root, "val", np.dtype("<u2"), shard_tokens)
    val.write(tokens[:2048], np.array([2048]), np.array([8192]))
    write_manifest(root, {
        "format": "gristmill-tokens-v1", "dtype": "uint16", "vocab_size": EOT + 1, "eot_id": EOT, "pad_id": EOT,
        "tokenizer_sha256": "bench", "dataset_manifest_sha256": "bench", "val_fraction": 0.0,
        "splits": {"train": writer.summary(), "val": val.summary()},
    })


def timed(fn, seconds: float) -> tuple[float, float]:
    """Call fn (returning tokens made) for `seconds` of wall time; (tokens per wall second, per CPU second).

    On a shared machine the CPU-time rate is what this process would do with a core to itself.
    """
    tokens, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        tokens += fn()
    return tokens / (time.perf_counter() - start), tokens / (time.process_time() - cpu)


def bench_loader(root: Path, seconds: float) -> dict:
    split = TokenSplit(root, "train")
    stream = PackedStream([split], [1.0], SEQ, BATCH, seed=0)
    state = {"i": 0}

    def loader_batch():
        b = stream.batch(state["i"])
        state["i"] += 1
        return b["tokens"].numel() * SEQ // (SEQ + 1)

    loader_batch()  # warm the epoch order
    loader_rate, loader_cpu_rate = timed(loader_batch, seconds)

    it = iter(StreamingLoader(PackedStream([split], [1.0], SEQ, BATCH, seed=0), num_workers=0))
    dataloader_rate, _ = timed(lambda: next(it)["tokens"].numel() * SEQ // (SEQ + 1), seconds)

    maps = [split.tokens_of(i) for i in range(len(split.shard_tokens))]
    cursor = {"shard": 0, "pos": 0}
    n = BATCH * (SEQ + 1)

    def raw_copy():
        mm = maps[cursor["shard"]]
        if cursor["pos"] + n > len(mm):
            cursor["shard"], cursor["pos"] = (cursor["shard"] + 1) % len(maps), 0
            mm = maps[cursor["shard"]]
        out = np.asarray(mm[cursor["pos"] : cursor["pos"] + n], dtype=np.int64)
        cursor["pos"] += n
        return out.size * SEQ // (SEQ + 1)

    raw_rate, _ = timed(raw_copy, seconds)
    return {
        "loader_tokens_per_s": loader_rate,
        "loader_tokens_per_cpu_s": loader_cpu_rate,
        "through_dataloader_tokens_per_s": dataloader_rate,
        "raw_sequential_memmap_copy_tokens_per_s": raw_rate,
        "loader_vs_raw_copy": loader_rate / raw_rate,
        "train_tokens": split.tokens,
        "shards": len(split.shard_tokens),
    }


def bench_model(seconds: float, threads: int) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=50304, seq_len=256, n_layer=4, n_head=4, n_embd=128, mlp="swiglu")
    model = GPT(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, 50257, (8, cfg.seq_len))

    def step():
        loss = model(x, x)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return x.numel()

    step()
    rate, cpu_rate = timed(step, seconds)
    return {"model": {**cfg.to_dict(), "params": model.num_params()}, "batch": 8, "threads": threads,
            "train_tokens_per_s": rate, "train_tokens_per_cpu_s": cpu_rate,
            "achieved_gflops": model.flops_per_token(cfg.seq_len) * rate / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=100_000_000, help="synthetic train tokens to write")
    parser.add_argument("--seconds", type=float, default=10.0, help="time per measurement")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads for the model step")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        write_tokens(root, args.tokens, shard_tokens=10_000_000)
        print(f"wrote {args.tokens:,} tokens in {time.perf_counter() - start:.1f}s", file=sys.stderr)
        result = {"loader": bench_loader(root, args.seconds)}
    result["tiny_model"] = bench_model(args.seconds, args.threads)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
