"""Curation ablation, done fairly: one small GPT, one tokenizer, one token budget, three training sets.

1. Held-out clean set: every fifth ~3,000-character chunk of the English
   Gutenberg books and every fifth WikiText-2 raw article. These enter none of
   the training sets.
2. Raw inputs (web-heavy), the same for all three sets: every WARC file, HTML
   page and CC WET document in ../shared/corpora/web (read twice, under two
   source names: a re-crawl, as duplicated pages are in real crawls), the noisy
   inputs of the embedded sample (sample/), the UD sentences of 15 languages in
   paragraphs, HumanEval code, and the other four fifths of the books (all 11)
   and Wikipedia articles. They go through `gristmill curate` three times:
   * raw: every filter off (the text as read, normalized and extracted);
   * raw_lang: every filter off but the language filter, with the same
     languages as curated (`language.allowed: [en]`): what is left of the gap
     is the other filters' doing, not the language choice;
   * curated: the default config with `language.allowed: [en]`.
3. One BPE tokenizer trained on a neutral sample: the same number of UTF-8
   bytes drawn (seeded) from each of the three sets, so no set's vocabulary is
   favoured.
4. Each set tokenized with it and trained on with the same model, steps and
   batch (so the same token budget), in the loader's random order, with
   `--seeds` seeds each (seed = model init and data order). Held-out bits per
   byte (exact: nats over the UTF-8 bytes of the scored tokens) on a fixed
   sample of the held-out windows (the same for every run), every `--eval-every` steps, so the curve
   shows whether training has flattened; the result is the mean +- sd over
   seeds at the last step.

    .venv/bin/python benchmarks/ablation.py [--stage all|prepare|train] [--steps N] [--seeds K] [--parallel P] [--workdir DIR]

`--stage prepare` stops after the datasets, tokenizer and tokens; `--stage train`
trains on what an earlier `prepare` left in --workdir. CPU-sized (1 thread per
training run, `--parallel` runs at a time);
`--gpu` trains a 6-layer, 384-wide model with seq 512 on CUDA instead.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml

from common import REPO, book_chunks, machine, require_corpora

sys.path.insert(0, str(REPO))

HELD_OUT_EVERY = 5
SENTENCES_PER_PARAGRAPH = 15
LANGUAGES = ["en"]
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
    "classifier": {"enabled": False},
    "near_dup": {"enabled": False},
    "pii": {"enabled": False},
    "bias": {"enabled": False},
}
SETS = {
    "raw": FILTERS_OFF,
    "raw_lang": {**FILTERS_OFF, "language": {"enabled": True, "allowed": LANGUAGES}},
    "curated": {"language": {"allowed": LANGUAGES}},
}
SIZES = {
    "cpu": {"model": {"n_layer": 2, "n_head": 4, "n_embd": 128, "mlp": "swiglu"}, "seq_len": 128, "batch_size": 16,
            "steps": 200, "lr": 3e-3, "vocab": 2048, "eval_windows": 384},
    "gpu": {"model": {"n_layer": 6, "n_head": 6, "n_embd": 384, "mlp": "swiglu"}, "seq_len": 512, "batch_size": 32,
            "steps": 3000, "lr": 1e-3, "vocab": 8192, "eval_windows": 4096},
}
NEUTRAL_BYTES_EACH = 2_000_000


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
    """`gristmill curate` through its public CLI; returns the manifest."""
    config = {"inputs": inputs, "output": {"dir": str(out), "shard_bytes": 8 << 20}, **overrides}
    path = out.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    subprocess.run([sys.executable, "-m", "gristmill.cli", "curate", "--config", str(path)], cwd=REPO, check=True)
    return json.loads((out / "manifest.json").read_text())


def dataset_texts(out: Path) -> list[tuple[str, str]]:
    """(id, text) of every kept document, through the dataset's manifest."""
    from gristmill.dataset import Dataset, texts_of

    rows = []
    for path, batch in Dataset.open(out).batches(["id", "text"]):
        rows += zip(batch.column("id").to_pylist(), texts_of(path, batch))
    return rows


