"""Readers, one format and one kind of bad input at a time (no Beam runner needed)."""

import gzip
import json

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from pipelines.config import CurateConfig, RunnerConfig, SourceConfig
from gristmill.errors import GristmillError
from pipelines.sources import InputFile, detect_format, expand_inputs, plan_units, read_unit

UNIT_BYTES = RunnerConfig().unit_bytes


def read(path, fmt=None, **spec):
    """Run the reader on one file; returns (docs, rejected, errors)."""
    spec = SourceConfig(path=str(path), **spec)
    file = InputFile(f"file://{path}", path.name, "src", fmt or detect_format(str(path)), spec, "src")
    docs, rejected, errors = [], [], []
    for unit in plan_units([file], UNIT_BYTES):
        for out in read_unit(unit):
            if isinstance(out, beam.pvalue.TaggedOutput):
                (errors if out.tag == "errors" else rejected).append(out.value)
            else:
                docs.append(out)
    return docs, rejected, errors


def test_detect_format_from_name():
    assert detect_format("a/b.jsonl.gz") == "jsonl"
    assert detect_format("x.JSONL.ZST") == "jsonl"
    assert detect_format("x.parquet") == "parquet"
    assert detect_format("x.warc.gz") == "warc"
    assert detect_format("x.warc.wet.gz") == "warc"
    assert detect_format("page.htm") == "html"
    assert detect_format("book.txt") == "text"
    assert detect_format("notes.docx") is None


def test_jsonl_fields_metadata_and_generated_ids(tmp_path):
    path = tmp_path / "web.jsonl"
    path.write_text(
        json.dumps({"id": "a", "text": "one", "url": "http://x", "lang_hint": "en"}) + "\n"
        + json.dumps({"text": "two"}) + "\n"
    )
    docs, _, errors = read(path)
    assert errors == []
    assert [d["id"] for d in docs] == ["src/a", "src/web.jsonl#L2"]  # own id, else file and line
    assert docs[0]["url"] == "http://x"
    assert json.loads(docs[0]["metadata"]) == {"lang_hint": "en"}
    assert docs[1]["metadata"] is None


def test_jsonl_custom_field_names(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"doc_id": 7, "content": "body", "link": "u"}) + "\n")
    docs, _, errors = read(path, text_field="content", id_field="doc_id", url_field="link")
    assert errors == [] and docs[0]["id"] == "src/7" and docs[0]["text"] == "body" and docs[0]["url"] == "u"


def test_jsonl_bad_records_become_errors_with_line_numbers(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        b'{"text": "good"}\n'
        b"{broken json\n"
        b'{"text": "caf\xe9"}\n'  # latin-1 byte: invalid UTF-8
        b'{"id": "no-text"}\n'
        b'{"text": ["not", "a", "string"]}\n'
        b"[1, 2]\n"
        b'{"text": "nul \\u0000 inside"}\n'
    )
    docs, _, errors = read(path)
    assert [d["text"] for d in docs] == ["good", "nul \x00 inside"]  # the NUL is removed by normalize
    by_line = {e["offset"]: e["message"] for e in errors}
    assert set(by_line) == {2, 3, 4, 5, 6}
    assert "malformed JSON" in by_line[2]
    assert "invalid UTF-8" in by_line[3]
    assert "no 'text' field" in by_line[4]
    assert "list, not a string" in by_line[5]
    assert "not an object" in by_line[6]
    assert all(e["source_path"].endswith("bad.jsonl") and e["offset_unit"] == "line" for e in errors)
    assert all(e["excerpt"] for e in errors)


def test_compressed_jsonl(tmp_path):
    lines = b"".join(json.dumps({"text": f"doc {i}"}).encode() + b"\n" for i in range(5))
    gz = tmp_path / "a.jsonl.gz"
    gz.write_bytes(gzip.compress(lines))
    zst = tmp_path / "b.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(lines))
    for path in (gz, zst):
        docs, _, errors = read(path)
        assert errors == [] and len(docs) == 5


