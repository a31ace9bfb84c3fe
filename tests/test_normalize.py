"""`normalize.fix_text` must give exactly ftfy's output while skipping the lines ftfy leaves alone."""

import gzip
import json
import random

import ftfy
import pytest

from pipelines.normalize import fix_text

# Pieces that exercise every ftfy fix and the one state it carries between lines ('<' stops HTML unescaping).
PIECES = ["plain words", " ", "\n", "\r\n", "\r", "&amp;", "&lt;b&gt;", "&eacute;", "AT&T", "<p>", "\x1b[31m",
          "\x1b", "\x00", "\x07", "\x7f", "\x85", "\u2028", "\ufb01", "\uff21", "\u201cquoted\u201d", "caf\u00e9",
          "caf\u00c3\u00a9", "\u00e2\u20ac\u2122", "\u00c2\u00a0", "\t", "\ufffd", "\ud800", "\u3000", "\u00a0"]


def _same(text: str) -> None:
    assert fix_text(text) == ftfy.fix_text(text, normalization=None), repr(text)


def test_random_texts_from_every_kind_of_fix():
    rng = random.Random(7)
    for _ in range(3000):
        _same("".join(rng.choice(PIECES) for _ in range(rng.randint(0, 25))))


def test_html_state_crosses_plain_lines():
    """An entity after a plain line holding '<' stays escaped, as ftfy does; before it, it is unescaped."""
    text = "x &amp; y\nplain <b> line\n\u00e9 &amp; z\n"
    assert fix_text(text) == ftfy.fix_text(text, normalization=None) == "x & y\nplain <b> line\n\u00e9 &amp; z\n"


def test_plain_ascii_is_returned_as_is():
    text = "Nothing here for ftfy to change.\n\tIndented line; 100% ASCII.\n"
    assert fix_text(text) is text


def test_real_corpora(corpora):
    texts = []
    with gzip.open(corpora / "books" / "books.jsonl.gz", "rt", encoding="utf-8") as f:
        texts += [json.loads(line)["text"][:40_000] for line in f]
    for path in sorted((corpora / "web" / "cc_jsonl").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f]
    for path in sorted((corpora / "multilingual").glob("*.jsonl"))[:15]:
        with open(path, encoding="utf-8") as f:
            texts.append("\n".join(json.loads(line)["text"] for _, line in zip(range(400), f)))
    pages = sorted((corpora / "web" / "html").rglob("*.html.gz"))[::10]
    texts += [gzip.decompress(page.read_bytes()).decode("utf-8", errors="replace")[:60_000] for page in pages]
    assert len(pages) > 40
    for text in texts:
        _same(text)
