"""Read a curated dataset through its manifest, streaming columns in Arrow record batches.

Only the Parquet files listed in `manifest.json` under `shards.data` are read,
in that order, so a half-written or stray file in `data/` is never picked up.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from gristmill.dataset import MANIFEST, load_manifest
from gristmill.errors import GristmillError


def val_threshold(val_fraction: float) -> int:
    """Documents whose xxh64(id) is below this integer form the validation split."""
    if not 0.0 <= val_fraction < 1.0:
        raise GristmillError(f"val_fraction must be in [0, 1), got {val_fraction}")
    return int(val_fraction * (1 << 64))


SPLIT_RULE = "xxh64(id as UTF-8, seed=0).intdigest() < int(val_fraction * 2**64) -> val, else train"


def is_val(doc_id: str, threshold: int) -> bool:
    return xxhash.xxh64_intdigest(doc_id.encode("utf-8")) < threshold


@dataclass(frozen=True)
class Dataset:
    """A curated dataset directory, opened through its manifest."""

    root: Path
    manifest: dict
    manifest_sha256: str

    @classmethod
    def open(cls, root: str | Path) -> "Dataset":
        root = Path(root)
        path = root / MANIFEST
        manifest, raw = load_manifest(root)
        shards = manifest["shards"].get("data")
        if not isinstance(shards, list):
            raise GristmillError(f"{path}: missing the shards.data list")
        for shard in shards:
            if not (root / shard["path"]).is_file():
                raise GristmillError(f"{path}: listed shard {shard['path']} is missing")
        return cls(root, manifest, hashlib.sha256(raw).hexdigest())

    @property
    def shard_paths(self) -> list[Path]:
        return [self.root / shard["path"] for shard in self.manifest["shards"]["data"]]

    @property
    def num_docs(self) -> int:
        return sum(int(shard["rows"]) for shard in self.manifest["shards"]["data"])

    def columns(self) -> set[str]:
        """Column names present in every data shard."""
        names: set[str] | None = None
        for path in self.shard_paths:
            shard_names = set(pq.read_schema(path).names)
            names = shard_names if names is None else names & shard_names
        return names or set()

    def batches(self, columns: list[str], batch_size: int = 1024) -> Iterator[tuple[Path, pa.RecordBatch]]:
        """(shard path, record batch) in shard order then row order; absent optional columns are left out.

        `id` and `text` are required; other requested columns are read when the dataset has them.
        """
        available = self.columns()
        for required in ("id", "text"):
            if required in columns and required not in available:
                raise GristmillError(f"{self.root}: data shards have no '{required}' column")
        wanted = [c for c in columns if c in available]
        for path in self.shard_paths:
            try:
                parquet = pq.ParquetFile(path)
                for batch in parquet.iter_batches(batch_size=batch_size, columns=wanted):
                    yield path, batch
            except (OSError, pa.ArrowException) as err:
                raise GristmillError(f"{path}: cannot read Parquet shard: {err}") from None


def texts_of(path: Path, batch: pa.RecordBatch) -> list[str]:
    """The batch's `text` column as Python strings; a null text is an error naming the shard and document."""
    texts = batch.column("text").to_pylist()
    if batch.column("text").null_count:
        ids = batch.column("id").to_pylist() if "id" in batch.schema.names else [None] * len(texts)
        bad = next(i for i, t in enumerate(texts) if t is None)
        raise GristmillError(f"{path}: document {ids[bad]!r} has a null text")
    return texts
