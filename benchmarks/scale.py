"""Does curate's memory stay flat as the corpus grows? Wall time and peak RSS at 1x, 4x, 16x, 64x.

Input: distinct real text. A pool of documents from ../shared/corpora (books cut
into ~3,000-character pieces, Wikipedia, the multilingual UD sentences in
paragraphs of 15 per language, the CC JSONL pages) is repeated until the scale's size is reached; every copy after
the first has a seeded `--substitute` share of its words replaced by other
words of the same document, so copies are neither exact nor near duplicates
(a 5-gram survives with probability (1 - p)^5: Jaccard ~0.28 at p = 0.2) and
every stage does its full work at every scale. Files of ~4 MB, so the runner
has units to spread. The default curate config runs (language, Gopher, FineWeb,
exact and near-dup, PII, bias; C4 and the classifier are off by default).

Peak RSS is the summed RSS of the whole process tree (driver and Beam workers),
sampled every 0.1 s; also its anonymous part (without the pages of memory-mapped
files, such as the near-dup signature sidecars, that the kernel can drop).

    .venv/bin/python benchmarks/scale.py [--base-mb 25] [--scales 1 4 16 64] [--workers 2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
import tempfile
from pathlib import Path

from common import book_chunks, machine, require_corpora, run_measured

FILE_BYTES = 4 << 20
SENTENCES = 15  # UD sentences per document, so language ID judges paragraphs, not single lines
_WORD = re.compile(r"\S+")


def pool(corpora: Path) -> list[str]:
    """The distinct real documents every scale is built from."""
    texts = []
    with gzip.open(corpora / "books/books.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            texts += book_chunks(json.loads(line)["text"])
    wiki = corpora / "wiki/wikitext2_raw_test.jsonl"
    texts += [json.loads(line)["text"] for line in wiki.read_text(encoding="utf-8").splitlines() if line.strip()]
    for path in sorted((corpora / "multilingual").glob("*.jsonl")):
        sentences = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        texts += [" ".join(sentences[i : i + SENTENCES]) for i in range(0, len(sentences), SENTENCES)]
    for path in sorted((corpora / "web/cc_jsonl").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            texts += [json.loads(line)["text"] for line in handle if line.strip()]
    return [t for t in texts if t.strip()]


def substituted(text: str, rng: random.Random, share: float) -> str:
    """`text` with a `share` of its words replaced by other words of the same text (whitespace kept)."""
    words = _WORD.findall(text)
    if len(words) < 2:
        return text + f" {rng.random():.6f}"
    return _WORD.sub(lambda m: rng.choice(words) if rng.random() < share else m.group(0), text)


def build_input(texts: list[str], target_bytes: int, share: float, root: Path) -> tuple[int, int]:
    """JSONL files under `root` holding `target_bytes` of text; returns (documents, text bytes)."""
    root.mkdir(parents=True)
    rng = random.Random(0)
    docs = written = file_bytes = 0
    handle = None
    copy = 0
    while written < target_bytes:
        for i, text in enumerate(texts):
            if written >= target_bytes:
                break
            if handle is None or file_bytes >= FILE_BYTES:
                if handle:
                    handle.close()
                handle = open(root / f"part-{docs:09d}.jsonl", "w", encoding="utf-8")
                file_bytes = 0
            body = text if copy == 0 else substituted(text, rng, share)
            line = json.dumps({"id": f"c{copy}-d{i}", "text": body}, ensure_ascii=False) + "\n"
            handle.write(line)
            size = len(body.encode("utf-8"))
            written += size
            file_bytes += len(line)
            docs += 1
        copy += 1
    handle.close()
    return docs, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-mb", type=float, default=25.0, help="text at 1x, in MB")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--substitute", type=float, default=0.2, help="share of words replaced in every copy after the first")
    parser.add_argument("--workers", type=int, default=2, help="DirectRunner worker processes")
    parser.add_argument("--workdir", help="where inputs and outputs go (default: a temporary directory)")
    args = parser.parse_args()
    print(f"machine: {machine()}", flush=True)
    texts = pool(require_corpora())
    rows = []
    with tempfile.TemporaryDirectory(prefix="gristmill-scale-", dir=args.workdir) as tmp:
        for scale in args.scales:
            inputs = Path(tmp) / f"in-{scale}"
            docs, text_bytes = build_input(texts, int(args.base_mb * 1e6 * scale), args.substitute, inputs)
            out = Path(tmp) / f"out-{scale}"
            cmd = [sys.executable, "-m", "gristmill.cli", "curate", "--input", str(inputs), "--output", str(out),
                   "--", f"--direct_num_workers={args.workers}"]
            result = run_measured(cmd)
            manifest = json.loads((out / "manifest.json").read_text())
            counts = manifest["counts"]
            rows.append({
                "scale": scale,
                "docs": docs,
                "text_mb": round(text_bytes / 1e6, 1),
                "kept": counts["kept"],
                "rejected": counts["rejected"],
                "near_dup_removed": manifest.get("near_dup", {}).get("stats", {}).get("duplicates_removed"),
                "data_shards": len(manifest["shards"]["data"]),
                "wall_s": round(result["wall_s"], 1),
                "text_mb_per_s": round(text_bytes / 1e6 / result["wall_s"], 3),
                "peak_rss_mb": round(result["peak_rss_mb"]),
                "peak_anon_rss_mb": round(result["peak_anon_rss_mb"]),
            })
            print(json.dumps(rows[-1]), flush=True)
            for path in sorted(inputs.iterdir()):
                path.unlink()
    base = rows[0]
    for row in rows[1:]:
        print(
            f"{row['scale']}x vs {base['scale']}x: input {row['text_mb'] / base['text_mb']:.1f}x, "
            f"wall {row['wall_s'] / base['wall_s']:.2f}x, peak RSS {row['peak_rss_mb'] / base['peak_rss_mb']:.2f}x "
            f"(anonymous {row['peak_anon_rss_mb'] / base['peak_anon_rss_mb']:.2f}x)"
        )


if __name__ == "__main__":
    main()
