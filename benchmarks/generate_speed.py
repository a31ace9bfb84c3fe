"""Generation speed on CPU with and without the KV cache (`train.generate.generate_ids`, greedy).

    .venv/bin/python benchmarks/generate_speed.py [--prompts 16 256 768] [--new-tokens 128] [--threads 1] [--repeat 2]

A randomly initialised GPT (weights do not change the cost) of 6 layers, 6 heads, 384 wide, vocab
50304, seq_len 1024, SwiGLU, fp32: 40M parameters, 21M of them outside the tied embedding. For each
prompt length, the same greedy generation runs with the cache (prompt once, then one position per
token) and without it (the whole sequence per token, as nanoGPT's sample.py; both compute only the
last position's logits). tokens/s = new tokens / wall seconds, prompt included, best of --repeat
runs (the machine is shared); the outputs are checked equal.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path[0] = str(Path(__file__).resolve().parents[1])

from train.generate import generate_ids  # noqa: E402
from train.model import GPT, GPTConfig  # noqa: E402


def timed(model, prompt, new_tokens, use_cache) -> tuple[float, list[int]]:
    started = time.perf_counter()
    out = list(generate_ids(model, prompt, new_tokens, temperature=0, use_cache=use_cache))
    return time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, nargs="+", default=[16, 256, 768])
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=50304, seq_len=1024, n_layer=6, n_head=6, n_embd=384, mlp="swiglu")).eval()
    timed(model, [1, 2, 3], 8, True)  # warm-up
    rows = []
    for length in args.prompts:
        prompt = torch.randint(0, 50304, (length,), generator=torch.Generator().manual_seed(length)).tolist()
        with_cache = without = float("inf")
        for _ in range(args.repeat):  # interleaved, so both see the same load
            seconds, a = timed(model, prompt, args.new_tokens, True)
            with_cache = min(with_cache, seconds)
            seconds, b = timed(model, prompt, args.new_tokens, False)
            without = min(without, seconds)
            assert a == b, "cached and uncached greedy outputs differ"
        rows.append({"prompt_tokens": length, "new_tokens": len(a),
                     "cache_tokens_per_s": round(len(a) / with_cache, 1),
                     "no_cache_tokens_per_s": round(len(b) / without, 1),
                     "speedup": round(without / with_cache, 2)})
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"params": model.num_params(), "threads": args.threads, "load_average": os.getloadavg()}))


if __name__ == "__main__":
    main()
