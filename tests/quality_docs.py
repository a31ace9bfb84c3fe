"""A few hundred real documents for the quality-rule parity test and benchmark.

Book chunks (Project Gutenberg, header included), WikiText articles, Common
Crawl WET documents, main text extracted with trafilatura from news/blog pages
(English and multilingual), and HumanEval code. Deterministic: same corpora,
same documents, same order.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

CHUNK_CHARS = 4000
CHUNKS_PER_BOOK = 12
WIKI_ARTICLES = 40


def _book_chunks(text: str) -> list[str]:
    """~CHUNK_CHARS pieces cut at blank lines, CHUNKS_PER_BOOK of them spread over the book."""
    chunks, current = [], []
    size = 0
    for para in text.split("\n\n"):
        current.append(para)
        size += len(para) + 2
        if size >= CHUNK_CHARS:
            chunks.append("\n\n".join(current))
            current, size = [], 0
    if current:
        chunks.append("\n\n".join(current))
    step = max(1, len(chunks) // CHUNKS_PER_BOOK)
    return chunks[::step][:CHUNKS_PER_BOOK]


def load_documents(corpora: Path, html_pages: int = 90) -> list[tuple[str, str]]:
    """(id, text) pairs."""
    from pipelines.html_text import extract_main_text

    docs: list[tuple[str, str]] = []
    with gzip.open(corpora / "books" / "books.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            book = json.loads(line)
            docs += [(f"{book['id']}#{i}", chunk) for i, chunk in enumerate(_book_chunks(book["text"]))]
    with open(corpora / "wiki" / "wikitext2_raw_test.jsonl", encoding="utf-8") as f:
        docs += [(row["id"], row["text"]) for row in list(map(json.loads, f))[:WIKI_ARTICLES]]
    for path in sorted((corpora / "web" / "cc_jsonl").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            docs += [(row["id"], row["text"]) for row in map(json.loads, f)]
    pages = sorted((corpora / "web" / "html" / "article_extraction_benchmark").glob("*.html.gz"))[: html_pages * 2 // 3]
    pages += sorted((corpora / "web" / "html" / "trafilatura_cache").glob("*.html.gz"))[: html_pages // 3]
    for page in pages:
        text = extract_main_text(gzip.decompress(page.read_bytes()).decode("utf-8", errors="replace"))
        if text.strip():
            docs.append((f"html:{page.parent.name}/{page.name}", text))
    with open(corpora / "code" / "humaneval.jsonl", encoding="utf-8") as f:
        docs += [(row["id"], row["text"]) for row in list(map(json.loads, f))[:20]]
    return docs
