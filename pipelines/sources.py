"""Input files to documents: JSONL(.gz/.zst), Parquet, plain text, HTML and WARC.

Every reader streams (a line, a Parquet row group or a WARC record at a time)
and turns each input record into exactly one of: a document, a rejected row
(a WARC response that is not HTML), or an error naming the file and offset.
Files are opened through fsspec, so any URL with an installed fsspec backend works.
"""

from __future__ import annotations

import dataclasses
import io
import json
import posixpath
from typing import Iterator

import apache_beam as beam
import fsspec
from fsspec.core import url_to_fs

from pipelines.config import CurateConfig, SourceConfig
from pipelines.formats import FORMAT_SUFFIXES
from gristmill.errors import GristmillError
from pipelines.html_text import extract_main_text
from pipelines.stage import REJECTED, Stage, reject

ERRORS = "errors"
COMPRESSION_SUFFIXES = (".gz", ".zst", ".bz2", ".xz")
EXCERPT_CHARS = 200
BINARY_PROBE_BYTES = 8192
HTML_TYPES = ("text/html", "application/xhtml+xml")
GLOB_CHARS = "*?["


def detect_format(path: str) -> str | None:
    name = posixpath.basename(path).lower()
    for suffix in COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return FORMAT_SUFFIXES.get(posixpath.splitext(name)[1])


@dataclasses.dataclass(frozen=True)
class InputFile:
    url: str  # openable by fsspec
    relpath: str  # path below the source root, used in generated ids
    source: str
    format: str
    spec: SourceConfig
    id_prefix: str  # the source, plus the file's relpath when the source has several files
    html_extractor: str = "trafilatura"  # `html.extractor`, for html and warc files

    def doc_id(self, record_id) -> str:
        """A record's own id made unique across files and sources."""
        return f"{self.id_prefix}/{record_id}"

    def located_id(self, locator: str) -> str:
        """An id for a record without one: where it sits in its file."""
        return f"{self.source}/{self.relpath}{locator}"


def _source_name(spec: SourceConfig, root: str) -> str:
    if spec.name:
        return spec.name
    base = posixpath.basename(root.rstrip("/")) or root
    for suffix in COMPRESSION_SUFFIXES:
        base = base.removesuffix(suffix)
    return posixpath.splitext(base)[0] if "." in base else base


def expand_inputs(config: CurateConfig) -> tuple[list[InputFile], list[str]]:
    """All input files, and the files skipped in directories because their format is unknown.

    A path that matches nothing stops the run before any work starts.
    """
    if not config.inputs:
        raise GristmillError("no inputs: give --input PATH or an `inputs:` list in the config")
    files: list[InputFile] = []
    skipped: list[str] = []
    for spec in config.inputs:
        fs, root = url_to_fs(spec.path)
        if any(c in root for c in GLOB_CHARS):
            paths = sorted(p for p in fs.glob(root) if fs.isfile(p))
            base = root[: min(root.find(c) for c in GLOB_CHARS if c in root)].rsplit("/", 1)[0]
        elif fs.isdir(root):
            paths = sorted(fs.find(root))
            base = root
        elif fs.exists(root):
            paths, base = [root], posixpath.dirname(root)
        else:
            raise GristmillError(f"input not found: {spec.path}")
        if not paths:
            raise GristmillError(f"input matches no files: {spec.path}")
        name = _source_name(spec, root)
        for path in paths:
            fmt = spec.format if spec.format != "auto" else detect_format(path)
            if fmt is None:
                if len(paths) == 1:
                    raise GristmillError(
                        f"cannot tell the format of {path} from its name; set `format:` "
                        f"(one of {', '.join(sorted(set(FORMAT_SUFFIXES.values())))})"
                    )
                skipped.append(fs.unstrip_protocol(path))
                continue
            relpath = posixpath.relpath(path, base) if base else path
            prefix = f"{name}/{relpath}" if len(paths) > 1 else name
            files.append(InputFile(fs.unstrip_protocol(path), relpath, name, fmt, spec, prefix, config.html.extractor))
    return files, skipped


