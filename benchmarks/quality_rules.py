"""Docs/s per core for each rule family: gristmill's judge vs datatrove's filter, same documents, same run.

    .venv/bin/python benchmarks/quality_rules.py [--repeat 3]

Single process (one core). Documents: tests/quality_docs.py (books, wiki, web, HTML
main text, code from ../shared/corpora). datatrove caches the last 5 tokenizations
(lru_cache); each filter is timed on its own pass over all documents, so that
cache does not carry work from one filter to the next. Best of --repeat passes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from datatrove.data import Document  # noqa: E402
from datatrove.pipeline.filters import (  # noqa: E402
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from tqdm import tqdm  # noqa: E402

from quality import c4, fineweb, gopher_quality, gopher_repetition  # noqa: E402
from quality_docs import load_documents  # noqa: E402


def gristmill_judges():
    gq, gr, c4t, fw = (gopher_quality.GopherQualityThresholds(), gopher_repetition.GopherRepetitionThresholds(),
                       c4.C4Thresholds(), fineweb.FineWebThresholds())
    return {
        "gopher_repetition": lambda text: gopher_repetition.judge(gopher_repetition.signals(text), gr),
        "gopher_quality": lambda text: gopher_quality.judge(gopher_quality.signals(text), gq),
        "c4": lambda text: c4.clean(text, c4t),
        "fineweb": lambda text: fineweb.judge(fineweb.signals(text, fw), fw),
    }


def datatrove_filters():
    filters = {
        "gopher_repetition": GopherRepetitionFilter(),
        "gopher_quality": GopherQualityFilter(),
        "c4": C4QualityFilter(filter_policy=False, remove_citations=False, max_word_length=-1),
        "fineweb": FineWebQualityFilter(),
    }
    return {name: (lambda f: lambda text: f.filter(Document(text=text, id="d")))(f) for name, f in filters.items()}


def best_rate(fn, texts, repeat):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for text in texts:
            fn(text)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="passes per measurement; the best counts")
    parser.add_argument("--corpora", type=Path, default=REPO.parent / "shared" / "corpora")
    args = parser.parse_args()
    docs = load_documents(args.corpora)
    texts = [text for _, text in docs]
    chars = sum(map(len, texts))
    print(f"{len(texts)} documents, {chars / len(texts):.0f} characters on average, repeat={args.repeat}")
    ours, theirs = gristmill_judges(), datatrove_filters()
    datatrove_filters()["gopher_quality"](texts[0])  # load spaCy before timing
    print(f"{'family':<18} {'gristmill docs/s':>17} {'datatrove docs/s':>17} {'ratio':>7}")
    for family in tqdm(ours, desc="families", file=sys.stderr):
        a, b = best_rate(ours[family], texts, args.repeat), best_rate(theirs[family], texts, args.repeat)
        print(f"{family:<18} {a:>17.1f} {b:>17.1f} {a / b:>6.1f}x")


if __name__ == "__main__":
    main()
