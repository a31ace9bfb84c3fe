"""Throughput and memory of `gristmill curate` over the real corpora, at 1x and 4x the input.

Input: ../shared/corpora web (WARC, HTML pages, CC JSONL), books and Wikipedia.
The 4x input holds four copies of every file under different names, so the
pipeline does four times the reading and normalizing, and exact dedup removes
the copies: the figure shows how cost grows with input size.

    .venv/bin/python benchmarks/curate.py [--scales 1 4] [--config FILE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

from common import machine, require_corpora, run_measured

SOURCES = [
    "web/warc",
    "web/html/article_extraction_benchmark",
    "web/html/trafilatura_cache",
    "web/cc_jsonl",
    "books/books.jsonl.gz",
    "wiki/wikitext2_raw_test.jsonl",
]


def build_input(corpora: Path, scale: int, root: Path) -> list[Path]:
    """`scale` copies of each source, each copy a directory or file of its own."""
    paths = []
    for source in SOURCES:
        src = corpora / source
        for copy in range(scale):
            dest = root / f"{src.name.split('.')[0]}-{copy}"
            if src.is_dir():
                shutil.copytree(src, dest, ignore=shutil.ignore_patterns("*.json.gz", "*.wat.gz"))
            else:
                dest.mkdir(parents=True)
                shutil.copy(src, dest / src.name)
            paths.append(dest)
    return paths


def text_megabytes(out: Path) -> float:
    total = 0
    for kind in ("data", "rejected"):
        for shard in sorted((out / kind).glob("*.parquet")):
            total += sum(len(t.encode("utf-8")) for t in pq.read_table(shard, columns=["text"]).column("text").to_pylist())
    return total / 1e6


def measure(scale: int, config: str | None, workdir: Path) -> dict:
    inputs = build_input(require_corpora(), scale, workdir / f"in-{scale}")
    input_mb = sum(f.stat().st_size for p in inputs for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()) / 1e6
    out = workdir / f"out-{scale}"
    cmd = [sys.executable, "-m", "pipelines.cli", "curate", "--input", *map(str, inputs), "--output", str(out)]
    if config:
        cmd += ["--config", config]
    result = run_measured(cmd)
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    text_mb = text_megabytes(out)
    return {
        "scale": scale,
        "docs": counts["input"],
        "kept": counts["kept"],
        "rejected": counts["rejected"],
        "errors": counts["errors"],
        "input_mb_on_disk": round(input_mb, 1),
        "text_mb": round(text_mb, 1),
        "wall_s": round(result["wall_s"], 1),
        "docs_per_s": round(counts["input"] / result["wall_s"], 1),
        "text_mb_per_s": round(text_mb / result["wall_s"], 3),
        "peak_rss_mb": round(result["peak_rss_mb"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--config", help="curate config to use instead of the defaults (its inputs are replaced)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="gristmill-bench-") as tmp:
        for scale in args.scales:
            rows.append(measure(scale, args.config, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    base = rows[0]
    for row in rows[1:]:
        print(
            f"{row['scale']}x vs {base['scale']}x: wall {row['wall_s'] / base['wall_s']:.2f}x, "
            f"docs/s {row['docs_per_s'] / base['docs_per_s']:.2f}x, peak RSS {row['peak_rss_mb'] / base['peak_rss_mb']:.2f}x"
        )


if __name__ == "__main__":
    main()