def test_truncated_gzip_keeps_what_was_read_and_reports_the_rest(tmp_path):
    lines = b"".join(json.dumps({"text": f"document number {i} " * 20}).encode() + b"\n" for i in range(2000))
    data = gzip.compress(lines)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    docs, _, errors = read(path)
    assert 0 < len(docs) < 2000
    assert len(errors) == 1
    assert "could not read past line" in errors[0]["message"] and "cut.jsonl.gz" in errors[0]["source_path"]


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.txt", "empty.html"])
def test_empty_file_is_reported(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    docs, _, errors = read(path)
    assert docs == [] and len(errors) == 1 and errors[0]["message"].startswith("empty file")


def test_parquet_row_groups_and_missing_text_column(tmp_path):
    table = pa.table({"id": [f"r{i}" for i in range(10)], "text": [f"row {i}" for i in range(9)] + [None], "n": list(range(10))})
    good = tmp_path / "good.parquet"
    pq.write_table(table, good, row_group_size=4)
    docs, _, errors = read(good)
    assert len(docs) == 9 and json.loads(docs[0]["metadata"]) == {"n": 0}
    assert len(errors) == 1 and errors[0]["offset"] == 9 and "null" in errors[0]["message"]

    bad = tmp_path / "notext.parquet"
    pq.write_table(pa.table({"body": ["x"]}), bad)
    docs, _, errors = read(bad)
    assert docs == [] and "no 'text' column (columns: body)" in errors[0]["message"]


def test_parquet_that_is_not_parquet(tmp_path):
    path = tmp_path / "fake.parquet"
    path.write_bytes(b"this is not parquet at all")
    docs, _, errors = read(path)
    assert docs == [] and "not a readable Parquet file" in errors[0]["message"]


def test_text_file_and_line_modes(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("first line\n\nsecond line\n")
    docs, _, _ = read(path)
    assert len(docs) == 1 and docs[0]["id"] == "src/notes.txt"
    docs, _, _ = read(path, text_mode="line")
    assert [d["text"] for d in docs] == ["first line", "second line"]
    assert [d["id"] for d in docs] == ["src/notes.txt#L1", "src/notes.txt#L3"]


def test_binary_file_given_as_text(tmp_path):
    path = tmp_path / "image.txt"
    path.write_bytes(bytes(range(256)) * 10)
    docs, _, errors = read(path)
    assert docs == [] and "binary file" in errors[0]["message"] and errors[0]["source_path"].endswith("image.txt")


def test_html_file_main_text(tmp_path):
    body = " ".join(["The mill grinds grain into flour for the village bakery every morning."] * 8)
    path = tmp_path / "page.html"
    path.write_text(f"<html><head><title>t</title></head><body><nav>Home | About</nav><article><p>{body}</p></article></body></html>")
    docs, _, errors = read(path)
    assert errors == [] and "grinds grain" in docs[0]["text"] and "<p>" not in docs[0]["text"]


def _warc_record(kind: str, uri: str, payload: bytes, content_type: str) -> bytes:
    head = (
        f"WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Target-URI: {uri}\r\nWARC-Date: 2024-01-02T03:04:05Z\r\n"
        f"WARC-Record-ID: <urn:uuid:{abs(hash((kind, uri))):032x}>\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    return head + payload + b"\r\n\r\n"


def _http(body: bytes, mime: str) -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Type: {mime}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def test_warc_responses_html_and_non_html(tmp_path):
    article = " ".join(["Millers once measured flour by the sack and the bushel in market towns."] * 8)
    html = f"<html><body><article><p>{article}</p></article></body></html>".encode()
    data = (
        _warc_record("request", "http://a.example/", b"GET / HTTP/1.1\r\n\r\n", "application/http; msgtype=request")
        + _warc_record("response", "http://a.example/", _http(html, "text/html; charset=utf-8"), "application/http; msgtype=response")
        + _warc_record("response", "http://a.example/logo.png", _http(b"\x89PNG....", "image/png"), "application/http; msgtype=response")
    )
    path = tmp_path / "crawl.warc.gz"
    path.write_bytes(gzip.compress(data))
    docs, rejected, errors = read(path)
    assert errors == []
    assert len(docs) == 1 and docs[0]["url"] == "http://a.example/" and docs[0]["date"] == "2024-01-02T03:04:05Z"
    assert "bushel" in docs[0]["text"]
    assert len(rejected) == 1 and rejected[0]["reason"] == "read:not_html" and rejected[0]["detail"] == "image/png"


def test_real_warc_files(corpora):
    paths = [p for p in sorted((corpora / "web" / "warc").rglob("*")) if detect_format(str(p)) == "warc"]
    assert len(paths) >= 10
    for path in paths:
        docs, rejected, errors = read(path)
        assert docs or rejected or errors, path
        assert all(d["id"].startswith("src/") for d in docs)


def test_expand_inputs_missing_path_stops_the_run(tmp_path):
    config = CurateConfig.parse({"inputs": [str(tmp_path / "nope.jsonl")]})
    with pytest.raises(GristmillError, match="input not found: .*nope.jsonl"):
        expand_inputs(config)


def test_expand_inputs_directory_skips_unknown_formats(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "d" / "README.md").write_text("not data")
    files, skipped = expand_inputs(CurateConfig(inputs=[str(tmp_path / "d")]))
    assert [f.relpath for f in files] == ["a.jsonl"] and files[0].source == "d"
    assert len(skipped) == 1 and skipped[0].endswith("README.md")


def test_expand_inputs_glob_and_file_url(tmp_path):
    for name in ("x1.jsonl", "x2.jsonl", "y.jsonl"):
        (tmp_path / name).write_text('{"text": "x"}\n')
    files, _ = expand_inputs(CurateConfig(inputs=[f"file://{tmp_path}/x*.jsonl"]))
    assert sorted(f.relpath for f in files) == ["x1.jsonl", "x2.jsonl"]
    assert all(f.url.startswith("file://") for f in files)


def _read_file(file):
    docs = []
    for unit in plan_units([file], UNIT_BYTES):
        docs += [out for out in read_unit(unit) if not isinstance(out, beam.pvalue.TaggedOutput)]
    return docs


def test_html_extractor_comes_from_the_config(tmp_path, repo):
    from gristmill.config import ConfigError
    from pipelines.html_text import EXTRACTORS, extract_main_text

    page = next((repo / "sample" / "pages").glob("en-*.html"))
    path = tmp_path / "page.html"
    path.write_bytes(page.read_bytes())
    assert CurateConfig().html.extractor == "trafilatura"
    texts = {}
    for extractor in EXTRACTORS:
        files, _ = expand_inputs(CurateConfig.parse({"inputs": [str(path)], "html": {"extractor": extractor}}))
        assert files[0].html_extractor == extractor
        (doc,) = _read_file(files[0])
        assert doc["text"] == extract_main_text(page.read_text(encoding="utf-8"), extractor=extractor)
        texts[extractor] = doc["text"]
    assert texts["trafilatura"] != texts["resiliparse"]
    with pytest.raises(ConfigError, match="html.extractor"):
        CurateConfig.parse({"html": {"extractor": "lxml"}})
