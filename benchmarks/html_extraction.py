"""HTML main-text extraction: trafilatura vs resiliparse, accuracy and speed in one run.

Two gold sets from ../shared/corpora/web/html:

- article_extraction_benchmark: 181 news/blog pages with the gold `articleBody`.
  Scored like that benchmark: bag-of-words precision/recall/F1 of the
  extraction against the gold body (lower-cased word tokens, multiset overlap),
  averaged over pages; an empty extraction scores 0 recall.
- trafilatura_eval_sample (+ trafilatura_cache): pages with snippets that must
  appear ("with") and must not appear ("without") in the main text. Reported:
  share of "with" snippets found, share of "without" snippets absent. This set
  was built by trafilatura's author to tune trafilatura, so it may favour it.

Speed: pages per CPU-second over all pages of both sets, each extractor timed on
the same already-decoded strings (decoding is shared and not timed). The two
`html.extractor` choices run exactly as the pipeline runs them
(`pipelines.html_text.extract_main_text`).

    .venv/bin/python benchmarks/html_extraction.py [--corpora DIR] [--limit N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

import trafilatura
from resiliparse.parse.encoding import bytes_to_str, detect_encoding
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from pipelines.html_text import extract_main_text  # noqa: E402

WORD = re.compile(r"\w+", re.UNICODE)


def trafilatura_default(html: str, url: str | None) -> str:
    return trafilatura.extract(html, url=url, include_comments=False, include_tables=True) or ""


EXTRACTORS = {
    "trafilatura (defaults)": trafilatura_default,
    "html.extractor: trafilatura (favor_precision)": lambda html, url: extract_main_text(html, url, "trafilatura"),
    "html.extractor: resiliparse (main_content)": lambda html, url: extract_main_text(html, url, "resiliparse"),
}


def decode(raw: bytes) -> str:
    return bytes_to_str(raw, detect_encoding(raw))


def words(text: str) -> Counter:
    return Counter(w.lower() for w in WORD.findall(text))


def prf(pred: str, gold: str) -> tuple[float, float, float]:
    p, g = words(pred), words(gold)
    overlap = sum((p & g).values())
    precision = overlap / sum(p.values()) if p else 0.0
    recall = overlap / sum(g.values()) if g else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def load_article_benchmark(root: Path, limit: int | None):
    gold = json.loads(gzip.decompress((root / "ground-truth.json.gz").read_bytes()))
    pages = []
    for key in sorted(gold)[:limit]:
        path = root / f"{key}.html.gz"
        if path.exists():
            pages.append((decode(gzip.decompress(path.read_bytes())), gold[key]["url"], gold[key]["articleBody"]))
    return pages


def load_trafilatura_eval(dirs: list[Path], limit: int | None):
    evaldata = json.loads(gzip.decompress((dirs[0] / "evaldata.json.gz").read_bytes()))
    by_file = {}
    for url, entry in evaldata.items():
        by_file[entry["file"].replace(" ", "_")] = (url, entry.get("with", []), entry.get("without", []))
    pages = []
    for d in dirs:
        for path in sorted(d.glob("*.html.gz")):
            name = path.name[: -len(".gz")]
            if name in by_file:
                url, with_, without = by_file[name]
                pages.append((decode(gzip.decompress(path.read_bytes())), url, with_, without))
    return pages[:limit]


def time_extractor(fn, pages) -> tuple[list[str], float]:
    outputs, start = [], time.process_time()
    for html, url, *_ in pages:
        try:
            outputs.append(fn(html, url))
        except Exception:  # a crash counts as an empty extraction
            outputs.append("")
    return outputs, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", type=Path, default=REPO.parent / "shared" / "corpora")
    parser.add_argument("--limit", type=int, default=None, help="pages per gold set (default: all)")
    args = parser.parse_args()
    html_root = args.corpora / "web" / "html"

    article = load_article_benchmark(html_root / "article_extraction_benchmark", args.limit)
    evalset = load_trafilatura_eval(
        [html_root / "trafilatura_cache", html_root / "trafilatura_eval_sample"], args.limit
    )
    print(f"article_extraction_benchmark: {len(article)} pages; trafilatura eval: {len(evalset)} pages")

    rows = []
    for name, fn in tqdm(EXTRACTORS.items(), desc="extractors"):
        time_extractor(fn, article[:3])  # warm-up: lazy imports and caches are not the extractor's speed
        art_out, art_s = time_extractor(fn, article)
        ev_out, ev_s = time_extractor(fn, evalset)
        scores = [prf(out, gold) for out, (_, _, gold) in zip(art_out, article)]
        n = len(scores)
        found = total_with = absent = total_without = 0
        for out, (_, _, with_, without) in zip(ev_out, evalset):
            found += sum(s in out for s in with_)
            total_with += len(with_)
            absent += sum(s not in out for s in without)
            total_without += len(without)
        rows.append(
            {
                "extractor": name,
                "precision": sum(s[0] for s in scores) / n,
                "recall": sum(s[1] for s in scores) / n,
                "f1": sum(s[2] for s in scores) / n,
                "empty": sum(not o.strip() for o in art_out + ev_out),
                "with_found": found / total_with,
                "without_absent": absent / total_without,
                "pages_per_s": (len(article) + len(evalset)) / (art_s + ev_s),
            }
        )

    fastest = max(r["pages_per_s"] for r in rows)
    print()
    print("| extractor | AEB precision | AEB recall | AEB F1 | trafilatura-eval with found | without absent "
          "| empty outputs | pages/s | speed vs fastest |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['extractor']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} "
            f"| {r['with_found']:.3f} | {r['without_absent']:.3f} | {r['empty']} "
            f"| {r['pages_per_s']:.1f} | {r['pages_per_s'] / fastest:.2f}x |"
        )


if __name__ == "__main__":
    main()
