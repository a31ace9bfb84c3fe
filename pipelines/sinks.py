"""Deterministic sharded outputs: Parquet for documents, JSONL for errors.

A row's shard is a hash of its id (or of its source position, for errors) and
rows are sorted within a shard, so the same input and config give byte-identical
files whatever the runner's parallelism.
"""

from __future__ import annotations

import io
import json

import apache_beam as beam
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from pipelines.schema import to_table

PARQUET_OPTIONS = dict(compression="zstd", use_dictionary=True, write_statistics=True, row_group_size=50_000)


def shard_name(index: int, suffix: str) -> str:
    return f"part-{index:05d}.{suffix}"


def shard_of(key: str, shards: int) -> int:
    return xxhash.xxh64_intdigest(key.encode("utf-8")) % shards


def parquet_bytes(rows: list[dict], schema: pa.Schema) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(to_table(rows, schema), buffer, **PARQUET_OPTIONS)
    return buffer.getvalue()


def error_key(error: dict) -> tuple:
    return (error["source_path"], error["offset"], error["message"])


def errors_bytes(errors: list[dict]) -> bytes:
    lines = (json.dumps(e, ensure_ascii=False, sort_keys=True) for e in sorted(errors, key=error_key))
    return "".join(line + "\n" for line in lines).encode("utf-8")


def write_file(url: str, data: bytes) -> None:
    """Write through a temporary name, then rename, so a file is either whole or absent."""
    fs, path = fsspec.core.url_to_fs(url)
    fs.makedirs(fs._parent(path), exist_ok=True)
    tmp = path + ".tmp"
    with fs.open(tmp, "wb") as handle:
        handle.write(data)
    fs.mv(tmp, path)


class _WriteParquetShard(beam.DoFn):
    def __init__(self, directory: str, schema: pa.Schema):
        self._directory = directory
        self._schema = schema

    def process(self, group):
        index, rows = group
        rows = sorted(rows, key=lambda r: r["id"])
        write_file(f"{self._directory}/{shard_name(index, 'parquet')}", parquet_bytes(rows, self._schema))


class WriteParquetShards(beam.PTransform):
    def __init__(self, directory: str, shards: int, schema: pa.Schema):
        super().__init__()
        self._directory, self._shards, self._schema = directory, shards, schema

    def expand(self, rows):
        shards = self._shards
        return (
            rows
            | "KeyByShard" >> beam.Map(lambda r: (shard_of(r["id"], shards), r))
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteParquetShard(self._directory, self._schema))
        )


class _WriteErrorShard(beam.DoFn):
    def __init__(self, directory: str):
        self._directory = directory

    def process(self, group):
        index, errors = group
        write_file(f"{self._directory}/{shard_name(index, 'jsonl')}", errors_bytes(list(errors)))


class WriteErrorShards(beam.PTransform):
    def __init__(self, directory: str, shards: int):
        super().__init__()
        self._directory, self._shards = directory, shards

    def expand(self, errors):
        shards = self._shards
        return (
            errors
            | "KeyByShard" >> beam.Map(lambda e: (shard_of(f"{e['source_path']}\0{e['offset']}", shards), e))
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteErrorShard(self._directory))
        )


class _WriteJson(beam.DoFn):
    def __init__(self, url: str):
        self._url = url

    def process(self, value):
        write_file(self._url, json.dumps(value, sort_keys=True, default=str).encode("utf-8"))


class WriteJson(beam.PTransform):
    """Write a PCollection holding exactly one JSON-able value to one file."""

    def __init__(self, url: str):
        super().__init__()
        self._url = url

    def expand(self, single):
        return single | beam.ParDo(_WriteJson(self._url))