def error_record(path: str, offset: int, unit: str, message: str, raw: bytes | str | None = None) -> dict:
    if isinstance(raw, bytes):
        raw = raw[:EXCERPT_CHARS].decode("utf-8", errors="backslashreplace")
    return {
        "source_path": path,
        "offset": offset,
        "offset_unit": unit,
        "message": message,
        "excerpt": None if raw is None else raw[:EXCERPT_CHARS],
    }


def _error(*args, **kwargs):
    return beam.pvalue.TaggedOutput(ERRORS, error_record(*args, **kwargs))


def _doc(file: InputFile, doc_id: str, text: str, url=None, date=None, metadata: dict | None = None) -> dict:
    return {
        "id": doc_id,
        "text": text,
        "source": file.source,
        "url": url,
        "date": date,
        "metadata": json.dumps(metadata, sort_keys=True, ensure_ascii=False, default=str) if metadata else None,
    }


def _record_fields(file: InputFile, record: dict, locator: str):
    """(id, url, metadata) from a JSON object or Parquet row."""
    spec = file.spec
    raw_id = record.get(spec.id_field)
    has_id = isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) and str(raw_id)
    doc_id = file.doc_id(raw_id) if has_id else file.located_id(locator)
    url = record.get(spec.url_field)
    skip = {spec.text_field, spec.id_field, spec.url_field}
    metadata = {k: v for k, v in record.items() if k not in skip}
    return doc_id, url if isinstance(url, str) else None, metadata


def read_jsonl(file: InputFile) -> Iterator:
    spec = file.spec
    line_no = 0
    try:
        with fsspec.open(file.url, "rb", compression="infer") as handle:
            for raw in io.BufferedReader(handle):  # zstd streams only iterate lines when buffered
                line_no += 1
                if not raw.strip():
                    continue  # blank lines separate nothing and are not records
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    yield _error(file.url, line_no, "line", f"invalid UTF-8 at byte {err.start} of the line", raw)
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    yield _error(file.url, line_no, "line", f"malformed JSON: {err.msg} at column {err.colno}", raw)
                    continue
                if not isinstance(record, dict):
                    yield _error(file.url, line_no, "line", f"a JSON {type(record).__name__}, not an object", raw)
                    continue
                text = record.get(spec.text_field)
                if spec.text_field not in record:
                    fields = ", ".join(sorted(record)) or "none"
                    yield _error(file.url, line_no, "line", f"no '{spec.text_field}' field (fields: {fields})", raw)
                    continue
                if not isinstance(text, str):
                    kind = type(text).__name__
                    yield _error(file.url, line_no, "line", f"'{spec.text_field}' is {kind}, not a string", raw)
                    continue
                doc_id, url, metadata = _record_fields(file, record, f"#L{line_no}")
                yield _doc(file, doc_id, text, url, metadata=metadata)
        if line_no == 0:
            yield _error(file.url, 0, "byte", "empty file")
    except FileNotFoundError:
        yield _error(file.url, 0, "byte", "file not found (removed after the run started?)")
    except Exception as err:  # truncated gzip/zstd streams and I/O errors end the file, not the run
        yield _error(file.url, line_no + 1, "line", f"could not read past line {line_no}: {type(err).__name__}: {err}")


def parquet_groups(file: InputFile) -> list[tuple[int, int, int]] | dict:
    """(row group, its first row, its compressed bytes) of a Parquet file, or the error that makes it unreadable."""
    import pyarrow.parquet as pq

    try:
        with fsspec.open(file.url, "rb") as handle:
            meta = pq.ParquetFile(handle).metadata
            columns = meta.schema.to_arrow_schema().names
    except Exception as err:
        return error_record(file.url, 0, "byte", f"not a readable Parquet file: {type(err).__name__}: {err}")
    if file.spec.text_field not in columns:
        return error_record(
            file.url, 0, "row", f"no '{file.spec.text_field}' column (columns: {', '.join(columns) or 'none'})"
        )
    if meta.num_rows == 0:
        return error_record(file.url, 0, "row", "empty file (no rows)")
    groups, first_row = [], 0
    for group in range(meta.num_row_groups):
        info = meta.row_group(group)
        groups.append((group, first_row, sum(info.column(c).total_compressed_size for c in range(info.num_columns))))
        first_row += info.num_rows
    return groups


