"""The embedded sample corpus: size, formats, planted problems and languages as documented."""

import gzip
import importlib.util
import io
import json
import re
import unicodedata
from pathlib import Path

import ftfy
import pyarrow.parquet as pq
import pytest
import zstandard
from fastwarc.warc import ArchiveIterator, WarcRecordType

from pipelines.html_text import extract_main_text

SAMPLE = Path(__file__).resolve().parents[1] / "sample"
GENERATED = ["web.jsonl", "news.jsonl.gz", "forum.jsonl.zst", "wiki.parquet", "lines.txt", "crawl.warc.gz",
             "planted.json", "README.md"]


@pytest.fixture(scope="module")
def summary() -> dict:
    return json.loads((SAMPLE / "planted.json").read_text(encoding="utf-8"))


def jsonl_lines(raw: bytes) -> list[bytes]:
    return raw.rstrip(b"\n").split(b"\n")


def warc_texts() -> dict[str, tuple[str, bytes]]:
    """URL -> (WARC-Type, HTTP body) for every response and revisit record."""
    out = {}
    with open(SAMPLE / "crawl.warc.gz", "rb") as f:
        for record in ArchiveIterator(f, record_types=WarcRecordType.response | WarcRecordType.revisit):
            record.parse_http()
            out[record.headers["WARC-Target-URI"]] = (record.headers["WARC-Type"], record.reader.read(),
                                                     record.http_content_type)
    return out


@pytest.fixture(scope="module")
def documents() -> dict[str, str]:
    """Every parseable document's text, keyed as planted.json keys them."""
    docs = {}
    for line in jsonl_lines((SAMPLE / "web.jsonl").read_bytes()):
        try:
            rec = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        docs[rec["id"]] = rec.get("text")
    for line in gzip.decompress((SAMPLE / "news.jsonl.gz").read_bytes()).decode().splitlines():
        rec = json.loads(line)
        docs[rec["id"]] = rec["text"]
    with zstandard.ZstdDecompressor().stream_reader(open(SAMPLE / "forum.jsonl.zst", "rb")) as reader:
        for line in io.TextIOWrapper(reader, encoding="utf-8"):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            docs[rec["post_id"]] = rec["body"]
    for row in pq.read_table(SAMPLE / "wiki.parquet").to_pylist():
        docs[row["id"]] = row["text"]
    for n, line in enumerate((SAMPLE / "lines.txt").read_text(encoding="utf-8").splitlines(), 1):
        docs[f"lines.txt:{n}"] = line
    for path in (SAMPLE / "books").glob("*.txt"):
        docs[f"books/{path.name}"] = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    for path in (SAMPLE / "pages").glob("*.html"):
        raw = path.read_bytes()
        charset = re.search(rb'charset="([\w-]+)"', raw).group(1).decode()
        docs[f"pages/{path.name}"] = extract_main_text(raw.decode(charset))
    for url, (kind, body, ctype) in warc_texts().items():
        docs[f"warc:{url}"] = extract_main_text(body.decode("utf-8")) if ctype == "text/html" else ""
    return docs


def test_sample_is_small(summary):
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert total < 2 * 1024 * 1024, f"sample/ is {total} bytes"
    assert 150 <= len(summary["languages"]) <= 260


def test_generator_reproduces_the_committed_files_byte_for_byte(tmp_path):
    spec = importlib.util.spec_from_file_location("make_sample", SAMPLE / "make_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(tmp_path)
    for name in GENERATED:
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), f"{name} differs: rerun make_sample.py"
    for folder in ("books", "pages"):
        for path in (SAMPLE / folder).iterdir():
            assert (tmp_path / folder / path.name).read_bytes() == path.read_bytes(), path


def test_web_jsonl_has_exactly_the_planted_malformed_lines(summary):
    lines = jsonl_lines((SAMPLE / "web.jsonl").read_bytes())
    planted = {p["line"]: p["variant"] for p in summary["planted"]
               if p["kind"] == "malformed" and p["file"] == "web.jsonl"}
    assert len(planted) == 7
    for n, line in enumerate(lines, 1):
        variant = planted.get(n)
        if variant == "invalid_utf8":
            with pytest.raises(UnicodeDecodeError):
                line.decode("utf-8")
            continue
        if variant == "broken_json":
            with pytest.raises(json.JSONDecodeError):
                json.loads(line)
            continue
        rec = json.loads(line.decode("utf-8"))
        text = rec.get("text")
        if variant is None:
            assert isinstance(text, str) and text.strip() and "\x00" not in text, f"web.jsonl line {n}"
        else:
            bad = {"missing_text": "text" not in rec, "text_not_string": isinstance(text, int),
                   "text_is_list": isinstance(text, list), "empty_text": text == "",
                   "nul_byte": isinstance(text, str) and "\x00" in text}
            assert bad[variant], f"web.jsonl line {n} should be {variant}"


