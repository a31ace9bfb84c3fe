"""Per-unit arrays of hashes beside the staged rows, and finding equal hashes across units without a shuffle.

Exact dedup (a 128-bit text hash per document) and near-dup (a 64-bit hash per
LSH band) both ask the same question: which documents share a key? Each unit
writes its keys to a sidecar file; a *collision task* owns a range of key
values, reads that range from every unit's sidecar, sorts it and emits each run
of two or more equal keys as a sorted tuple of (unit, k), k being the
document's position in the sidecar. Only these groups (duplicates, candidates)
go through a shuffle; the number of ranges follows from the number of keys, so
no task holds more than about RANGE_ENTRIES of them.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import Iterator

import fsspec
import numpy as np
from fsspec.implementations.local import LocalFileSystem

from gristmill.files import atomic_open

# Keys one collision task holds at most (with their unit and k): the number of ranges follows.
RANGE_ENTRIES = 4_000_000


class SidecarWriter:
    """Appends bytes to named sidecar files of one unit, each whole or absent (temporary name, then rename)."""

    def __init__(self, path_of):
        self._path_of = path_of  # name -> url
        self._handles: dict = {}
        self._files = ExitStack()

    def write(self, name: str, data: bytes) -> None:
        if name not in self._handles:
            self._handles[name] = self._files.enter_context(atomic_open(self._path_of(name)))
        self._handles[name].write(data)

    def close(self) -> None:
        self._files.close()  # renames every finished file into place


def load_array(url: str, dtype, columns: int = 1) -> np.ndarray:
    """A sidecar file as an array of `columns` columns (memory-mapped when local)."""
    fs, path = fsspec.core.url_to_fs(url)
    if isinstance(fs, LocalFileSystem):
        flat = np.memmap(path, dtype=dtype, mode="r") if fs.size(path) else np.empty(0, dtype=dtype)
    else:
        with fs.open(path, "rb") as handle:
            flat = np.frombuffer(handle.read(), dtype=dtype)
    return flat.reshape(-1, columns) if columns > 1 else flat


def ids_of_rows(url: str, rows: set[int]) -> dict[int, object]:
    """{row: id} for the wanted rows of a JSON-lines ids file (line n for row n), reading no further than the last."""
    ids, last = {}, max(rows, default=-1)
    with fsspec.open(url, "rb") as handle:
        for row, line in enumerate(handle):
            if row > last:
                break
            if row in rows:
                ids[row] = json.loads(line)
    return ids


def hash_ranges(keys: int) -> list[tuple[int, int]]:
    """[lo, hi) ranges of 64-bit values, enough that each holds about RANGE_ENTRIES of `keys` uniform hashes."""
    parts = max(1, -(-keys // RANGE_ENTRIES))
    edges = [i * (1 << 64) // parts for i in range(parts + 1)]
    return list(zip(edges, edges[1:]))


def in_range(column: np.ndarray, lo: int, hi: int) -> np.ndarray:
    keep = column >= np.uint64(lo)
    if hi < (1 << 64):
        keep &= column < np.uint64(hi)
    return keep


def equal_runs(parts: list[tuple[int, np.ndarray, np.ndarray]]) -> Iterator[tuple]:
    """(unit, k, keys) parts, keys an (n, w) uint64 array -> sorted (unit, k) tuples of every run of 2+ equal keys."""
    parts = [p for p in parts if len(p[1])]
    if not parts:
        return
    keys = np.concatenate([p[2] for p in parts])
    units = np.concatenate([np.full(len(p[1]), p[0], dtype=np.int64) for p in parts])
    ks = np.concatenate([p[1] for p in parts])
    order = np.lexsort(keys.T[::-1])
    keys, units, ks = keys[order], units[order], ks[order]
    starts = np.flatnonzero(np.r_[True, (keys[1:] != keys[:-1]).any(axis=1)])
    ends = np.r_[starts[1:], len(keys)]
    for s, e in zip(starts[ends - starts > 1], ends[ends - starts > 1]):
        yield tuple(sorted(zip(units[s:e].tolist(), ks[s:e].tolist())))
