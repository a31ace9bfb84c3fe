"""Curation ablation: the same small GPT, the same number of tokens, raw corpus vs gristmill's curated output.

1. Held-out clean set: every fifth ~3,000-character chunk of the English
   Gutenberg books and every fifth WikiText-2 raw article. These never enter
   either training set.
2. Raw corpus (web-heavy): every WARC file, HTML page and CC WET document in
   ../shared/corpora/web (read twice, under two source names: a re-crawl, as
   duplicated pages are in real crawls), the noisy inputs of the embedded
   sample (sample/: web, news, forum, lines, pages, crawl), the UD sentences of
   15 languages in paragraphs, HumanEval code, and the other four fifths of the
   books (all 11, German and Spanish included) and Wikipedia articles.
   It goes through `gristmill curate` twice: with every filter off (raw: the
   text as read and extracted, nothing removed) and with the default config
   plus `language.allowed: [en]` (curated). The held-out set goes through it
   with every filter off, only to become a dataset.
3. One BPE tokenizer (gristmill tokenizer, vocab 4096) trained on the raw
   dataset, which holds both training sets (the curated one is a subset).
4. Both datasets and the held-out set tokenized with it; the GPT (train/)
   trained with the same seed, shape and number of steps (so tokens) on each,
   then evaluated in bits per byte on the whole held-out set.

    .venv/bin/python benchmarks/ablation.py [--steps N] [--gpu] [--workdir DIR]

CPU-sized by default (4 layers, 128 wide, seq 128, batch 16, 1 thread); `--gpu`
trains a 6-layer, 384-wide model with seq 512 and batch 32 on CUDA in bf16.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from common import REPO, book_chunks, machine, require_corpora

sys.path.insert(0, str(REPO))

HELD_OUT_EVERY = 5
SENTENCES_PER_PARAGRAPH = 15
VOCAB = 4096
SAMPLE_INPUTS = [
    {"path": "web.jsonl", "name": "sample-web"},
    {"path": "news.jsonl.gz", "name": "sample-news"},
    {"path": "forum.jsonl.zst", "name": "sample-forum", "text_field": "body", "id_field": "post_id", "url_field": "thread_url"},
    {"path": "lines.txt", "name": "sample-lines", "format": "text", "text_mode": "line"},
    {"path": "pages", "name": "sample-pages", "format": "html"},
    {"path": "crawl.warc.gz", "name": "sample-crawl"},
]
FILTERS_OFF = {
    "exact_dedup": {"enabled": False},
    "language": {"enabled": False},
    "quality": {f: {"enabled": False} for f in ("gopher_repetition", "gopher_quality", "c4", "fineweb")},
    "near_dup": {"enabled": False},
    "pii": {"enabled": False},
    "bias": {"enabled": False},
}
SIZES = {
    "cpu": {"model": {"n_layer": 4, "n_head": 4, "n_embd": 128}, "seq_len": 128, "batch_size": 16, "steps": 600},
    "gpu": {"model": {"n_layer": 6, "n_head": 6, "n_embd": 384}, "seq_len": 512, "batch_size": 32, "steps": 3000},
}


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_inputs(corpora: Path, folder: Path) -> tuple[list[dict], Path]:
    """(raw corpus inputs for the curate config, held-out JSONL)."""
    folder.mkdir(parents=True, exist_ok=True)
    train_rows, held_out = [], []
    with gzip.open(corpora / "books" / "books.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            book = json.loads(line)
            for i, chunk in enumerate(book_chunks(book["text"])):
                row = {"id": f"{book['id']}-{i:05d}", "text": chunk}
                english = book.get("lang", "en") == "en"
                (held_out if english and i % HELD_OUT_EVERY == 0 else train_rows).append(row)
    with open(corpora / "wiki" / "wikitext2_raw_test.jsonl", encoding="utf-8") as f:
        for i, line in enumerate(f):
            row = {"id": f"wiki-{i:03d}", "text": json.loads(line)["text"]}
            (held_out if i % HELD_OUT_EVERY == 0 else train_rows).append(row)
    for path in sorted((corpora / "multilingual").glob("*.jsonl")):
        with open(path, encoding="utf-8") as f:
            sentences = [json.loads(line)["text"] for line in f]
        for i in range(0, len(sentences), SENTENCES_PER_PARAGRAPH):
            train_rows.append({"id": f"ud-{path.stem}-{i:05d}", "text": " ".join(sentences[i : i + SENTENCES_PER_PARAGRAPH])})
    with open(corpora / "code" / "humaneval.jsonl", encoding="utf-8") as f:
        train_rows += [{"id": row["id"].replace("/", "-"), "text": row["text"]} for row in map(json.loads, f)]
    _write_jsonl(folder / "books_wiki_ud_code.jsonl", train_rows)
    _write_jsonl(folder / "held_out.jsonl", held_out)

    web = corpora / "web"
    inputs = [{"path": str(folder / "books_wiki_ud_code.jsonl"), "name": "mixed"}]
    for copy in ("crawl1", "crawl2"):
        inputs += [
            {"path": str(web / "warc"), "name": f"{copy}-warc", "format": "warc"},
            {"path": str(web / "html"), "name": f"{copy}-html", "format": "html"},
            {"path": str(web / "cc_jsonl"), "name": f"{copy}-cc", "format": "jsonl"},
        ]
    inputs += [{**spec, "path": str(REPO / "sample" / spec["path"])} for spec in SAMPLE_INPUTS]
    return inputs, folder / "held_out.jsonl"


def curate(inputs: list[dict], out: Path, overrides: dict) -> dict:
    config = {"inputs": inputs, "output": {"dir": str(out), "shards": 2, "rejected_shards": 1}, **overrides}
    path = out.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    subprocess.run([sys.executable, "-m", "pipelines.cli", "curate", "--config", str(path)], cwd=REPO, check=True)
    return json.loads((out / "manifest.json").read_text())


def dataset_chars(out: Path) -> int:
    import pyarrow.parquet as pq

    manifest = json.loads((out / "manifest.json").read_text())
    return sum(sum(pq.read_table(out / s["path"], columns=["n_chars"]).column("n_chars").to_pylist()) for s in manifest["shards"]["data"])


def train_one(name: str, tokens: Path, held_out: Path, workdir: Path, size: dict, steps: int, gpu: bool) -> dict:
    from train.config import TrainConfig, parse_config
    from train.loop import train

    cfg = parse_config({
        "out_dir": str(workdir / f"train-{name}"),
        "seed": 0,
        "device": "cuda" if gpu else "cpu",
        "precision": "bf16" if gpu else "fp32",
        "compile": gpu,
        "log_every": 50,
        "model": size["model"],
        "data": {
            "train": [str(tokens)], "val": str(held_out), "seq_len": size["seq_len"],
            "batch_size": size["batch_size"], "num_workers": 1,
        },
        "optimizer": {"lr": 2e-3 if not gpu else 1e-3},
        "schedule": {"max_steps": steps, "warmup_steps": steps // 20},
        "checkpoint": {"every": 0, "keep": 1},
        "eval": {"every": 0, "max_batches": None},
    }, name, model=TrainConfig)
    shutil.rmtree(cfg.out_dir, ignore_errors=True)
    started = time.perf_counter()
    result = train(cfg)
    result["train_s"] = time.perf_counter() - started
    result["train_tokens"] = steps * size["seq_len"] * size["batch_size"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpu", action="store_true", help="GPU-sized model and run (CUDA, bf16, compiled)")
    parser.add_argument("--steps", type=int, help="training steps for each model (default: 600 CPU, 3000 GPU)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/gristmill-ablation"), help="datasets, tokens, checkpoints")
    parser.add_argument("--reuse", action="store_true", help="reuse the datasets, tokenizer and tokens an earlier run left in --workdir; only train")
    args = parser.parse_args()
    size = SIZES["gpu" if args.gpu else "cpu"]
    steps = args.steps or size["steps"]
    if not args.gpu:
        import torch

        torch.set_num_threads(1)  # see benchmarks/RESULTS.md, Training: OpenMP spin-waiting on a shared CPU
    print(f"machine: {machine()}; load average {os.getloadavg()}", flush=True)

    from tokenizer.tokenize import tokenize_dataset
    from tokenizer.train import TokenizerTrainConfig, train_tokenizer

    work = args.workdir
    inputs, held_out_jsonl = write_inputs(require_corpora(), work / "inputs")
    if not args.reuse:
        curate(inputs, work / "raw", FILTERS_OFF)
        curate(inputs, work / "curated", {"language": {"allowed": ["en"]}})
        curate([{"path": str(held_out_jsonl), "name": "held_out"}], work / "held_out", FILTERS_OFF)
    for name in ("raw", "curated", "held_out"):
        counts = json.loads((work / name / "manifest.json").read_text())["counts"]
        print(f"{name}: input {counts['input']} kept {counts['kept']} ({dataset_chars(work / name) / 1e6:.1f} M chars); "
              f"rejected {counts['rejected_by_reason']}", flush=True)

    if not args.reuse:
        train_tokenizer(work / "raw", work / "tokenizer", TokenizerTrainConfig(vocab_size=VOCAB, val_fraction=0.0))
    token_dirs = {}
    for name, val_fraction in (("raw", 0.01), ("curated", 0.01), ("held_out", 0.9999)):
        token_dirs[name] = work / f"tokens-{name}"
        if not args.reuse:
            tokenize_dataset(work / "tokenizer", work / name, token_dirs[name], val_fraction=val_fraction)
        manifest = json.loads((token_dirs[name] / "manifest.json").read_text())
        print(f"tokens {name}: " + ", ".join(f"{split} {manifest['splits'][split]['tokens']}" for split in ("train", "val")), flush=True)

    results = {}
    for name in ("raw", "curated"):
        results[name] = train_one(name, token_dirs[name], token_dirs["held_out"], work, size, steps, args.gpu)
        r = results[name]
        print(f"{name}: held-out bpb {r['val_bpb']:.4f}, loss {r['val_loss']:.4f}, final train loss {r['loss']:.4f}, "
              f"{r['train_tokens']} tokens in {r['train_s']:.0f}s", flush=True)
    raw_bpb, cur_bpb = results["raw"]["val_bpb"], results["curated"]["val_bpb"]
    print(f"curated vs raw: {raw_bpb:.4f} -> {cur_bpb:.4f} bits per byte, {100 * (raw_bpb - cur_bpb) / raw_bpb:+.2f}% "
          f"(positive = curated better; goal >= +3%)")


if __name__ == "__main__":
    main()