def write_neutral_sample(work: Path, names: list[str], bytes_each: int) -> Path:
    """JSONL of the same UTF-8 bytes from each set (documents in a seeded order; ids prefixed by the set)."""
    rows = []
    for name in names:
        docs = dataset_texts(work / name)
        random.Random(f"neutral-{name}").shuffle(docs)
        size = 0
        for doc_id, text in docs:
            if size >= bytes_each:
                break
            rows.append({"id": f"{name}:{doc_id}", "text": text})
            size += len(text.encode("utf-8"))
    path = work / "inputs" / "neutral.jsonl"
    _write_jsonl(path, rows)
    return path


def prepare(work: Path, vocab: int) -> None:
    from tokenizer.tokenize import tokenize_dataset
    from tokenizer.train import TokenizerTrainConfig, train_tokenizer

    inputs, held_out_jsonl = write_inputs(require_corpora(), work / "inputs")
    timings = {}
    for name, overrides in SETS.items():
        started = time.perf_counter()
        curate(inputs, work / name, overrides)
        timings[f"curate_{name}_s"] = time.perf_counter() - started
    curate([{"path": str(held_out_jsonl), "name": "held_out"}], work / "held_out", FILTERS_OFF)
    neutral = write_neutral_sample(work, list(SETS), NEUTRAL_BYTES_EACH)
    curate([{"path": str(neutral), "name": "neutral"}], work / "neutral", FILTERS_OFF)
    started = time.perf_counter()
    train_tokenizer(work / "neutral", work / "tokenizer", TokenizerTrainConfig(vocab_size=vocab, val_fraction=0.0))
    timings["tokenizer_s"] = time.perf_counter() - started
    for name in [*SETS, "held_out"]:
        tokenize_dataset(work / "tokenizer", work / name, work / f"tokens-{name}", val_fraction=0.9999 if name == "held_out" else 0.0)
    (work / "prepare.json").write_text(json.dumps(timings, indent=2))


def describe(work: Path) -> dict:
    import pyarrow.parquet as pq

    out = {}
    for name in [*SETS, "held_out", "neutral"]:
        manifest = json.loads((work / name / "manifest.json").read_text())
        chars = sum(sum(pq.read_table(work / name / s["path"], columns=["n_chars"]).column("n_chars").to_pylist())
                    for s in manifest["shards"]["data"])
        row = {"input": manifest["counts"]["input"], "kept": manifest["counts"]["kept"], "chars": chars,
               "rejected_by_reason": manifest["counts"]["rejected_by_reason"]}
        tokens = work / f"tokens-{name}" / "manifest.json"
        if tokens.is_file():
            splits = json.loads(tokens.read_text())["splits"]
            row["tokens"] = splits["val" if name == "held_out" else "train"]["tokens"]
        out[name] = row
    return out


