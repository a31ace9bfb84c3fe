"""Real-text documents for the near-dup benchmarks: chunks of books, wiki and web articles, and edited copies."""

from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path

from pipelines.minhash import shingle_hashes

_PG_START = re.compile(r"\*\*\* ?START OF TH(IS|E) PROJECT GUTENBERG[^\n]*\n")
_PG_END = re.compile(r"\*\*\* ?END OF TH(IS|E) PROJECT GUTENBERG")


def _strip_gutenberg(text: str) -> str:
    """The book without Project Gutenberg's licence, which every book shares (it would be a true duplicate)."""
    start = _PG_START.search(text)
    end = _PG_END.search(text)
    return text[start.end() if start else 0 : end.start() if end else len(text)]


def _chunks(text: str, words_per_chunk: int) -> list[str]:
    """Paragraph-aligned chunks of about `words_per_chunk` words."""
    out, current, count = [], [], 0
    for para in re.split(r"\n\s*\n", text):
        para = " ".join(para.split())
        if not para:
            continue
        current.append(para)
        count += len(para.split())
        if count >= words_per_chunk:
            out.append("\n\n".join(current))
            current, count = [], 0
    return out


def base_documents(corpora: Path, words_per_chunk: int = 250) -> list[dict]:
    """Distinct real documents: book chunks (licence removed), WikiText-2 article chunks, web article bodies."""
    docs = []
    with gzip.open(corpora / "books/books.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            book = json.loads(line)
            for i, chunk in enumerate(_chunks(_strip_gutenberg(book["text"]), words_per_chunk)):
                docs.append({"id": f"book-{book['id']}-{i:05d}", "text": chunk, "kind": "books"})
    for name in ("wikitext2_raw_test", "wikitext2_tokenized_valid"):
        for line in (corpora / f"wiki/{name}.jsonl").open(encoding="utf-8"):
            article = json.loads(line)
            for i, chunk in enumerate(_chunks(article["text"].replace("\n", "\n\n"), words_per_chunk)):
                docs.append({"id": f"wiki-{article['id']}-{i:03d}", "text": chunk, "kind": "wiki"})
    with gzip.open(corpora / "web/html/article_extraction_benchmark/ground-truth.json.gz", "rt", encoding="utf-8") as f:
        for key, page in sorted(json.load(f).items()):
            body = page.get("articleBody") or ""
            for i, chunk in enumerate(_chunks(body, words_per_chunk)):
                docs.append({"id": f"web-{key[:16]}-{i:02d}", "text": chunk, "kind": "web"})
    return docs


def jaccard(a: str, b: str) -> float:
    """True Jaccard similarity of the two texts' shingle sets (the pipeline's default word 5-grams)."""
    x, y = set(shingle_hashes(a).tolist()), set(shingle_hashes(b).tolist())
    if not x and not y:
        return 1.0
    return len(x & y) / len(x | y)


EDITS = ("insert", "delete", "substitute", "move", "boilerplate")


def _edit(words: list[str], kind: str, k: int, rng: random.Random, vocab: list[str], filler: list[str]) -> list[str]:
    """`k` edits of one kind, deterministic for a given rng state."""
    out = list(words)
    if kind == "insert":
        for _ in range(k):
            out.insert(rng.randrange(len(out) + 1), rng.choice(vocab))
    elif kind == "delete":
        for _ in range(min(k, len(out) - 1)):
            del out[rng.randrange(len(out))]
    elif kind == "substitute":
        for _ in range(k):
            out[rng.randrange(len(out))] = rng.choice(vocab)
    elif kind == "move":
        # Three moves of a 10-40 word span (a sentence or short paragraph) elsewhere, then k substitutions:
        # moves alone only touch the shingles at the cut points, so they cannot reach the low levels.
        for _ in range(3):
            n = rng.randint(10, 40)
            start = rng.randrange(max(1, len(out) - n))
            span, rest = out[start : start + n], out[:start] + out[start + n :]
            at = rng.randrange(len(rest) + 1)
            out = rest[:at] + span + rest[at:]
        for _ in range(k - 1):
            out[rng.randrange(len(out))] = rng.choice(vocab)
    elif kind == "boilerplate":
        # k words of real boilerplate, split between a header and a footer.
        head = filler[: k // 2]
        out = head + out + filler[k // 2 : k]
    return out


def variant_at(text: str, target: float, kind: str, seed: int, vocab: list[str], filler: list[str]) -> tuple[str, float]:
    """An edited copy of `text` whose true Jaccard with it is as close to `target` as the edit kind allows from above."""
    words = text.split()
    if target >= 1.0:
        return text, 1.0
    first = " ".join(_edit(words, kind, 1, random.Random(seed), vocab, filler))
    best = (first, jaccard(text, first))  # when even one edit overshoots, the pair lands in a lower bin
    lo, hi = 2, 4 * len(words)
    while lo <= hi:  # largest k with J >= target
        k = (lo + hi) // 2
        edited = " ".join(_edit(words, kind, k, random.Random(seed), vocab, filler))
        j = jaccard(text, edited)
        if j >= target:
            best, lo = (edited, j), k + 1
        else:
            hi = k - 1
    return best


def boilerplate_words(corpora: Path) -> list[str]:
    """Real boilerplate: the Project Gutenberg licence text."""
    with gzip.open(corpora / "books/books.jsonl.gz", "rt", encoding="utf-8") as f:
        text = json.loads(f.readline())["text"]
    end = _PG_END.search(text)
    return text[end.start() :].split() if end else text.split()


def scale_documents(corpora: Path, n: int, seed: int = 1) -> list[dict]:
    """`n` documents: distinct real chunks (at most 60%), then edited copies (0.5-3% of words substituted) of them."""
    rng = random.Random(seed)
    base = base_documents(corpora, words_per_chunk=200)
    rng.shuffle(base)
    base = base[: int(0.6 * n)]
    docs = [{"id": d["id"], "text": d["text"]} for d in base]
    vocab = sorted({w for d in base[:2000] for w in d["text"].split()})
    i = 0
    while len(docs) < n:
        src = base[rng.randrange(len(base))]
        words = src["text"].split()
        for _ in range(max(1, int(len(words) * rng.choice([0.005, 0.01, 0.02, 0.03])))):
            words[rng.randrange(len(words))] = rng.choice(vocab)
        docs.append({"id": f"copy-{i:06d}-{src['id']}", "text": " ".join(words)})
        i += 1
    return docs
