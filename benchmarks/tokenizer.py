"""Tokenizer benchmark: gristmill's train and tokenize against calling HF `tokenizers` directly.

Builds a dataset directory from the real corpora in ../shared/corpora (Gutenberg
books cut into ~20k-character documents, WikiText-2 raw articles, web article
text), then, in one run:

1. trains a 32k byte-level BPE with `gristmill tokenizer train` (train_tokenizer)
   and with `tokenizers` directly on the same training texts held in memory;
2. encodes every third document with `gristmill tokenize` (in-process encode_batch_fast,
   and 2 worker processes) and with plain `encode_batch` on the same texts in memory;
3. reports bytes per token of the trained tokenizer on held-out books, wiki and web text.

Usage: .venv/bin/python benchmarks/tokenizer.py [--corpora DIR] [--workdir DIR] [--repeats N] [--encode-rounds N] [--json FILE]
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from gristmill.dataset import Dataset  # noqa: E402
from tokenizer.split import is_val, val_threshold  # noqa: E402
from tokenizer.evaluate import evaluate, format_table  # noqa: E402
from tokenizer.tokenize import tokenize_dataset  # noqa: E402
from tokenizer.saved import load_tokenizer  # noqa: E402
from tokenizer.train import TokenizerTrainConfig, new_tokenizer, new_trainer, train_tokenizer  # noqa: E402
from dataset_fixtures import write_dataset  # noqa: E402

BOOK_CHUNK = 20_000
VAL_FRACTION = 0.1


def corpus_docs(corpora: Path) -> list[dict]:
    docs = []
    with gzip.open(corpora / "books" / "books.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            book = json.loads(line)
            text = book["text"]
            for i in range(0, len(text), BOOK_CHUNK):
                docs.append({"id": f"{book['id']}-{i // BOOK_CHUNK:04d}", "text": text[i : i + BOOK_CHUNK], "source": "books", "lang": book["lang"]})
    with open(corpora / "wiki" / "wikitext2_raw_test.jsonl", encoding="utf-8") as handle:
        for line in handle:
            art = json.loads(line)
            docs.append({"id": art["id"], "text": art["text"], "source": "wiki", "lang": "en"})
    for path in sorted((corpora / "web" / "cc_jsonl").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                page = json.loads(line)
                docs.append({"id": page["id"], "text": page["text"], "source": "web", "lang": "en"})
    with gzip.open(corpora / "web" / "html" / "article_extraction_benchmark" / "ground-truth.json.gz", "rt", encoding="utf-8") as handle:
        for key, page in sorted(json.load(handle).items()):
            if page.get("articleBody"):
                docs.append({"id": f"aeb-{key}", "text": page["articleBody"], "source": "web", "lang": None})
    return docs


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and its reaped children (the encode workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def bench_train(dataset_dir: Path, work: Path, train_texts: list[str], repeats: int) -> dict:
    config = TokenizerTrainConfig(vocab_size=32_000, val_fraction=VAL_FRACTION, sample_bytes=10**12, max_doc_chars=10**9)

    def direct():
        tok = new_tokenizer(config.split_pattern)
        tok.train_from_iterator(train_texts, trainer=new_trainer(config))
        return tok

    ours, peer, ours_cpu, peer_cpu = [], [], [], []
    for r in range(repeats):  # alternate which goes first: load on the shared machine drifts
        for which in (("ours", "peer") if r % 2 == 0 else ("peer", "ours")):
            before = cpu_seconds()
            if which == "ours":
                seconds, meta = timed(lambda: train_tokenizer(dataset_dir, work / "tok", config))
                ours.append(seconds)
                ours_cpu.append(cpu_seconds() - before)
            else:
                seconds, tok = timed(direct)
                peer.append(seconds)
                peer_cpu.append(cpu_seconds() - before)
        print(f"  train repeat {r}: gristmill {ours[-1]:.2f}s wall {ours_cpu[-1]:.2f}s cpu, "
              f"tokenizers direct {peer[-1]:.2f}s wall {peer_cpu[-1]:.2f}s cpu", flush=True)
    same = json.loads(tok.to_str()) == json.loads((work / "tok" / "tokenizer.json").read_text(encoding="utf-8"))
    return {
        "vocab_size": meta["vocab_size"],
        "sample_docs": meta["sample"]["docs"],
        "sample_bytes": meta["sample"]["bytes"],
        "gristmill_s": ours,
        "direct_s": peer,
        "gristmill_cpu_s": ours_cpu,
        "direct_cpu_s": peer_cpu,
        "cpu_overhead_median": statistics.median(ours_cpu) / statistics.median(peer_cpu) - 1,
        "overhead_median": statistics.median(ours) / statistics.median(peer) - 1,
        "overhead_paired_median": statistics.median(o / p - 1 for o, p in zip(ours, peer)),
        "overhead_best": min(ours) / min(peer) - 1,
        "identical_tokenizer_json": same,
    }


def bench_encode(dataset_dir: Path, work: Path, texts: list[str], repeats: int) -> dict:
    tok, meta = load_tokenizer(work / "tok")
    total_mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6

    def plain(method):
        def run():
            for i in range(0, len(texts), 1024):
                getattr(tok, method)(texts[i : i + 1024], add_special_tokens=False)
        return run

    runs = {
        "gristmill tokenize (workers=1)": lambda: tokenize_dataset(work / "tok", dataset_dir, work / "tokens1", workers=1),
        "gristmill tokenize (workers=2)": lambda: tokenize_dataset(work / "tok", dataset_dir, work / "tokens2", workers=2),
        "plain encode_batch": plain("encode_batch"),
        "plain encode_batch_fast": plain("encode_batch_fast"),
    }
    seconds = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    names = list(runs)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate the order: load drifts
            before = cpu_seconds()
            seconds[name].append(timed(runs[name])[0])
            cpu[name].append(cpu_seconds() - before)
        print("  encode repeat", r, ", ".join(f"{n}: {s[-1]:.2f}s wall {cpu[n][-1]:.2f}s cpu" for n, s in seconds.items()), flush=True)
    identical = all(
        (work / "tokens1" / p.relative_to(work / "tokens2")).read_bytes() == p.read_bytes()
        for p in (work / "tokens2").rglob("*") if p.is_file()
    )
    mbps = {name: total_mb / min(s) for name, s in seconds.items()}
    # Throughput ratio to plain encode_batch within each round, where the load is most alike; then the median.
    paired = {name: statistics.median(p / o for o, p in zip(s, seconds["plain encode_batch"])) for name, s in seconds.items()}
    return {
        "mb": total_mb,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "mb_per_s_best": mbps,
        "mb_per_cpu_s_best": {name: total_mb / min(c) for name, c in cpu.items()},
        "ratio_vs_plain_encode_batch": {name: v / mbps["plain encode_batch"] for name, v in mbps.items()},
        "paired_ratio_vs_plain_encode_batch": paired,
        "workers_1_and_2_identical": identical,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpora", type=Path, default=REPO.parent / "shared" / "corpora", help="the shared real corpora")
    parser.add_argument("--workdir", type=Path, help="where to build the dataset and outputs (default: a temp dir)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of training")
    parser.add_argument("--encode-rounds", type=int, default=6, help="timed rounds of the encode comparison")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="gristmill-tokbench-"))
    work.mkdir(parents=True, exist_ok=True)

    docs = corpus_docs(args.corpora)
    dataset_dir = write_dataset(work / "dataset", docs, shards=4)
    texts = [d["text"] for d in docs]
    threshold = val_threshold(VAL_FRACTION)
    train_texts = [d["text"] for d in docs if not is_val(d["id"], threshold)]
    print(f"machine: {platform.machine()}, python {platform.python_version()}; dataset {work / 'dataset'}")
    by_source = {s: sum(1 for d in docs if d["source"] == s) for s in ("books", "wiki", "web")}
    print(f"dataset: {Dataset.open(dataset_dir).num_docs} docs {by_source}, {sum(len(t.encode()) for t in texts) / 1e6:.2f} MB; "
          f"training split {len(train_texts)} docs, {sum(len(t.encode()) for t in train_texts) / 1e6:.2f} MB")

    print("train (32k vocab):", flush=True)
    train = bench_train(dataset_dir, work, train_texts, args.repeats)
    print(f"  -> gristmill/direct overhead: wall median of paired repeats {train['overhead_paired_median']:+.1%}, "
          f"wall medians {train['overhead_median']:+.1%}, wall best-of {train['overhead_best']:+.1%}, "
          f"CPU median {train['cpu_overhead_median']:+.1%}; "
          f"identical tokenizer.json: {train['identical_tokenizer_json']}")

    # Encoding is compared on every third document (all three sources), so that more
    # rounds fit: single timings on the shared machine swing by 2x.
    encode_docs = docs[::3]
    encode_dir = write_dataset(work / "encode-dataset", encode_docs, shards=2)
    print(f"encode ({len(encode_docs)} docs, {sum(len(d['text'].encode()) for d in encode_docs) / 1e6:.2f} MB, every third document):", flush=True)
    encode = bench_encode(encode_dir, work, [d["text"] for d in encode_docs], args.encode_rounds)
    for name, value in encode["mb_per_s_best"].items():
        print(f"  {name:32s} best {value:6.2f} MB/s wall ({encode['ratio_vs_plain_encode_batch'][name]:.3f} x plain encode_batch; "
              f"median of paired rounds {encode['paired_ratio_vs_plain_encode_batch'][name]:.3f} x), "
              f"{encode['mb_per_cpu_s_best'][name]:.2f} MB per CPU-second")
    print(f"  workers=1 and workers=2 shards identical: {encode['workers_1_and_2_identical']}")

    print("bytes per token on held-out documents:")
    report = evaluate([work / "tok"], dataset_dir)
    print(format_table(report))
    if args.json:
        args.json.write_text(json.dumps({"train": train, "encode": encode, "eval": report}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
