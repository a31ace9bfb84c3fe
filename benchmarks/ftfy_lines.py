"""`normalize.fix_text` (ftfy only on the lines it may change) against `ftfy.fix_text`, same documents, same run.

Documents: the distinct texts of `vs_datatrove.py`'s JSONL input (books, WikiText, Common Crawl
WET, HTML main text, UD paragraphs in 15 languages), built and cached in --workdir the same
way. The script first checks that both give the same text for every document, then times
passes alternating between the two (process CPU time, best of --repeat).

    .venv/bin/python benchmarks/ftfy_lines.py [--docs 3000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import ftfy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, best_cpu_seconds, machine, require_corpora  # noqa: E402

sys.path.insert(0, str(REPO))
from pipelines.normalize import fix_text  # noqa: E402


def distinct_texts(folder: Path, limit: int) -> list[str]:
    texts, seen = [], set()
    for path in sorted(folder.glob("*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                text = json.loads(line)["text"]
                if text not in seen:
                    seen.add(text)
                    texts.append(text)
                    if len(texts) == limit:
                        return texts
    return texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mb", type=float, default=25, help="size of the vs_datatrove input to draw from")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/gristmill-vs-datatrove"))
    args = parser.parse_args()
    from vs_datatrove import build_input

    folder, _ = build_input(require_corpora(), args.workdir, args.mb)
    texts = distinct_texts(folder, args.docs)
    plain = lambda text: ftfy.fix_text(text, normalization=None)  # noqa: E731
    assert all(fix_text(t) == plain(t) for t in texts), "fix_text differs from ftfy.fix_text"
    lines = [line for t in texts for line in t.split("\n")]
    print(f"machine: {machine()}; load {os.getloadavg()[0]:.2f}")
    print(f"{len(texts):,} documents, {sum(map(len, texts)) / len(texts):,.0f} characters on average, "
          f"{sum(line.isascii() for line in lines) / len(lines):.0%} of lines plain ASCII; same output on all")
    best = {"ftfy.fix_text": float("inf"), "normalize.fix_text": float("inf")}
    for _ in range(args.repeat):
        best["ftfy.fix_text"] = min(best["ftfy.fix_text"], best_cpu_seconds(plain, texts, 1))
        best["normalize.fix_text"] = min(best["normalize.fix_text"], best_cpu_seconds(fix_text, texts, 1))
    for name, seconds in best.items():
        print(f"{name}: {seconds:.2f} CPU-s, {len(texts) / seconds:,.0f} docs per CPU-second")
    print(f"speed-up: {best['ftfy.fix_text'] / best['normalize.fix_text']:.2f}x; load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
