"""Real documents for the tokenizer tests (written as datasets by `dataset_fixtures.write_dataset`)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path


def real_docs(corpora: Path, book_chunk_chars: int = 4000, max_book_chunks: int = 120) -> list[dict]:
    """Real text: chunks of a few Gutenberg books, wiki articles, and UD sentences in several languages."""
    docs = []
    with gzip.open(corpora / "books" / "books.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            book = json.loads(line)
            if book["id"] not in {"pg11_en", "pg2000_es", "pg22367_de"}:
                continue
            text = book["text"]
            for i in range(min(max_book_chunks, len(text) // book_chunk_chars)):
                docs.append({"id": f"{book['id']}-{i}", "text": text[i * book_chunk_chars : (i + 1) * book_chunk_chars], "source": "books", "lang": book["lang"]})
    with open(corpora / "wiki" / "wikitext2_raw_test.jsonl", encoding="utf-8") as handle:
        for n, line in enumerate(handle):
            if n >= 20:
                break
            art = json.loads(line)
            docs.append({"id": art["id"], "text": art["text"], "source": "wiki", "lang": "en"})
    for lang in ("ru", "zh", "ja", "fi"):
        with open(corpora / "multilingual" / f"{lang}.jsonl", encoding="utf-8") as handle:
            for n, line in enumerate(handle):
                if n >= 150:
                    break
                sent = json.loads(line)
                docs.append({"id": sent["id"], "text": sent["text"], "source": "ud", "lang": lang})
    return docs