def train_one(name: str, seed: int, work: Path, size: dict, steps: int, eval_every: int, gpu: bool) -> dict:
    from train.config import TrainConfig
    from train.loop import train

    out_dir = work / f"train-{name}-seed{seed}"
    cfg = TrainConfig.parse({
        "out_dir": str(out_dir),
        "seed": seed,
        "device": "cuda" if gpu else "cpu",
        "precision": "bf16" if gpu else "fp32",
        "compile": gpu,
        "log_every": 25,
        "model": size["model"],
        "data": {
            "train": [str(work / f"tokens-{name}")], "val": str(work / "tokens-held_out"), "seq_len": size["seq_len"],
            "batch_size": size["batch_size"], "num_workers": 1,
        },
        "optimizer": {"lr": size["lr"], "weight_decay": 0.1},
        "schedule": {"max_steps": steps, "warmup_steps": max(1, steps // 20)},
        "checkpoint": {"every": 0, "keep": 1},
        "eval": {"every": eval_every, "max_batches": size["eval_windows"] // size["batch_size"]},
    }, name)
    shutil.rmtree(out_dir, ignore_errors=True)
    started = time.perf_counter()
    result = train(cfg)
    rows = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    return {
        "seed": seed, "val_bpb": result["val_bpb"], "val_loss": result["val_loss"], "train_loss": result["loss"],
        "curve": {r["step"]: r["val_bpb"] for r in rows if "val_bpb" in r},
        "train_tokens": steps * size["seq_len"] * size["batch_size"], "wall_s": time.perf_counter() - started,
    }


def _one_thread(gpu: bool) -> None:
    """Each training process on CPU uses one thread (see benchmarks/RESULTS.md, Training: OpenMP spin-waiting on a shared CPU)."""
    if not gpu:
        import torch

        torch.set_num_threads(1)


def summarize(results: dict[str, list[dict]]) -> dict:
    summary = {}
    for name, runs in results.items():
        bpb = [r["val_bpb"] for r in runs]
        steps = sorted(runs[0]["curve"])
        summary[name] = {
            "bpb_mean": statistics.mean(bpb), "bpb_sd": statistics.stdev(bpb) if len(bpb) > 1 else 0.0, "bpb": bpb,
            "curve_mean": {s: statistics.mean(r["curve"][s] for r in runs) for s in steps},
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=("all", "prepare", "train"), default="all")
    parser.add_argument("--gpu", action="store_true", help="GPU-sized model and run (CUDA, bf16, compiled)")
    parser.add_argument("--steps", type=int, help="training steps for each model (default: the size's)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per training set")
    parser.add_argument("--eval-every", type=int, help="steps between held-out evaluations (default: steps / 4)")
    parser.add_argument("--parallel", type=int, default=1, help="training runs at a time (each in its own process)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/gristmill-ablation"), help="datasets, tokens, runs")
    args = parser.parse_args()
    size = SIZES["gpu" if args.gpu else "cpu"]
    steps = args.steps or size["steps"]
    print(f"machine: {machine()}; load average {os.getloadavg()}", flush=True)
    work = args.workdir
    started = time.perf_counter()
    if args.stage in ("all", "prepare"):
        prepare(work, size["vocab"])
        print(f"prepared in {time.perf_counter() - started:.0f}s; load average {os.getloadavg()}", flush=True)
    print(json.dumps(describe(work), indent=1), flush=True)
    if args.stage == "prepare":
        return

    results: dict[str, list[dict]] = {name: [] for name in SETS}
    jobs = [(name, seed) for seed in range(args.seeds) for name in SETS]
    train_args = (work, size, steps, args.eval_every or max(1, steps // 4), args.gpu)
    # spawn, not fork: a forked child of a process that has started torch's thread pools can hang
    with ProcessPoolExecutor(args.parallel, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread,
                             initargs=(args.gpu,)) as pool:
        futures = {job: pool.submit(train_one, *job, *train_args) for job in jobs}
        for name, seed in jobs:
            r = futures[name, seed].result()
            results[name].append(r)
            print(f"{name} seed {seed}: held-out bpb {r['val_bpb']:.4f} (curve {[round(v, 3) for v in r['curve'].values()]}), "
                  f"train loss {r['train_loss']:.3f}, {r['train_tokens']} tokens in {r['wall_s']:.0f}s; "
                  f"load average {os.getloadavg()}", flush=True)
    summary = summarize(results)
    (work / "ablation.json").write_text(json.dumps({"size": size, "steps": steps, "results": results, "summary": summary}, indent=1))
    for name, s in summary.items():
        print(f"{name}: held-out bits per byte {s['bpb_mean']:.4f} +- {s['bpb_sd']:.4f} over {len(s['bpb'])} seeds; "
              f"mean curve {[round(v, 4) for v in s['curve_mean'].values()]}")
    lang, cur = summary["raw_lang"]["bpb_mean"], summary["curated"]["bpb_mean"]
    raw = summary["raw"]["bpb_mean"]
    print(f"curated vs raw_lang: {100 * (lang - cur) / lang:+.2f}% (goal >= +3%); curated vs raw: {100 * (raw - cur) / raw:+.2f}%; "
          f"load average {os.getloadavg()}; total {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
