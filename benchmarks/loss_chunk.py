"""Chunked vs full-logits linear + cross-entropy on CPU: time of forward + backward and peak memory.

    .venv/bin/python benchmarks/loss_chunk.py [--reps 3]

Each (rows, width, vocab, chunk) case runs in its own process so that its peak RSS is its own;
the cases of one shape run back to back, so their time ratio is what counts on a shared machine.
Chunk 0 is the unfused path (F.linear, then cross_entropy on the fp32 logits).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])

SHAPES = [
    (2048, 128, 2048, [0, 512]),  # the ablation's model: 16 x 128 tokens, vocab 2048
    (2048, 256, 50304, [0, 512, 1024]),  # a GPT-2 vocabulary, 2048 tokens
]


def one(rows: int, width: int, vocab: int, chunk: int, reps: int) -> dict:
    import torch

    from train.losses import linear_cross_entropy

    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(rows, width, requires_grad=True)
    w = (torch.randn(vocab, width) * 0.02).requires_grad_()
    y = torch.randint(0, vocab, (rows,))

    def step():
        linear_cross_entropy(x, w, y, "mean", chunk).backward()
        x.grad = w.grad = None

    step()
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(reps):
        step()
    return {"rows": rows, "width": width, "vocab": vocab, "chunk": chunk,
            "ms_wall": (time.perf_counter() - start) / reps * 1e3, "ms_cpu": (time.process_time() - cpu) / reps * 1e3,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--one", nargs=4, type=int, metavar=("ROWS", "WIDTH", "VOCAB", "CHUNK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one, args.reps)))
        return
    print(f"load average {os.getloadavg()}", file=sys.stderr)
    for rows, width, vocab, chunks in SHAPES:
        for chunk in chunks:
            cmd = [sys.executable, __file__, "--reps", str(args.reps), "--one", str(rows), str(width), str(vocab), str(chunk)]
            print(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip(), flush=True)
    print(f"load average {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
