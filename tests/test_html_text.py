"""extract_main_text on real pages (gold articles) and on crafted bad input."""

import gzip
import json
import re

import pytest

from pipelines.html_text import extract_main_text

WORD = re.compile(r"\w+")


def words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)}


@pytest.fixture(scope="module")
def article_pages(corpora):
    root = corpora / "web" / "html" / "article_extraction_benchmark"
    gold = json.loads(gzip.decompress((root / "ground-truth.json.gz").read_bytes()))
    keys = sorted(gold)[:8]
    return [(gzip.decompress((root / f"{k}.html.gz").read_bytes()).decode("utf-8", "replace"),
             gold[k]["url"], gold[k]["articleBody"]) for k in keys]


def test_real_articles_match_their_gold_body(article_pages):
    for html, url, gold in article_pages:
        text = extract_main_text(html, url)
        got, want = words(text), words(gold)
        recall = len(got & want) / len(want)
        precision = len(got & want) / len(got)
        assert recall > 0.8 and precision > 0.6, (url, round(recall, 2), round(precision, 2))


def test_real_page_drops_navigation_and_footer(corpora):
    """trafilatura's own eval page: the gold 'with' snippets are in, the 'without' ones (menus, imprint) out."""
    root = corpora / "web" / "html" / "trafilatura_cache"
    evaldata = json.loads(gzip.decompress((root / "evaldata.json.gz").read_bytes()))
    entry = next(e for e in evaldata.values() if e["file"] == "bmjv.de.konsum.html")
    html = gzip.decompress((root / "bmjv.de.konsum.html.gz").read_bytes()).decode("utf-8")
    text = extract_main_text(html)
    assert all(s in text for s in entry["with"])
    assert "Impressum" not in text and "Twitter" not in text


def test_sample_page_keeps_article_and_drops_boilerplate(repo):
    page = next((repo / "sample" / "pages").glob("en-*.html"))
    text = extract_main_text(page.read_text(encoding="utf-8"), "https://example.com/page")
    assert len(text.split()) > 150
    assert "All rights reserved" not in text
    assert "We use cookies" not in text
    assert "Popular this week" not in text


@pytest.mark.parametrize(
    "html",
    [
        "",
        "   \n\t ",
        "<html><head><script>var a = 1; for (;;) {}</script></head><body><script>alert(1)</script></body></html>",
        "<<<>>><//p><div<div>>",
        "\x00\x01\x02\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        bytes(range(256)).decode("latin-1") * 20,
    ],
    ids=["empty", "whitespace", "script-only", "broken-tags", "binary-header", "binary-garbage"],
)
def test_bad_markup_never_raises_and_yields_no_text(html):
    assert extract_main_text(html) == ""


def test_unclosed_tags_still_give_their_text():
    assert extract_main_text("<html><body><p>Unclosed <b>tags <i>everywhere") == "Unclosed tags everywhere"


def test_non_string_input_is_empty():
    assert extract_main_text(None) == ""  # type: ignore[arg-type]
    assert extract_main_text(b"<p>bytes</p>") == ""  # type: ignore[arg-type]


def test_markup_decoded_from_a_legacy_charset(repo):
    """A windows-1252 page (the sample's German page), decoded with its declared charset before extraction."""
    page = next((repo / "sample" / "pages").glob("de-*.html"))
    raw = page.read_bytes()
    assert b'charset="windows-1252"' in raw
    text = extract_main_text(raw.decode("cp1252"))
    assert "Wochenmarkt" in text or "Markt" in text
    assert any(ch in text for ch in "äöüß")
    assert "\ufffd" not in text
