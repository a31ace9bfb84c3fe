"""A finished gristmill dataset, read through its manifest.json: the one reader of the format.

Only the files listed in the manifest (`shards.data`, `shards.rejected`,
`shards.errors`) are read, in that order, so a half-written or stray file is
never picked up. Two ways in: `batches` streams columns in Arrow record batches
(the tokenizer, the classifier trainer); `read_checked` reads each shard whole,
once, hashing its bytes and counting its rows against the manifest (the report).
No Beam here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from gristmill.errors import GristmillError

FORMAT = "gristmill-dataset-v1"
MANIFEST = "manifest.json"
KINDS = ("data", "rejected", "errors")  # kept rows, rejected rows (Parquet), parse errors (JSON lines)
MISSING = "(missing)"


def load_manifest(root: str | Path) -> tuple[dict, bytes]:
    """(the manifest, its bytes) of the dataset in `root`; a directory without one is not a finished dataset."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise GristmillError(f"{path}: no {MANIFEST} (is {root} a finished gristmill dataset directory?)")
    raw = path.read_bytes()
    try:
        manifest = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise GristmillError(f"{path}: not valid JSON: {err}") from None
    found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
    if found != FORMAT:
        raise GristmillError(f"{path}: format is {found!r}, expected {FORMAT!r}")
    for key in ("counts", "shards"):
        if not isinstance(manifest.get(key), dict):
            raise GristmillError(f"{path}: missing the '{key}' section")
    return manifest, raw


@dataclass
class ShardCheck:
    """A listed shard as the manifest describes it and as found on disk (MISSING or -1 where it is not)."""

    kind: str  # data, rejected or errors
    path: str
    manifest_rows: int
    actual_rows: int
    manifest_sha256: str
    actual_sha256: str


@dataclass(frozen=True)
class Dataset:
    """A dataset directory, opened through its manifest."""

    root: Path
    manifest: dict
    manifest_sha256: str

    @classmethod
    def open(cls, root: str | Path, check_files: bool = True) -> "Dataset":
        """The dataset in `root`; with `check_files`, every listed data shard must exist.

        The report opens without the file check: it names missing shards among its failed expectations.
        """
        root = Path(root)
        path = root / MANIFEST
        manifest, raw = load_manifest(root)
        if check_files:
            shards = manifest["shards"].get("data")
            if not isinstance(shards, list):
                raise GristmillError(f"{path}: missing the shards.data list")
            for shard in shards:
                if not (root / shard["path"]).is_file():
                    raise GristmillError(f"{path}: listed shard {shard['path']} is missing")
        return cls(root, manifest, hashlib.sha256(raw).hexdigest())

    def listed(self, kind: str = "data") -> list[dict]:
        """The manifest's entries (path, rows, sha256, bytes) for one kind of shard, in order."""
        return self.manifest["shards"].get(kind) or []

    def shard_paths(self, kind: str = "data") -> list[Path]:
        return [self.root / shard["path"] for shard in self.listed(kind)]

    @property
    def num_docs(self) -> int:
        """Kept documents, as the manifest counts them."""
        return sum(int(shard["rows"]) for shard in self.listed("data"))

    def columns(self, kind: str = "data") -> set[str]:
        """Column names present in every shard of `kind`."""
        names: set[str] | None = None
        for path in self.shard_paths(kind):
            shard_names = set(pq.read_schema(path).names)
            names = shard_names if names is None else names & shard_names
        return names or set()

    def batches(self, columns: list[str], batch_size: int = 1024, kind: str = "data") -> Iterator[tuple[Path, pa.RecordBatch]]:
        """(shard path, record batch) in shard order then row order, streamed; absent optional columns are left out.

        `id` and `text` are required; other requested columns are read when the dataset has them.
        """
        available = self.columns(kind)
        for required in ("id", "text"):
            if required in columns and required not in available:
                raise GristmillError(f"{self.root}: data shards have no '{required}' column")
        wanted = [c for c in columns if c in available]
        for path in self.shard_paths(kind):
            try:
                parquet = pq.ParquetFile(path)
                for batch in parquet.iter_batches(batch_size=batch_size, columns=wanted):
                    yield path, batch
            except (OSError, pa.ArrowException) as err:
                raise GristmillError(f"{path}: cannot read Parquet shard: {err}") from None

    def texts(self, batch_size: int = 1024) -> Iterator[str]:
        """Every kept document's text, in order."""
        for path, batch in self.batches(["id", "text"], batch_size):
            yield from texts_of(path, batch)

    def read_checked(self, kind: str) -> Iterator[tuple[ShardCheck, pa.Table | list[dict] | None]]:
        """(check, content) for each listed shard of `kind`, each file read whole and once.

        The check holds the manifest's rows and sha256 beside those found on disk; the
        content is the shard's table (data, rejected) or error records (errors), None
        when the file is missing or is not Parquet, so the caller can name every problem.
        A line of an errors shard that is not JSON is an error naming the file and line.
        """
        for entry in self.listed(kind):
            path = self.root / entry["path"]
            raw = path.read_bytes() if path.is_file() else None
            check = ShardCheck(
                kind,
                entry["path"],
                int(entry.get("rows", -1)),
                -1,
                str(entry.get("sha256", MISSING)),
                hashlib.sha256(raw).hexdigest() if raw is not None else MISSING,
            )
            content = None
            if raw is not None and kind == "errors":
                check.actual_rows = raw.count(b"\n")
                content = _error_records(path, raw)
            elif raw is not None:
                try:
                    content = pq.read_table(pa.BufferReader(raw))
                    check.actual_rows = content.num_rows
                except pa.ArrowException:
                    pass  # like a missing shard: its checksum and row count do not match the manifest
            yield check, content


def _error_records(path: Path, raw: bytes) -> list[dict]:
    records = []
    # Split on b"\n" only: str.splitlines would also split on U+2028 inside a JSON string.
    lines = [line for line in raw.split(b"\n") if line.strip()]
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise GristmillError(f"{path}: line {number} is not JSON: {err}") from None
    return records


def texts_of(path: Path, batch: pa.RecordBatch) -> list[str]:
    """The batch's `text` column as Python strings; a null text is an error naming the shard and document."""
    texts = batch.column("text").to_pylist()
    if batch.column("text").null_count:
        ids = batch.column("id").to_pylist() if "id" in batch.schema.names else [None] * len(texts)
        bad = next(i for i, t in enumerate(texts) if t is None)
        raise GristmillError(f"{path}: document {ids[bad]!r} has a null text")
    return texts
