"""The report's view of a curated dataset: one pass over every shard listed in the manifest.

Each shard file is read once, by `gristmill.dataset.Dataset.read_checked`: its
bytes are hashed (sha256) and counted against the manifest. Here its ids and
per-reason byte totals are collected for the whole dataset, and its rows are
kept in full or as a seeded sample. A sample keeps a
document when xxh64(id, seed) falls under the sampled fraction, so it is the
same whatever the sharding and needs no second pass.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from tqdm import tqdm

from gristmill.dataset import KINDS, Dataset, ShardCheck
from gristmill.errors import GristmillError

# Above this many bytes of Parquet (kept + rejected), rows are sampled unless --sample says otherwise.
FULL_LOAD_LIMIT_BYTES = 512 * 1024 * 1024
AUTO_SAMPLE_DOCS = 100_000


@dataclass
class DatasetView:
    """What the report needs from a dataset directory."""

    root: Path
    manifest: dict
    config: dict
    mode: str  # "full" or "sample"
    sample_docs: int | None
    seed: int
    kept: pd.DataFrame
    rejected: pd.DataFrame
    kept_ids: pd.DataFrame  # every kept id, whatever the mode
    errors: list[dict]
    shards: list[ShardCheck]
    kept_bytes: int = 0
    rejected_bytes_by_reason: Counter = field(default_factory=Counter)

    @property
    def mode_note(self) -> str:
        if self.mode == "full":
            return "Row-level expectations and plots use every document."
        return (
            f"Row-level expectations and plots use a seeded sample (seed {self.seed}) of about "
            f"{self.sample_docs} documents: {len(self.kept)} kept and {len(self.rejected)} rejected rows. "
            "Shard checksums, row counts, id uniqueness and byte totals still cover every document (streamed per shard)."
        )


def _threshold(fraction: float) -> int:
    return min(int(fraction * (1 << 64)), (1 << 64) - 1)


def _sample_mask(ids: list[str], threshold: int, seed: int) -> list[bool]:
    return [xxhash.xxh64_intdigest(i.encode("utf-8"), seed=seed) < threshold for i in ids]


def _text_bytes(table: pa.Table) -> pa.Array:
    return pc.fill_null(pc.binary_length(table.column("text")), 0)


class _Reader:
    def __init__(self, dataset: Dataset, sample_docs: int | None, seed: int):
        self.dataset = dataset
        self.seed = seed
        self.shards: list[ShardCheck] = []
        self.kept_bytes = 0
        self.rejected_bytes: Counter = Counter()
        n_rows = sum(int(s.get("rows", 0)) for kind in ("data", "rejected") for s in dataset.listed(kind))
        self.threshold = None if sample_docs is None or sample_docs >= n_rows else _threshold(sample_docs / max(n_rows, 1))

    def parquet(self, kind: str, progress: tqdm) -> tuple[list[pa.Table], list[pa.Array]]:
        """(row tables kept for the report, id arrays of every row) for one kind of shard."""
        tables, ids = [], []
        for check, table in self.dataset.read_checked(kind):
            self.shards.append(check)
            progress.update(1)
            if table is None:
                continue  # missing or not Parquet: its checksum and row-count expectations fail and name it
            ids.append(table.column("id"))
            if kind == "data":
                self.kept_bytes += int(pc.sum(_text_bytes(table)).as_py() or 0)
            else:
                sums = table.append_column("_bytes", _text_bytes(table)).group_by("reason").aggregate([("_bytes", "sum")])
                self.rejected_bytes.update(dict(zip(sums.column("reason").to_pylist(), sums.column("_bytes_sum").to_pylist())))
            if self.threshold is not None:
                table = table.filter(pa.array(_sample_mask(table.column("id").to_pylist(), self.threshold, self.seed)))
            tables.append(table)
        return tables, ids

    def errors(self, progress: tqdm) -> list[dict]:
        records = []
        for check, content in self.dataset.read_checked("errors"):
            self.shards.append(check)
            progress.update(1)
            records += content or []
        return records


def _frame(tables: list[pa.Table]) -> pd.DataFrame:
    if not tables:
        return pd.DataFrame()
    table = pa.concat_tables(tables, promote_options="permissive")
    return table.to_pandas()


def choose_sample(dataset: Dataset, sample: int | None) -> int | None:
    """The number of documents to sample, or None to load every row."""
    if sample is not None:
        if sample < 1:
            raise GristmillError(f"--sample must be at least 1, got {sample}")
        return sample
    size = sum(p.stat().st_size for k in ("data", "rejected") for p in dataset.shard_paths(k) if p.is_file())
    return AUTO_SAMPLE_DOCS if size > FULL_LOAD_LIMIT_BYTES else None


def read_dataset(root: str | Path, sample: int | None = None, seed: int = 0) -> DatasetView:
    """Open the dataset in `root` through its manifest; `sample` documents (seeded) or all of them."""
    dataset = Dataset.open(root, check_files=False)  # missing shards are failed expectations, not errors
    root, manifest = dataset.root, dataset.manifest
    sample_docs = choose_sample(dataset, sample)
    reader = _Reader(dataset, sample_docs, seed)
    n_files = sum(len(dataset.listed(k)) for k in KINDS)
    with tqdm(total=n_files, desc="reading shards", unit="shard", leave=False) as progress:
        kept_tables, kept_ids = reader.parquet("data", progress)
        rejected_tables, _ = reader.parquet("rejected", progress)
        errors = reader.errors(progress)
    kept = _frame(kept_tables)
    rejected = _frame(rejected_tables)
    ids = pa.chunked_array([c for a in kept_ids for c in a.chunks], type=pa.string()) if kept_ids else pa.array([], pa.string())
    view = DatasetView(
        root=root,
        manifest=manifest,
        config=manifest.get("config") or {},
        mode="full" if reader.threshold is None else "sample",
        sample_docs=sample_docs if reader.threshold is not None else None,
        seed=seed,
        kept=kept,
        rejected=rejected,
        kept_ids=pd.DataFrame({"id": ids.to_pandas()}),
        errors=errors,
        shards=reader.shards,
        kept_bytes=reader.kept_bytes,
        rejected_bytes_by_reason=reader.rejected_bytes,
    )
    return view