def read_parquet_group(file: InputFile, group: int, first_row: int) -> Iterator:
    import pyarrow.parquet as pq

    text_field = file.spec.text_field
    row = first_row
    try:
        with fsspec.open(file.url, "rb") as handle:
            for batch in pq.ParquetFile(handle).iter_batches(row_groups=[group], batch_size=1024):
                for record in batch.to_pylist():
                    text = record.get(text_field)
                    if not isinstance(text, str):
                        kind = "null" if text is None else type(text).__name__
                        yield _error(file.url, row, "row", f"'{text_field}' is {kind}, not a string", repr(record)[:EXCERPT_CHARS])
                    else:
                        doc_id, url, metadata = _record_fields(file, record, f"#R{row}")
                        yield _doc(file, doc_id, text, url, metadata=metadata)
                    row += 1
    except Exception as err:
        yield _error(file.url, row, "row", f"could not read row group {group}: {type(err).__name__}: {err}")


def _decode_text_file(data: bytes) -> tuple[str | None, str | None]:
    """(text, None) or (None, why it is not text)."""
    if b"\x00" in data[:BINARY_PROBE_BYTES]:
        return None, "binary file (NUL bytes in the first 8 KiB), not text"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as err:
        return None, f"invalid UTF-8 at byte {err.start}"


def _read_whole(file: InputFile) -> tuple[bytes | None, beam.pvalue.TaggedOutput | None]:
    """(the file's bytes, None), or (None, the error) when it cannot be read or is empty."""
    try:
        with fsspec.open(file.url, "rb", compression="infer") as handle:
            data = handle.read()
    except Exception as err:
        return None, _error(file.url, 0, "byte", f"could not read: {type(err).__name__}: {err}")
    if not data:
        return None, _error(file.url, 0, "byte", "empty file")
    return data, None


def read_text(file: InputFile) -> Iterator:
    if file.spec.text_mode == "line":
        yield from _read_text_lines(file)
        return
    data, error = _read_whole(file)
    if error:
        yield error
        return
    text, problem = _decode_text_file(data)
    if problem:
        yield _error(file.url, 0, "byte", problem, data)
    else:
        yield _doc(file, file.located_id(""), text)


def _read_text_lines(file: InputFile) -> Iterator:
    line_no = 0
    with fsspec.open(file.url, "rb", compression="infer") as handle:
        for raw in io.BufferedReader(handle):
            line_no += 1
            if not raw.strip():
                continue
            if b"\x00" in raw:
                yield _error(file.url, line_no, "line", "NUL byte in a text line (binary data?)", raw)
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                yield _error(file.url, line_no, "line", f"invalid UTF-8 at byte {err.start} of the line", raw)
                continue
            yield _doc(file, file.located_id(f"#L{line_no}"), text.rstrip("\r\n"))


def _decode_html(data: bytes, declared: str | None = None) -> str:
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    return bytes_to_str(data, declared or detect_encoding(data))


def read_html(file: InputFile) -> Iterator:
    data, error = _read_whole(file)
    if error:
        yield error
        return
    yield _doc(file, file.located_id(""), extract_main_text(_decode_html(data), extractor=file.html_extractor))