def test_compressed_and_columnar_sources_parse(summary):
    news = gzip.decompress((SAMPLE / "news.jsonl.gz").read_bytes()).decode().splitlines()
    assert all(isinstance(json.loads(line)["text"], str) for line in news)
    assert len(news) == summary["files"]["news.jsonl.gz"]["records"]

    forum = zstandard.ZstdDecompressor().decompressobj().decompress((SAMPLE / "forum.jsonl.zst").read_bytes())
    forum_lines = forum.decode("utf-8").splitlines()
    for line in forum_lines[:-1]:
        assert isinstance(json.loads(line)["body"], str)
    with pytest.raises(json.JSONDecodeError):
        json.loads(forum_lines[-1])  # the planted truncated last record

    parquet = pq.ParquetFile(SAMPLE / "wiki.parquet")
    assert parquet.metadata.num_row_groups >= 2
    table = parquet.read()
    nulls = [row["id"] for row in table.to_pylist() if row["text"] is None]
    assert nulls == ["wiki-null-text"]


def test_books_lines_and_pages(summary):
    books = sorted((SAMPLE / "books").glob("*.txt"))
    assert len(books) == 4
    bom = [p.name for p in books if p.read_bytes().startswith(b"\xef\xbb\xbf")]
    assert bom == ["workshop_notes.txt"] and b"\r\n" in (SAMPLE / "books" / "workshop_notes.txt").read_bytes()
    lines = (SAMPLE / "lines.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == summary["files"]["lines.txt"]["records"] and all(lines)
    pages = sorted((SAMPLE / "pages").glob("*.html"))
    assert len(pages) == 5
    for page in pages:
        raw = page.read_bytes()
        assert b"<nav>" in raw and b"<footer>" in raw and b"cookie" in raw


def test_warc_records(summary):
    types = []
    with open(SAMPLE / "crawl.warc.gz", "rb") as f:
        for record in ArchiveIterator(f):
            types.append(record.headers["WARC-Type"])
    assert types[0] == "warcinfo"
    assert types.count("revisit") == 1
    assert types.count("request") == types.count("response") >= 5
    bodies = warc_texts()
    content_types = sorted({ctype for kind, _, ctype in bodies.values() if kind == "response"})
    assert content_types == ["image/png", "text/html"]


def test_every_planted_id_exists_and_is_documented(summary, documents):
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    kinds = {p["kind"] for p in summary["planted"]}
    assert {"exact_duplicate", "near_duplicate", "near_duplicate_chain", "low_quality", "pii", "bias_terms",
            "malformed", "non_html_response", "revisit"} <= kinds
    for p in summary["planted"]:
        for key in p["ids"]:
            assert key in documents, f"planted {p['kind']}/{p['variant']}: {key} not found in the sample files"
            assert f"`{key}`" in readme, f"{key} missing from sample/README.md"


def test_planted_duplicates_are_what_they_claim(summary, documents):
    def collapse(text: str) -> str:
        return "\n\n".join(" ".join(p.split()) for p in text.strip().split("\n\n"))

    for p in summary["planted"]:
        if p["kind"] != "exact_duplicate":
            continue
        a, b = (documents[k] for k in p["ids"])
        if p["variant"].startswith("NFD"):
            assert a != b and unicodedata.normalize("NFC", b) == a
        elif p["variant"].startswith("UTF-8 read as cp1252"):
            assert a != b and ftfy.fix_text(b) == a
        elif p["variant"].startswith("extra spaces"):
            assert a != b and collapse(b) == a
        else:
            assert a == b and a.strip(), p


def test_near_duplicates_have_the_recorded_similarity(summary, documents):
    def shingles(text):
        words = [w.lower() for w in re.findall(r"\w+", text)]
        return {tuple(words[i:i + 5]) for i in range(len(words) - 4)}

    near = [p for p in summary["planted"] if p["kind"] == "near_duplicate"]
    assert len(near) >= 4
    for p in near:
        a, b = (shingles(documents[k]) for k in p["ids"])
        j = len(a & b) / len(a | b)
        assert 0.8 <= j <= 0.95 and abs(j - p["jaccard_5gram"]) < 0.002, p


def test_pii_is_present(summary, documents):
    pii = [p for p in summary["planted"] if p["kind"] == "pii"]
    entities = {e for p in pii for e in p["entities"]}
    assert {"email", "phone", "ipv4_public", "ipv4_private", "ipv6_public", "ipv6_private", "credit_card",
            "order_number_not_luhn", "iban", "us_ssn", "aws_access_key", "github_token"} <= entities
    for p in pii:
        text = documents[p["ids"][0]]
        assert len(text.split()) > 150, "PII sits inside otherwise good prose"
        for s in p["strings"]:
            assert s in text
    assert re.search(r"\bghp_[A-Za-z0-9]{36}\b", "\n".join(documents[p["ids"][0]] for p in pii))


def test_languages_are_as_documented(summary, documents):
    from quality.langid import LanguageIdentifier

    lid = LanguageIdentifier()
    wrong = {}
    for key, lang in summary["languages"].items():
        got, score = lid.predict(documents[key])
        if got != lang:
            wrong[key] = (lang, got, round(score, 2))
    assert not wrong, f"fastText disagrees with the documented language: {wrong}"
    assert {"en", "fr", "de", "es", "pt", "nl", "it", "ja", "zh"} <= set(summary["languages"].values())
