"""The staging area of a curate run: per-unit files between the pipeline's global steps.

A unit is a group of small input files, one larger file or one Parquet row group
(`pipelines.sources.plan_units`). Each per-unit task streams its documents from
the previous segment's file (or from the source) into new row files, and writes
a completion marker last. Only small records (ids,
hashes, row numbers, decisions) go through Beam's shuffles; document text
lives in these files. A rerun with the same config finds a unit's marker,
checks the digest of everything the unit's work depended on, and reuses it.

Layout below `<output>.staging/<key>/`:
  s1/<unit>.alive.parquet  .rejected.parquet  .errors.jsonl  .done.json   read, normalize, length
  s2/<unit>.alive.parquet  .rejected.parquet  .sig.npy .bands.npy ...     exact dedup applied, per-doc judges
  s3/<unit>.alive.parquet  .rejected.parquet  .done.json                  near-dup applied, PII, bias
  dataset/                                                                the dataset being assembled
"""

from __future__ import annotations

import hashlib
import json
from contextlib import ExitStack
from typing import Iterable, Iterator

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gristmill.files import atomic_open, atomic_write
from pipelines.schema import to_table

# A row group is flushed at this many rows or bytes of text, whichever comes first; both depend
# only on the rows, so the same rows give the same file whatever wrote them.
ROW_GROUP_ROWS = 2000
ROW_GROUP_BYTES = 32 << 20
PARQUET_OPTIONS = dict(compression="zstd", use_dictionary=True, write_statistics=True)


def unit_name(index: int) -> str:
    return f"u{index:07d}"


def digest(*parts) -> str:
    """A short stable hash of JSON-able parts: what a unit's result depends on."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def text_bytes(row: dict) -> int:
    text = row.get("text")
    return len(text.encode("utf-8")) if text else 0


def exists(url: str) -> bool:
    fs, path = fsspec.core.url_to_fs(url)
    return fs.exists(path)


class RowWriter:
    """Streams rows into one Parquet file, row group by row group; the file is whole or absent.

    Rows come as dicts (`write`) or as tables of this schema (`write_table`, which
    copies staged rows without turning them into Python objects); either way a row
    group closes at the same rows. Nothing is written for zero rows: readers treat
    a missing file as empty.
    """

    def __init__(self, url: str, schema: pa.Schema):
        self.url, self._schema = url, schema
        self._rows: list[dict] = []
        self._tables: list[pa.Table] = []
        self._buffered_rows = 0
        self._buffered_bytes = 0
        self._writer = None
        self._file = ExitStack()
        self.rows = 0
        self.bytes = 0

    def write(self, row: dict) -> None:
        self._add(1, text_bytes(row))
        self._rows.append(row)
        self._flush_if_full()

    def write_table(self, table: pa.Table) -> None:
        sizes = pc.binary_length(table["text"]).to_numpy(zero_copy_only=False)
        self._hold_rows()
        start = 0
        while start < len(table):
            room = ROW_GROUP_ROWS - self._buffered_rows
            running = np.cumsum(sizes[start : start + room]) + self._buffered_bytes
            take = min(int(np.searchsorted(running, ROW_GROUP_BYTES)) + 1, len(running))
            self._add(take, int(sizes[start : start + take].sum()))
            self._tables.append(table.slice(start, take))
            start += take
            self._flush_if_full()

    def _add(self, rows: int, size: int) -> None:
        self._buffered_rows += rows
        self._buffered_bytes += size
        self.rows += rows
        self.bytes += size

    def _hold_rows(self) -> None:
        """Pending dict rows become a table, so the row order holds when tables follow."""
        if self._rows:
            self._tables.append(to_table(self._rows, self._schema))
            self._rows = []

    def _flush_if_full(self) -> None:
        if self._buffered_rows >= ROW_GROUP_ROWS or self._buffered_bytes >= ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self._buffered_rows:
            return
        if self._writer is None:
            handle = self._file.enter_context(atomic_open(self.url))
            self._writer = pq.ParquetWriter(handle, self._schema, **PARQUET_OPTIONS)
        self._hold_rows()
        # One chunk per column: the pages, and so the file's bytes, then depend on the rows alone, not on
        # how many pieces (units' files) they came in.
        group = pa.concat_tables(self._tables).combine_chunks()
        self._writer.write_table(group, row_group_size=len(group))
        self._tables, self._buffered_rows, self._buffered_bytes = [], 0, 0

    def close(self) -> dict:
        """Finish the file; returns {"rows", "bytes"} (bytes of text)."""
        self._flush()
        if self._writer is not None:
            self._writer.close()
            self._file.close()  # renames the finished file into place
        return {"rows": self.rows, "bytes": self.bytes}


def write_parquet(url: str, rows: Iterable[dict] | Iterable[pa.Table], schema: pa.Schema) -> dict:
    """All `rows` (dicts, or tables of `schema`) into one Parquet file by streaming; a file with no rows when there are none."""
    writer = RowWriter(url, schema)
    for item in rows:
        writer.write_table(item) if isinstance(item, pa.Table) else writer.write(item)
    stats = writer.close()
    if not stats["rows"]:
        atomic_write(url, lambda handle: pq.write_table(to_table([], schema), handle, **PARQUET_OPTIONS))
    return stats


def json_lines(records: Iterable[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records).encode("utf-8")


def iter_tables(url: str, start: int = 0, stop: int | None = None) -> Iterator[pa.Table]:
    """Rows [start, stop) of a row file written by RowWriter, as one table per row group."""
    fs, path = fsspec.core.url_to_fs(url)
    if not fs.exists(path):
        return
    with fs.open(path, "rb") as handle:
        reader = pq.ParquetFile(handle)
        first = 0
        for group in range(reader.num_row_groups):
            n = reader.metadata.row_group(group).num_rows
            if stop is not None and first >= stop:
                break
            if first + n > start:
                lo, hi = max(start - first, 0), n if stop is None else min(stop - first, n)
                yield reader.read_row_group(group).slice(lo, hi - lo)
            first += n


def iter_rows(url: str, start: int = 0, stop: int | None = None) -> Iterator[dict]:
    """Rows [start, stop) of a row file written by RowWriter, streamed a row group at a time."""
    for table in iter_tables(url, start, stop):
        yield from table.to_pylist()


class LineWriter:
    """JSON lines into one file (errors); whole or absent, nothing written for zero lines."""

    def __init__(self, url: str):
        self.url = url
        self._lines: list[bytes] = []
        self.rows = 0
        self.bytes = 0

    def write(self, record: dict) -> None:
        line = json_lines([record])
        self._lines.append(line)
        self.rows += 1
        self.bytes += len(line)

    def close(self) -> dict:
        if self._lines:
            atomic_write(self.url, b"".join(self._lines))
        return {"rows": self.rows, "bytes": self.bytes}


def iter_lines(url: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
    fs, path = fsspec.core.url_to_fs(url)
    if not fs.exists(path):
        return
    with fs.open(path, "rb") as handle:
        for i, line in enumerate(handle):
            if stop is not None and i >= stop:
                break
            if i >= start:
                yield line


def read_marker(url: str) -> dict | None:
    fs, path = fsspec.core.url_to_fs(url)
    try:
        with fs.open(path, "rb") as handle:
            return json.load(handle)
    except (FileNotFoundError, json.JSONDecodeError):
        return None
