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
from gristmill.dataset import FORMAT, MANIFEST
from gristmill.errors import GristmillError
from pipelines.schema import data_schema, rejected_schema
from gristmill.files import atomic_write

STATS_DIR = "_stats"
OUTPUT_DIRS = ("data", "rejected", "errors")


class ConservationError(GristmillError):
    """Some input records are unaccounted for (or counted twice)."""


def gristmill_version() -> str:
    try:
        return importlib.metadata.version("gristmill")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _describe_shard(fs, root: str, relpath: str) -> dict:
    path = f"{root}/{relpath}"
    digest, size, lines = hashlib.sha256(), 0, 0
    with fs.open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            lines += chunk.count(b"\n")
    if relpath.endswith(".parquet"):
        with fs.open(path, "rb") as handle:
            rows = pq.ParquetFile(handle).metadata.num_rows
    else:
        rows = lines
    return {"path": relpath, "rows": rows, "sha256": digest.hexdigest(), "bytes": size}


def _list_shards(fs, root: str, kind: str) -> list[str]:
    return sorted(f"{kind}/{posixpath.basename(p)}" for p in fs.glob(f"{root}/{kind}/part-*") if not p.endswith(".tmp"))


def _reasons(fs, root: str, shards: list[dict]) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for shard in shards:
        with fs.open(f"{root}/{shard['path']}", "rb") as handle:
            for batch in pq.ParquetFile(handle).iter_batches(columns=["reason"]):
                counts.update(batch.column(0).to_pylist())
    return counts


def funnel(input_count: int, errors: int, by_reason: dict[str, int]) -> list[dict]:
    """One row per stage that rejected something, in pipeline order (`pipelines.stages`); read, with the errors, always."""
    # Imported here: the stage classes bring Beam and the judges' libraries, which a reader of the funnel does not need.
    from pipelines.sources import ReadStage
    from pipelines.stages import reason_order

    by_stage: collections.Counter = collections.Counter()
    for reason, n in by_reason.items():
        by_stage[reason.split(":", 1)[0]] += n
    known = reason_order()
    order = [s for s in known if s in by_stage or s == ReadStage.name]
    order += sorted(s for s in by_stage if s not in known)
    rows, remaining = [], input_count
    for stage in order:
        entering = remaining
        rejected = by_stage.get(stage, 0)
        lost = rejected + (errors if stage == ReadStage.name else 0)
        remaining = entering - lost
        row = {"stage": stage, "in": entering, "out": remaining, "rejected": rejected}
        if stage == ReadStage.name:
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
    shards = {kind: [_describe_shard(fs, root, path) for path in _list_shards(fs, root, kind)] for kind in OUTPUT_DIRS}
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
    atomic_write(f"{out_url}/{MANIFEST}", json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"))
    fs.rm(f"{root}/{STATS_DIR}", recursive=True)
    return manifest
