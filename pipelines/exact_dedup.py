"""Exact deduplication: documents with identical normalized text keep one survivor, the smallest id.

The s1 task of each unit writes, per surviving document k, the xxh3-128 hash of
its text to `exact.u64` (two uint64) and its id to `ids.jsonl`. Collision tasks
over ranges of the hash (`pipelines.sidecars`) find the groups of equal hashes;
only their members are looked up (ids) and grouped, so what is shuffled grows
with the number of duplicates, not of documents. The decisions go back to the
units as (unit, (row, survivor id)); the s2 task of each unit rejects those rows
as `exact_dedup:duplicate` with the survivor's id as detail.
"""

from __future__ import annotations

import json

import apache_beam as beam
import numpy as np
import xxhash

from pipelines.sidecars import SidecarWriter, equal_runs, hash_ranges, ids_of_rows, in_range, load_array
from pipelines.stage import Stage, Verdict

HASH = "exact.u64"
IDS = "ids.jsonl"


def text_key(text: str) -> bytes:
    """16 bytes: xxh3-128 of the UTF-8 text."""
    return xxhash.xxh3_128_digest(text.encode("utf-8"))


class ExactDedupStage(Stage):
    """s1 writes the text hash and id of each document it keeps, `ExactDedup` finds the duplicates, s2 rejects them."""

    name = "exact_dedup"
    cross_document = True

    @classmethod
    def from_config(cls, config, layout):
        return cls() if config.exact_dedup.enabled else None

    def sidecar(self, layout, unit: int) -> _HashSidecar:
        return _HashSidecar(layout, unit)

    def decide(self, stats, layout, cut):
        return stats | "ExactDedup" >> ExactDedup(layout), None

    def apply(self, doc: dict, survivor: str | None) -> Verdict:
        return doc, (None if survivor is None else ("exact_dedup:duplicate", survivor))


class _HashSidecar:
    """A unit's text hashes and ids in s1, row by row of the documents it keeps."""

    def __init__(self, layout, unit: int):
        self._files = SidecarWriter(lambda name: layout.path("s1", unit, name))

    def add(self, row: int, doc: dict) -> None:
        self._files.write(HASH, text_key(doc["text"]))
        self._files.write(IDS, (json.dumps(doc["id"], ensure_ascii=False) + "\n").encode("utf-8"))

    def close(self) -> dict:
        self._files.close()
        return {}


class _Collisions(beam.DoFn):
    """(lo, hi) of the hash's first 64 bits -> each group of 2+ documents with the same hash, as (unit, row) tuples."""

    def __init__(self, layout):
        self._layout = layout

    def process(self, task, units):
        lo, hi = task
        parts = []
        for unit, _ in units:
            keys = load_array(self._layout.path("s1", unit, HASH), np.uint64, 2)
            rows = np.nonzero(in_range(np.asarray(keys[:, 0]), lo, hi))[0]
            parts.append((unit, rows, np.asarray(keys[rows])))
        yield from equal_runs(parts)


class _LookUpIds(beam.DoFn):
    """(unit, [(row, group)]) -> (group, (id, unit, row)) from the unit's ids file."""

    def __init__(self, layout):
        self._layout = layout

    def process(self, item):
        unit, wanted = item
        wanted = list(wanted)
        ids = ids_of_rows(self._layout.path("s1", unit, IDS), {row for row, _ in wanted})
        for row, group in wanted:
            yield group, (ids[row], unit, row)


def duplicates(group):
    """(unit, (row, survivor id)) for every member of a hash group but its smallest id."""
    _, members = group
    members = sorted(members)
    survivor = members[0][0]
    for _, unit, row in members[1:]:
        yield unit, (row, survivor)


class ExactDedup(beam.PTransform):
    """s1 stats -> (unit, (row, survivor id)) for the documents to reject."""

    def __init__(self, layout):
        super().__init__()
        self._layout = layout

    def expand(self, stats):
        units = (
            stats
            | "UnitsWithDocs" >> beam.FlatMap(lambda item: [(item[0], item[1]["alive"]["rows"])] if item[1]["alive"]["rows"] else [])
            | "UnitList" >> beam.combiners.ToList()
            | "Sorted" >> beam.Map(sorted)
        )
        return (
            units
            | "Ranges" >> beam.FlatMap(lambda us: hash_ranges(sum(n for _, n in us)))
            | "SpreadRanges" >> beam.Reshuffle()
            | "Collisions" >> beam.ParDo(_Collisions(self._layout), beam.pvalue.AsSingleton(units))
            | "Members" >> beam.FlatMap(lambda group: ((unit, (row, group)) for unit, row in group))
            | "GroupByUnit" >> beam.GroupByKey()
            | "LookUp" >> beam.ParDo(_LookUpIds(self._layout))
            | "GroupByText" >> beam.GroupByKey()
            | "Duplicates" >> beam.FlatMap(duplicates)
        )
