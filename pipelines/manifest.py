"""The dataset manifest: written last and atomically, from what is on disk.

Counts of kept, rejected and errored records are read back from the shards, and
the input count comes from the pipeline's own count of records read, so the
conservation check (input == kept + rejected + errors) compares two independent tallies.
"""

from __future__ import annotations

import collections
import datetime
import hashlib
import importlib.metadata
import json
import posixpath

import fsspec
import pyarrow.parquet as pq

from pipelines.config import CurateConfig
from pipelines.dataset_manifest import FORMAT, MANIFEST
from pipelines.errors import GristmillError
from pipelines.schema import data_schema, rejected_schema
from pipelines.sinks import errors_bytes, parquet_bytes, shard_name, write_file

STATS_DIR = "_stats"
OUTPUT_DIRS = ("data", "rejected", "errors")
# Rejection reasons' stage prefixes in pipeline order; the funnel lists them in this order.
FUNNEL_ORDER = [
    "read", "length", "exact_dedup", "language", "gopher_repetition", "gopher_quality",
    "c4", "fineweb", "classifier", "near_dup", "pii", "bias",
]


class ConservationError(GristmillError):
    """Some input records are unaccounted for (or counted twice)."""


def gristmill_version() -> str:
    try:
        return importlib.metadata.version("gristmill")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def shard_plan(config: CurateConfig) -> dict[str, tuple[int, str]]:
    out = config.output
    return {"data": (out.shards, "parquet"), "rejected": (out.rejected_shards, "parquet"), "errors": (out.error_shards, "jsonl")}


def _fill_missing_shards(fs, root: str, config: CurateConfig) -> None:
    """A shard with no rows is written empty, so every run has the configured shard count."""
    empty = {"data": parquet_bytes([], data_schema()), "rejected": parquet_bytes([], rejected_schema()), "errors": errors_bytes([])}
    for kind, (count, suffix) in shard_plan(config).items():
        fs.makedirs(f"{root}/{kind}", exist_ok=True)
        for index in range(count):
            path = f"{root}/{kind}/{shard_name(index, suffix)}"
            if not fs.exists(path):
                write_file(fs.unstrip_protocol(path), empty[kind])


def _describe_shard(fs, root: str, relpath: str) -> dict:
    path = f"{root}/{relpath}"
    with fs.open(path, "rb") as handle:
        data = handle.read()
    if relpath.endswith(".parquet"):
        rows = pq.ParquetFile(fs.open(path, "rb")).metadata.num_rows
    else:
        rows = data.count(b"\n")
    return {"path": relpath, "rows": rows, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _reasons(fs, root: str, shards: list[dict]) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for shard in shards:
        with fs.open(f"{root}/{shard['path']}", "rb") as handle:
            column = pq.read_table(handle, columns=["reason"]).column("reason")
        counts.update(column.to_pylist())
    return counts


def funnel(input_count: int, errors: int, by_reason: dict[str, int]) -> list[dict]:
    by_stage: collections.Counter = collections.Counter()
    for reason, n in by_reason.items():
        by_stage[reason.split(":", 1)[0]] += n
    order = [s for s in FUNNEL_ORDER if s in by_stage or s == "read"]
    order += sorted(s for s in by_stage if s not in FUNNEL_ORDER)
    rows, remaining = [], input_count
    for stage in order:
        entering = remaining
        rejected = by_stage.get(stage, 0)
        lost = rejected + (errors if stage == "read" else 0)
        remaining = entering - lost
        row = {"stage": stage, "in": entering, "out": remaining, "rejected": rejected}
        if stage == "read":
            row["errors"] = errors
        rows.append(row)
    return rows


def _read_stats(fs, root: str) -> tuple[int, dict]:
    stats_dir = f"{root}/{STATS_DIR}"
    with fs.open(f"{stats_dir}/input.json", "rb") as handle:
        input_count = json.load(handle)
    sections = {}
    for path in sorted(fs.glob(f"{stats_dir}/section-*.json")):
        name = posixpath.basename(path)[len("section-") : -len(".json")]
        with fs.open(path, "rb") as handle:
            sections[name] = json.load(handle)
    return input_count, sections


def write_manifest(out_url: str, config: CurateConfig, files: list, skipped: list[str], timings: dict) -> dict:
    fs, root = fsspec.core.url_to_fs(out_url)
    _fill_missing_shards(fs, root, config)
    shards = {
        kind: [_describe_shard(fs, root, f"{kind}/{shard_name(i, suffix)}") for i in range(count)]
        for kind, (count, suffix) in shard_plan(config).items()
    }
    input_count, sections = _read_stats(fs, root)
    kept = sum(s["rows"] for s in shards["data"])
    rejected = sum(s["rows"] for s in shards["rejected"])
    errors = sum(s["rows"] for s in shards["errors"])
    by_reason = dict(sorted(_reasons(fs, root, shards["rejected"]).items()))
    if input_count != kept + rejected + errors:
        raise ConservationError(
            f"records unaccounted for in {out_url}: read {input_count}, but kept {kept} + rejected {rejected} "
            f"+ errors {errors} = {kept + rejected + errors}"
        )
    manifest = {
        "format": FORMAT,
        "gristmill_version": gristmill_version(),
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": config.model_dump(mode="json"),
        "config_hash": config.config_hash(),
        "inputs": {"files": len(files), "skipped_unknown_format": skipped},
        "counts": {
            "input": input_count,
            "kept": kept,
            "rejected": rejected,
            "errors": errors,
            "rejected_by_reason": by_reason,
            "funnel": funnel(input_count, errors, by_reason),
        },
        "shards": shards,
        "schema": {"data": data_schema().names, "rejected": rejected_schema().names},
        "timings": timings,
        **sections,
    }
    write_file(f"{out_url}/{MANIFEST}", json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"))
    fs.rm(f"{root}/{STATS_DIR}", recursive=True)
    return manifest
