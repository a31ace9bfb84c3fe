"""Build small curated-dataset directories (Parquet shards + manifest.json) for the tokenizer tests."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.schema import data_schema, to_table


def write_dataset(root: Path, docs: list[dict], shards: int = 2) -> Path:
    """Docs (id, text, source[, lang]) split into `shards` Parquet files listed in a gristmill-dataset-v1 manifest."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    entries = []
    per = -(-len(docs) // shards)
    for n in range(shards):
        rows = [dict(doc, n_chars=len(doc["text"])) for doc in docs[n * per : (n + 1) * per]]
        rel = f"data/part-{n:05d}.parquet"
        pq.write_table(to_table(rows, data_schema()), root / rel)
        entries.append({"path": rel, "rows": len(rows), "sha256": hashlib.sha256((root / rel).read_bytes()).hexdigest()})
    manifest = {"format": "gristmill-dataset-v1", "counts": {"kept": len(docs)}, "shards": {"data": entries, "rejected": [], "errors": []}}
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return root


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