def read_warc(file: InputFile) -> Iterator:
    """HTTP responses (HTML extracted) and WET conversion records; other record types are not documents."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    position, found = 0, 0
    try:
        with fsspec.open(file.url, "rb") as handle:
            records = ArchiveIterator(handle, record_types=WarcRecordType.response | WarcRecordType.conversion)
            for record in records:
                position, found = record.stream_pos, found + 1
                url = (record.headers.get("WARC-Target-URI") or "").strip("<>") or None
                date = record.headers.get("WARC-Date")
                record_id = (record.record_id or "").strip("<>").removeprefix("urn:uuid:")
                doc_id = file.doc_id(record_id) if record_id else file.located_id(f"@{position}")
                body = record.reader.read()
                doc = _doc(file, doc_id, "", url, date)
                if record.record_type == WarcRecordType.conversion:
                    doc["text"] = body.decode("utf-8", errors="replace")
                    yield doc
                    continue
                content_type = (record.http_content_type or "").lower()
                if not content_type.startswith(HTML_TYPES):
                    yield beam.pvalue.TaggedOutput(REJECTED, reject(doc, "read:not_html", content_type or "unknown"))
                    continue
                doc["text"] = extract_main_text(_decode_html(body, record.http_charset), url, file.html_extractor)
                yield doc
        if not found:
            yield _error(file.url, 0, "byte", "no WARC response or conversion records (empty or not a WARC file)")
    except Exception as err:
        yield _error(file.url, position, "byte", f"could not read WARC past byte {position}: {type(err).__name__}: {err}")


@dataclasses.dataclass(frozen=True)
class Unit:
    """One read task: consecutive small files read together, one larger file, or one Parquet row group;
    or a Parquet file that cannot be read at all (`error`)."""

    index: int
    files: tuple[InputFile, ...]
    group: int | None = None  # the Parquet row group
    first_row: int = 0
    input_bytes: int = 0
    fingerprints: tuple[str, ...] = ()  # size and modification time of each file: a changed file makes its unit be read again
    error: dict | None = None


def _fingerprint(file: InputFile) -> tuple[int, str]:
    fs, path = url_to_fs(file.url)
    try:
        info = fs.info(path)
    except OSError:
        return 0, "missing"
    modified = info.get("mtime") or info.get("LastModified") or info.get("ETag") or info.get("updated") or ""
    return int(info.get("size") or 0), f"{info.get('size')}:{modified}"


def plan_units(files: list[InputFile], unit_bytes: int) -> list[Unit]:
    """The read units in a fixed order (file order, then row group); Parquet footers are read here.

    Consecutive files other than Parquet share a unit while together they hold at most `unit_bytes`
    (`runner.unit_bytes`): a unit's staged files, markers and Beam element cost the same
    for one small page as for many. A file of `unit_bytes` or more is a unit of its own, and so
    is each row group of a Parquet file.
    """
    units: list[Unit] = []
    gathered: list[tuple[InputFile, int, str]] = []  # consecutive small files not yet in a unit: (file, size, fingerprint)
    held = 0  # their bytes

    def close_gathered():
        nonlocal held
        if gathered:
            files_, _, fingerprints = zip(*gathered)
            units.append(Unit(len(units), files_, input_bytes=held, fingerprints=fingerprints))
            gathered.clear()
            held = 0

    for file in files:
        size, fingerprint = _fingerprint(file)
        if file.format != "parquet":
            if gathered and held + size > unit_bytes:
                close_gathered()
            gathered.append((file, size, fingerprint))
            held += size
            if held >= unit_bytes:
                close_gathered()
            continue
        close_gathered()
        groups = parquet_groups(file)
        if isinstance(groups, dict):
            units.append(Unit(len(units), (file,), fingerprints=(fingerprint,), error=groups))
            continue
        for group, first_row, group_bytes in groups:
            units.append(Unit(len(units), (file,), group, first_row, group_bytes, (fingerprint,)))
    close_gathered()
    return units


READERS = {"jsonl": read_jsonl, "text": read_text, "html": read_html, "warc": read_warc}


def read_unit(unit: Unit) -> Iterator:
    """The unit's records, file by file: documents (dicts) and TaggedOutputs for errors and rejected rows."""
    if unit.error is not None:
        yield beam.pvalue.TaggedOutput(ERRORS, unit.error)
    elif unit.group is not None:
        yield from read_parquet_group(unit.files[0], unit.group, unit.first_row)
    else:
        for file in unit.files:
            yield from READERS[file.format](file)


class ReadStage(Stage):
    """Reading and parsing (`read_unit`): rejects `read:<rule>`; records that cannot be read are errors."""

    name = "read"

    @classmethod
    def from_config(cls, config, layout):
        return cls()
