"""The fastText quality classifier on real text: books + Wikipedia (positive) vs raw web text (negative).

    .venv/bin/python benchmarks/classifier.py [--seed 0]

Positive: Project Gutenberg books (../shared/corpora/books) and WikiText-2 raw articles.
Negative, "raw": what a crawl gives before any extraction: Common Crawl WET text (cc_jsonl,
whirlwind .wet), and the whole visible text of every HTML page and WARC response (menus,
footers and all; resiliparse `extract_plain_text` without main-content detection).
Negative, "main text": the same HTML pages through trafilatura (article text only), a
harder task reported for contrast.
Every document goes through language ID first and only English ones are used, as in the
pipeline, so the classifier cannot win by learning the language. Held-out figures come
from whole documents never seen in training. Throughput is documents per CPU-second of
one single-threaded process, on the web documents, with language ID on the same
documents as the peer.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORPORA = Path(os.environ.get("GRISTMILL_SHARED", REPO.parent / "shared")) / "corpora"

from fastwarc.warc import ArchiveIterator, WarcRecordType  # noqa: E402
from resiliparse.extract.html2text import extract_plain_text  # noqa: E402
from tqdm import tqdm  # noqa: E402

from common import best_cpu_seconds  # noqa: E402

from pipelines.html_text import extract_main_text  # noqa: E402
from quality.classifier import QualityClassifier, train_classifier  # noqa: E402
from quality.langid import LanguageIdentifier  # noqa: E402
from quality.text_files import read_texts  # noqa: E402

MIN_WORDS = 50


def positives() -> list[str]:
    return list(read_texts(CORPORA / "books" / "books.jsonl.gz")) + list(read_texts(CORPORA / "wiki" / "wikitext2_raw_test.jsonl"))


def html_pages() -> list[Path]:
    return sorted((CORPORA / "web" / "html").glob("*/*.html.gz"))


def raw_web() -> list[str]:
    texts = []
    for path in sorted((CORPORA / "web" / "cc_jsonl").glob("*.jsonl.gz")):
        texts += list(read_texts(path))
    for path in sorted((CORPORA / "web" / "warc").glob("*/*.warc*")):
        if path.name.endswith(".wat.gz"):
            continue
        with open(path, "rb") as stream:
            for record in ArchiveIterator(stream, record_types=WarcRecordType.response | WarcRecordType.conversion):
                body = record.reader.read().decode("utf-8", errors="replace")
                if record.record_type == WarcRecordType.conversion:
                    texts.append(body)
                elif "html" in (record.http_headers.get("Content-Type", "") if record.http_headers else ""):
                    texts.append(extract_plain_text(body, main_content=False))
    for path in tqdm(html_pages(), desc="html (whole page)", unit="page"):
        texts.append(extract_plain_text(gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace"), main_content=False))
    return texts


def main_text_web() -> list[str]:
    return [
        extract_main_text(gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace"))
        for path in tqdm(html_pages(), desc="html (trafilatura)", unit="page")
    ]


def english(texts: list[str], lid: LanguageIdentifier) -> list[str]:
    return [t for t in texts if len(t.split()) >= MIN_WORDS and lid.predict(t)[0] == "en"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not CORPORA.is_dir():
        sys.exit(f"corpora not found at {CORPORA}")
    lid = LanguageIdentifier()
    pos = english(positives(), lid)
    raw = english(raw_web(), lid)
    main_text = english(main_text_web(), lid)
    print(f"English documents with >= {MIN_WORDS} words: positive {len(pos)} (books + wiki), "
          f"raw web {len(raw)}, trafilatura main text {len(main_text)}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, negatives in [("raw web", raw), ("trafilatura main text", main_text)]:
            cpu = time.process_time()
            report = train_classifier(pos, negatives, Path(tmp) / "model.bin", seed=args.seed)
            train_cpu = time.process_time() - cpu
            print(f"\n[{name}] trained on {report.train_positive} + {report.train_negative} examples "
                  f"(400-word pieces) in {train_cpu:.1f} CPU-s")
            print(f"[{name}] {report.heldout.summary()}")
            if name == "raw web":
                scorer = QualityClassifier(report.output)
                mean_chars = sum(map(len, negatives)) / len(negatives)
                clf = len(negatives) / best_cpu_seconds(scorer.score, negatives)
                lang = len(negatives) / best_cpu_seconds(lid.predict, negatives)
                print(f"[{name}] scoring throughput on {len(negatives)} web docs (mean {mean_chars:.0f} chars): "
                      f"classifier {clf:,.0f} docs/s per core, language ID {lang:,.0f} docs/s per core "
                      f"(classifier/LID = {clf / lang:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
