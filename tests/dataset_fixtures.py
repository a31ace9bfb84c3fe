"""Small finished datasets for the tests, written with the project's own writers.

Rows go through `pipelines.staging` (the shard writers `gristmill curate` uses)
and the manifest through `pipelines.manifest.write_manifest`, so a fixture is laid
out, counted and checksummed exactly as a curated dataset is.
"""

from __future__ import annotations

import json
from pathlib import Path

from gristmill.files import atomic_write
from pipelines.config import CurateConfig
from pipelines.manifest import STATS_DIR, write_manifest
from pipelines.schema import data_schema, rejected_schema
from pipelines.sinks import shard_name
from pipelines.staging import json_lines, write_parquet


def write_dataset(
    root: Path,
    kept: list[dict],
    rejected: list[dict] = (),
    errors: list[dict] = (),
    config: dict | None = None,
    shards: int = 2,
    sections: dict | None = None,
) -> Path:
    """A dataset in `root`: `kept` rows in `shards` data shards, one rejected and one errors shard, and the manifest.

    Rows without `n_chars` get it from their text. `config` (a curate config as a dict,
    default: the defaults) is validated as `CurateConfig`; `sections` are manifest
    sections a stage would add (e.g. near_dup, bias).
    """
    kept = [row if "n_chars" in row else dict(row, n_chars=len(row["text"])) for row in kept]
    per = -(-len(kept) // shards) if kept else 0
    for n in range(shards):
        write_parquet(str(root / "data" / shard_name(n, "parquet")), kept[n * per : (n + 1) * per], data_schema())
    write_parquet(str(root / "rejected" / shard_name(0, "parquet")), list(rejected), rejected_schema())
    atomic_write(root / "errors" / shard_name(0, "jsonl"), json_lines(errors))
    stats = root / STATS_DIR
    atomic_write(stats / "input.json", json.dumps(len(kept) + len(rejected) + len(errors)))
    for name, section in (sections or {}).items():
        atomic_write(stats / f"section-{name}.json", json.dumps(section))
    write_manifest(str(root), CurateConfig.parse(config or {}, "test config"), files=[], skipped=[], timings={})
    return root
