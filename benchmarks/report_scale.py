"""How `gristmill report` scales: every document against a seeded sample, on one dataset of real book text.

Builds a dataset directory of N documents (paragraph runs of the Project
Gutenberg books in the shared corpora, about 1,500 characters each, PII
redacted with `quality.pii`), one in eleven of them rejected, laid out as
`gristmill curate` writes it, then times
`gristmill report DIR --gate` with every document and with `--sample S`, each
in its own process (wall time and peak RSS of the process tree).

    .venv/bin/python benchmarks/report_scale.py [--docs 20000] [--sample 2000]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import xxhash
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import REPO, machine, require_corpora, run_measured  # noqa: E402
from pipelines.config import CurateConfig  # noqa: E402
from pipelines.manifest import funnel  # noqa: E402
from pipelines.schema import data_schema, rejected_schema  # noqa: E402
from pipelines.staging import json_lines, write_parquet  # noqa: E402
from quality.pii import redact, scan  # noqa: E402

SHARDS = 8


def book_pieces(corpora: Path, n: int) -> list[str]:
    """`n` texts of about 1,500 characters cut from the books at paragraph breaks, cycling through them."""
    pieces: list[str] = []
    with gzip.open(corpora / "books/books.jsonl.gz", "rt", encoding="utf-8") as handle:
        books = [json.loads(line)["text"] for line in handle]
    for book in books:
        current = ""
        for paragraph in book.split("\n\n"):
            current += paragraph.strip() + "\n\n"
            if len(current) >= 1500:
                pieces.append(current.strip())
                current = ""
    if not pieces:
        sys.exit("no text found in books.jsonl.gz")
    # Redacted as the PII stage would (the Gutenberg boilerplate holds real emails and phone numbers).
    pieces = [redact(p, scan(p)) for p in pieces]
    return [pieces[i % len(pieces)] + f"\n\n[{i}]" for i in range(n)]


def describe(root: Path, path: str) -> dict:
    raw = (root / path).read_bytes()
    rows = pq.ParquetFile(root / path).metadata.num_rows if path.endswith(".parquet") else raw.count(b"\n")
    return {"path": path, "rows": rows, "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}


def build(root: Path, texts: list[str]) -> None:
    n_rejected = len(texts) // 11
    kept = [{"id": f"k{i:07d}", "text": t, "source": "books", "n_chars": len(t), "lang": "en", "lang_score": 0.95}
            for i, t in enumerate(texts[n_rejected:])]
    rejected = [{"id": f"r{i:07d}", "text": t, "source": "books", "n_chars": len(t), "lang": "en", "lang_score": 0.3,
                 "reason": "language:low_score", "detail": "0.3000"} for i, t in enumerate(texts[:n_rejected])]
    for sub in ("data", "rejected", "errors"):
        (root / sub).mkdir(parents=True)
    groups: list[list[dict]] = [[] for _ in range(SHARDS)]
    for row in kept:
        groups[xxhash.xxh64_intdigest(row["id"].encode()) % SHARDS].append(row)
    for i, rows in enumerate(groups):
        write_parquet(str(root / f"data/part-{i:05d}.parquet"), sorted(rows, key=lambda r: r["id"]), data_schema())
    write_parquet(str(root / "rejected/part-00000.parquet"), rejected, rejected_schema())
    (root / "errors/part-00000.jsonl").write_bytes(json_lines([]))
    config = CurateConfig().model_dump(mode="json")
    config["language"]["allowed"] = ["en"]
    by_reason = {"language:low_score": len(rejected)}
    total = len(kept) + len(rejected)
    manifest = {
        "format": "gristmill-dataset-v1", "gristmill_version": "bench", "created_at": "2026-11-23T00:00:00+00:00",
        "config": config, "config_hash": "bench",
        "counts": {"input": total, "kept": len(kept), "rejected": len(rejected), "errors": 0,
                   "rejected_by_reason": by_reason, "funnel": funnel(total, 0, by_reason)},
        "shards": {"data": [describe(root, f"data/part-{i:05d}.parquet") for i in range(SHARDS)],
                   "rejected": [describe(root, "rejected/part-00000.parquet")],
                   "errors": [describe(root, "errors/part-00000.jsonl")]},
        "timings": {},
    }
    (root / "manifest.json").write_text(json.dumps(manifest))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20_000, help="documents in the dataset (default 20000)")
    parser.add_argument("--sample", type=int, default=2_000, help="documents in the sampled run (default 2000)")
    args = parser.parse_args()
    texts = book_pieces(require_corpora(), args.docs)
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "dataset"
        build(root, texts)
        size = sum(p.stat().st_size for p in root.rglob("*.parquet")) / 2**20
        print(f"dataset: {args.docs} documents, {sum(map(len, texts)) / 2**20:.1f} M characters, {size:.1f} MiB of Parquet")
        gristmill = [str(REPO / ".venv/bin/gristmill"), "report", str(root), "--gate"]
        results = {}
        for label, extra in (("every document", []), (f"--sample {args.sample}", ["--sample", str(args.sample)])):
            measured = run_measured(gristmill + extra, stdout=subprocess.DEVNULL)
            verdict = json.loads((root / "report/validation_results.json").read_text())
            results[label] = measured
            print(f"{label:>16}: {measured['wall_s']:.1f} s wall, "
                  f"peak RSS {measured['peak_rss_mb']:.0f} MiB, mode {verdict['mode']}, "
                  f"{len(verdict['expectations'])} expectations, gate {'passed' if verdict['gate_passed'] else 'FAILED'}")
        full, sampled = results.values()
        print(f"sample / full: {sampled['wall_s'] / full['wall_s']:.2f}x wall time, "
              f"{sampled['peak_rss_mb'] / full['peak_rss_mb']:.2f}x peak RSS")


if __name__ == "__main__":
    main()
