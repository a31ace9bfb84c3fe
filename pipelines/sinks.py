"""The dataset's shards, sized by bytes and written by streaming from the staged unit files.

The plan walks the units' files in a fixed order (unit, then segment) and cuts
a new shard whenever the current one reaches `output.shard_bytes` of text,
splitting a file between two shards at a row when it must. Each shard is then
written by one task, row group by row group, so no worker holds more than one
row group. The plan depends only on the staged files, which depend only on the
input and config: the same run gives byte-identical shards whatever the
parallelism or the number of reruns.
"""

from __future__ import annotations

import json

import apache_beam as beam
import pyarrow as pa

from pipelines.schema import data_schema, rejected_schema
from gristmill.files import atomic_write
from pipelines.staging import iter_lines, iter_tables, write_parquet

# For each output directory: the segments' files it gathers, in order, and its suffix.
OUTPUTS = {
    "data": ([("s3", "alive.parquet")], "parquet"),
    "rejected": ([("s1", "rejected.parquet"), ("s2", "rejected.parquet"), ("s3", "rejected.parquet")], "parquet"),
    "errors": ([("s1", "errors.jsonl")], "jsonl"),
}
_FILE_STATS = {"alive.parquet": "alive", "rejected.parquet": "rejected", "errors.jsonl": "errors"}


def shard_name(index: int, suffix: str) -> str:
    return f"part-{index:05d}.{suffix}"


def schema_of(kind: str) -> pa.Schema:
    return data_schema() if kind == "data" else rejected_schema()


def plan_shards(files: list[tuple[str, int, int]], target_bytes: int) -> list[list[tuple[str, int, int]]]:
    """Files as (url, rows, bytes), in order -> shards, each a list of (url, first row, end row).

    A shard closes once it holds `target_bytes`; a file is split between shards at the row
    its average row size puts at the boundary. There is always at least one (maybe empty) shard.
    """
    shards: list[list[tuple[str, int, int]]] = [[]]
    room = target_bytes
    for url, rows, size in files:
        start = 0
        per_row = size / rows if rows else 0.0
        while start < rows:
            if room <= 0:
                shards.append([])
                room = target_bytes
            take = rows - start if per_row * (rows - start) <= room else max(1, int(room // per_row))
            shards[-1].append((url, start, start + take))
            room -= per_row * take
            start += take
    return shards


def shard_tasks(stats: list, layout, target_bytes: int) -> list[tuple[str, int, list]]:
    """(kind, shard index, pieces) for every shard of every output directory, from all units' stats."""
    by_unit: dict[int, dict[str, dict]] = {}
    for unit, record in stats:
        by_unit.setdefault(unit, {})[record["segment"]] = record
    tasks = []
    for kind, (sources, _) in OUTPUTS.items():
        files = []
        for unit in sorted(by_unit):
            for segment, suffix in sources:
                counts = by_unit[unit].get(segment, {}).get(_FILE_STATS[suffix])
                if counts and counts["rows"]:
                    files.append((layout.path(segment, unit, suffix), counts["rows"], counts["bytes"]))
        for index, pieces in enumerate(plan_shards(files, target_bytes)):
            tasks.append((kind, index, pieces))
    return tasks


class _WriteShard(beam.DoFn):
    def __init__(self, directory: str):
        self._directory = directory

    def process(self, task):
        kind, index, pieces = task
        suffix = OUTPUTS[kind][1]
        url = f"{self._directory}/{kind}/{shard_name(index, suffix)}"
        if suffix == "jsonl":
            atomic_write(url, b"".join(line for piece in pieces for line in iter_lines(*piece)))
            return
        write_parquet(url, (table for piece in pieces for table in iter_tables(*piece)), schema_of(kind))


class WriteShards(beam.PTransform):
    """Every unit's stats record, as one list -> the dataset's data/, rejected/ and errors/ shards in `directory`."""

    def __init__(self, directory: str, layout, target_bytes: int):
        super().__init__()
        self._directory, self._layout, self._target = directory, layout, target_bytes

    def expand(self, stats):
        return (
            stats
            | "Plan" >> beam.FlatMap(shard_tasks, self._layout, self._target)
            | "Spread" >> beam.Reshuffle()
            | "WriteShard" >> beam.ParDo(_WriteShard(self._directory))
        )


class _WriteJson(beam.DoFn):
    def __init__(self, url: str):
        self._url = url

    def process(self, value):
        atomic_write(self._url, json.dumps(value, sort_keys=True, default=str).encode("utf-8"))


class WriteJson(beam.PTransform):
    """Write a PCollection holding exactly one JSON-able value to one file."""

    def __init__(self, url: str):
        super().__init__()
        self._url = url

    def expand(self, single):
        return single | beam.ParDo(_WriteJson(self._url))
