"""Language ID accuracy and throughput on ../shared/corpora/multilingual (UD sentences with gold labels).

    .venv/bin/python benchmarks/langid.py [--model PATH] [--min-chars 50]

Accuracy: per language and overall, for sentences of at least --min-chars characters.
Throughput: docs per CPU-second of one single-threaded process, `LanguageIdentifier.predict` on (a) each sentence
as a document and (b) 20-sentence documents (a few KB, closer to web pages).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORPORA = Path(os.environ.get("GRISTMILL_SHARED", REPO.parent / "shared")) / "corpora"

from quality.langid import LanguageIdentifier  # noqa: E402


def load(min_chars: int) -> list[tuple[str, str]]:
    rows = []
    for path in sorted((CORPORA / "multilingual").glob("*.jsonl")):
        for line in path.open(encoding="utf-8"):
            record = json.loads(line)
            if len(record["text"]) >= min_chars:
                rows.append((record["lang"], record["text"]))
    return rows


def throughput(identifier: LanguageIdentifier, docs: list[str], repeat: int = 3) -> tuple[float, float, float]:
    """Best of `repeat` runs: (docs per CPU-second, MB per CPU-second, docs per wall-second).

    CPU time of this single-threaded process is the per-core figure; wall time on
    the shared machine also counts time spent waiting for a core.
    """
    best_cpu = best_wall = float("inf")
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        for doc in docs:
            identifier.predict(doc)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    size = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    return len(docs) / best_cpu, size / best_cpu, len(docs) / best_wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="fastText LID model (default: bundled lid.176.ftz)")
    parser.add_argument("--min-chars", type=int, default=50)
    args = parser.parse_args()
    if not (CORPORA / "multilingual").is_dir():
        sys.exit(f"corpora not found at {CORPORA}")

    identifier = LanguageIdentifier(args.model)
    rows = load(args.min_chars)
    total, right = collections.Counter(), collections.Counter()
    confusions = collections.Counter()
    for lang, text in rows:
        predicted, _ = identifier.predict(text)
        total[lang] += 1
        if predicted.split("_", 1)[0] == lang:
            right[lang] += 1
        else:
            confusions[(lang, predicted)] += 1
    print(f"model: {identifier.model_path}")
    print(f"sentences >= {args.min_chars} chars: {len(rows)}")
    print("| lang | n | accuracy |\n|---|---|---|")
    for lang in sorted(total):
        print(f"| {lang} | {total[lang]} | {right[lang] / total[lang]:.3f} |")
    overall = sum(right.values()) / len(rows)
    macro = sum(right[l] / total[l] for l in total) / len(total)
    print(f"overall accuracy {overall:.4f} (macro over languages {macro:.4f}); target >= 0.97: {'met' if overall >= 0.97 else 'NOT met'}")
    print("most common confusions (gold -> predicted):", ", ".join(f"{g}->{p} {n}" for (g, p), n in confusions.most_common(6)))

    sentences = [text for _, text in rows]
    docs_s, mb_s, wall = throughput(identifier, sentences)
    print(f"throughput, one sentence per doc (mean {sum(map(len, sentences)) / len(sentences):.0f} chars): "
          f"{docs_s:,.0f} docs/s per core ({mb_s:.1f} MB/s; {wall:,.0f} docs/s wall)")
    by_lang = collections.defaultdict(list)
    for lang, text in rows:
        by_lang[lang].append(text)
    long_docs = ["\n".join(texts[i : i + 20]) for texts in by_lang.values() for i in range(0, len(texts) - 19, 20)]
    docs_s, mb_s, wall = throughput(identifier, long_docs)
    print(f"throughput, 20 sentences per doc (mean {sum(map(len, long_docs)) / len(long_docs):.0f} chars): "
          f"{docs_s:,.0f} docs/s per core ({mb_s:.1f} MB/s; {wall:,.0f} docs/s wall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
