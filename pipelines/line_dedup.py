"""The line_dedup stage: cross-document line dedup (`quality.line_dedup`); only hashes, ids and row numbers move.

  s1, per unit: for every surviving document (row r) and each distinct countable
      unit hash h of its text, the triple (h, t, r) goes to `lines.u64`, t being
      the first 64 bits of the document's text hash (exact copies share it), and
      the document's id to `line_ids.jsonl`
  -> range tasks over h (`pipelines.sidecars`), sized from the number of triples:
      sort, count the distinct t per h; h is repeated when that count exceeds
      `max_docs`. Each occurrence of a repeated h -> (unit, (row, h, t)); the task's
      TOP_UNITS most repeated hashes and its counts go to the manifest section
  -> per unit, the ids of those rows are looked up: (h, (t, (id, unit, row)))
  -> per h, a combiner keeps the `keep_first` distinct texts with the smallest ids
      (`quality.line_dedup.add_keeper`): at most `keep_first` entries per hash
  -> per unit, the rows that lose units: (unit, (row, hashes)) for every member that
      is not a keeper; s2 removes them (`Remover`), right after the
      exact-dedup decisions and before the URL filter, decontamination, language ID
      and the quality rules, so every judge sees the text that will be stored and the
      repetition rules judge the page without its boilerplate.

No text goes through a shuffle, not even of repeated units (with `max_docs` 1 a unit
shared by two near-duplicate articles is real prose). The manifest section names its
TOP_UNITS most repeated units and the SAMPLES pages with the most bytes removed by
(unit, row) and hash only; the last step, after every shuffle, reads those few rows
from s1's files and writes a redacted prefix (at most PREFIX_CHARS) of each unit.
"""

from __future__ import annotations

import heapq
import json
from typing import Any

import apache_beam as beam
import numpy as np

from pipelines.exact_dedup import text_key
from pipelines.sidecars import SidecarWriter, hash_ranges, ids_of_rows, in_range, load_array
from pipelines.stage import Stage
from pipelines.staging import iter_rows
from quality.line_dedup import (
    LineDedupSettings,
    add_keeper,
    keeper_members,
    merge_keepers,
    redacted_unit,
    remove_units,
    unit_hashes,
    unit_texts,
)

PAIRS = "lines.u64"  # (unit hash, text hash, row) per distinct countable unit of each document, uint64
IDS = "line_ids.jsonl"  # the id of every document s1 keeps: line n for row n
MEMBERS, KEEPERS = "line_members", "line_keepers"
TOP_UNITS = 20
SAMPLES = 3
SAMPLE_UNITS = 8
PREFIX_CHARS = 80
_TOP, _COUNTS = "top", "counts"
_CHUNK = 65536


class LineDedupStage(Stage):
    """s1 writes each document's unit hashes, `LineDedup` finds the repeated ones, s2 removes them."""

    name = "line_dedup"
    cross_document = True

    @classmethod
    def from_config(cls, config, layout):
        return cls(config.line_dedup, config.length.min_chars) if config.line_dedup.enabled else None

    def __init__(self, settings: LineDedupSettings, min_chars: int):
        super().__init__()
        self._settings, self._min_chars = settings, min_chars

    def sidecar(self, layout, unit: int) -> _PairSidecar:
        return _PairSidecar(layout, unit, self._settings)

    def decide(self, stats, layout, cut):
        found = stats | "LineDedup" >> LineDedup(self._settings, layout)
        decisions = (
            {MEMBERS: found[MEMBERS], KEEPERS: found[KEEPERS]}
            | "LinesPerUnit" >> beam.CoGroupByKey()
            | "LinesToRemove" >> beam.FlatMap(_lines_to_remove)
        )
        settings = self._settings

        def section(s2_stats):
            return s2_stats | "LineDedupSection" >> LineDedupSection(settings, layout, found["found"])

        return decisions, section

    def applier(self, unit: int, decisions: dict) -> Remover:
        return Remover(self._settings, self._min_chars, unit, decisions)


def _lines_to_remove(item):
    """(unit, {members, keepers}) -> (unit, (row, sorted hashes)) for each row losing a unit it does not keep."""
    unit, grouped = item
    keep = set(map(tuple, grouped[KEEPERS]))
    remove: dict[int, set[int]] = {}
    for row, unit_hash in grouped[MEMBERS]:
        if (row, unit_hash) not in keep:
            remove.setdefault(row, set()).add(unit_hash)
    for row, hashes in sorted(remove.items()):
        yield unit, (row, sorted(hashes))


class _PairSidecar:
    """s1: the (unit hash, text hash, row) triples of a unit's surviving documents, streamed to `lines.u64`."""

    def __init__(self, layout, unit: int, settings: LineDedupSettings):
        self._files = SidecarWriter(lambda name: layout.path("s1", unit, name))
        self._settings = settings
        self._pairs = 0

    def add(self, row: int, doc: dict) -> None:
        hashes = unit_hashes(doc["text"], self._settings)
        self._files.write(IDS, (json.dumps(doc["id"], ensure_ascii=False) + "\n").encode("utf-8"))
        if not hashes:
            return
        triples = np.empty((len(hashes), 3), dtype=np.uint64)
        triples[:, 0] = np.array(hashes, dtype=np.uint64)
        triples[:, 1] = np.frombuffer(text_key(doc["text"])[:8], dtype=np.uint64)[0]
        triples[:, 2] = row
        self._files.write(PAIRS, triples.tobytes())
        self._pairs += len(hashes)

    def close(self) -> dict:
        self._files.close()
        return {"line_pairs": self._pairs}


@beam.typehints.with_output_types(Any)  # tagged outputs besides the main one: nothing to infer
class _RangeCounts(beam.DoFn):
    """(lo, hi) of the unit hash -> (unit, (row, h, t)) per occurrence of a repeated hash; tagged: top hashes, counts."""

    def __init__(self, layout, max_docs: int):
        self._layout, self._max_docs = layout, max_docs

    def process(self, task, units):
        lo, hi = task
        parts = []
        for unit, _ in units:
            triples = load_array(self._layout.path("s1", unit, PAIRS), np.uint64, 3)
            chosen = np.asarray(triples[in_range(np.asarray(triples[:, 0]), lo, hi)])
            parts.append(np.column_stack([chosen, np.full(len(chosen), unit, dtype=np.uint64)]))
        rows = np.concatenate(parts) if parts else np.empty((0, 4), dtype=np.uint64)
        if not len(rows):
            return
        rows = rows[np.lexsort((rows[:, 1], rows[:, 0]))]
        h, t = rows[:, 0], rows[:, 1]
        new_hash = np.r_[True, h[1:] != h[:-1]]
        new_text = new_hash | np.r_[True, t[1:] != t[:-1]]
        which = np.cumsum(new_hash) - 1
        texts = np.bincount(which, weights=new_text).astype(np.int64)  # distinct texts per hash
        repeated = texts > self._max_docs
        yield beam.pvalue.TaggedOutput(_COUNTS, {"units_counted": len(rows), "distinct_units": len(texts),
                                                 "repeated_units": int(repeated.sum())})
        top = heapq.nlargest(TOP_UNITS, zip(texts[repeated].tolist(), h[new_hash][repeated].tolist()))
        for item in top:
            yield beam.pvalue.TaggedOutput(_TOP, item)
        members = rows[repeated[which]]
        for start in range(0, len(members), _CHUNK):  # Python tuples a chunk at a time, not for the whole range
            for unit_hash, text_hash, row, unit in members[start : start + _CHUNK].tolist():
                yield unit, (row, unit_hash, text_hash)


@beam.typehints.with_output_types(Any)
class _LookUpIds(beam.DoFn):
    """(unit, [(row, h, t)]) -> (h, (t, (id, unit, row))) from the unit's ids; tagged: (unit, (row, h)) members."""

    def __init__(self, layout):
        self._layout = layout

    def process(self, item):
        unit, wanted = item
        wanted = list(wanted)
        ids = ids_of_rows(self._layout.path("s1", unit, IDS), {row for row, _, _ in wanted})
        for row, unit_hash, text_hash in wanted:
            yield beam.pvalue.TaggedOutput(MEMBERS, (unit, (row, unit_hash)))
            yield unit_hash, (text_hash, (ids[row], unit, row))


class _Keepers(beam.CombineFn):
    """(t, member) of one unit hash -> the `keep` distinct texts with the smallest members."""

    def __init__(self, keep: int):
        self._keep = keep

    def create_accumulator(self):
        return {}

    def add_input(self, acc, item):
        return add_keeper(acc, item[0], item[1], self._keep)

    def merge_accumulators(self, accs):
        accs = iter(accs)
        total = next(accs)
        for acc in accs:
            merge_keepers(total, acc, self._keep)
        return total

    def extract_output(self, acc):
        return keeper_members(acc)


def _unit_text(layout, settings: LineDedupSettings, unit: int, row: int, hashes) -> dict[int, str]:
    """{h: redacted prefix} of the wanted units as written in row `row` of unit `unit`'s s1 file."""
    for doc in iter_rows(layout.path("s1", unit, "alive.parquet"), row, row + 1):
        return {h: redacted_unit(text, PREFIX_CHARS) for h, text in unit_texts(doc["text"], set(hashes), settings).items()}
    return {}


class LineDedup(beam.PTransform):
    """s1 stats -> {MEMBERS: (unit, (row, h)), KEEPERS: (unit, (row, h)), "found": one dict for the section}."""

    def __init__(self, settings: LineDedupSettings, layout):
        super().__init__()
        self._settings, self._layout = settings, layout

    def expand(self, stats):
        s, layout = self._settings, self._layout
        units = (
            stats
            | "UnitsWithPairs" >> beam.FlatMap(lambda item: [(item[0], item[1]["line_pairs"])] if item[1].get("line_pairs") else [])
            | "UnitList" >> beam.combiners.ToList()
            | "Sorted" >> beam.Map(sorted)
        )
        counted = (
            units
            | "Ranges" >> beam.FlatMap(lambda us: hash_ranges(sum(n for _, n in us)))
            | "SpreadRanges" >> beam.Reshuffle()
            | "Count" >> beam.ParDo(_RangeCounts(layout, s.max_docs), beam.pvalue.AsSingleton(units)).with_outputs(
                _TOP, _COUNTS, main="occurrences")
        )
        looked_up = (
            counted.occurrences
            | "GroupByUnit" >> beam.GroupByKey()
            | "LookUpIds" >> beam.ParDo(_LookUpIds(layout)).with_outputs(MEMBERS, main="candidates")
        )
        keep = max(s.keep_first, 1)  # one keeper more when keep_first is 0: the row the top units' text is read from
        keepers = looked_up.candidates | "Keepers" >> beam.CombinePerKey(_Keepers(keep))
        kept = keepers | "KeepersToUnits" >> beam.FlatMap(
            lambda item, n: ((unit, (row, item[0])) for _, unit, row in item[1][:n]), s.keep_first)
        top = counted[_TOP] | "Top" >> beam.combiners.Top.Of(TOP_UNITS)
        where = (  # (h, (unit, row)) of the first keeper of each top hash: where its text is read from
            keepers
            | "TopKeepers" >> beam.FlatMap(
                lambda item, top: [(item[0], item[1][0][1:])] if item[0] in {h for _, h in top} else [],
                beam.pvalue.AsSingleton(top))
            | "TopWhere" >> beam.combiners.ToDict()
        )
        counts = counted[_COUNTS] | "SumCounts" >> beam.CombineGlobally(_SumCounts())
        found = counts | "Found" >> beam.Map(
            lambda counts, top, where: {**counts, "top": [(n, h, *where[h]) for n, h in top]},
            beam.pvalue.AsSingleton(top), beam.pvalue.AsSingleton(where))
        return {MEMBERS: looked_up[MEMBERS], KEEPERS: kept, "found": found}


class _SumCounts(beam.CombineFn):
    """Dicts of counts -> their key-by-key sums; a sample list under "samples" keeps the SAMPLES largest."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, counts):
        for key, value in counts.items():
            if key == "samples":
                acc["samples"] = heapq.nlargest(SAMPLES, [*acc.get("samples", []), *value], key=_sample_rank)
            else:
                acc[key] = acc.get(key, 0) + value
        return acc

    def merge_accumulators(self, accs):
        total = {}
        for acc in accs:
            self.add_input(total, acc)
        return total

    def extract_output(self, acc):
        return acc


def _sample_rank(sample: dict) -> tuple:
    return sample["bytes_before"] - sample["bytes_after"], sample["id"]


class Remover:
    """s2's side of line dedup for one unit: which rows lose which units, applied row by row, with the counts."""

    def __init__(self, settings: LineDedupSettings, min_chars: int, unit: int, decisions: dict[int, list[int]]):
        self._settings, self._min_chars, self._unit = settings, min_chars, unit
        self._remove = {row: set(hashes) for row, hashes in decisions.items()}
        self._counts = {"docs": 0, "bytes_in": 0, "units_removed": 0, "bytes_removed": 0, "docs_changed": 0, "docs_emptied": 0}
        self._samples: list[dict] = []  # the unit's SAMPLES pages with the most bytes removed

    def apply(self, row: int, doc: dict) -> tuple[dict, tuple[str, str] | None]:
        """(the document without its repeated units, None) or (the document as it came, `line_dedup:empty`)."""
        counts = self._counts
        counts["docs"] += 1
        size = len(doc["text"].encode("utf-8"))
        counts["bytes_in"] += size
        remove = self._remove.get(row)
        if not remove:
            return doc, None
        text, units, removed = remove_units(doc["text"], remove, self._settings)
        counts["units_removed"] += units
        counts["bytes_removed"] += removed
        counts["docs_changed"] += 1
        sample = {"id": doc["id"], "bytes_before": size, "bytes_after": size - removed, "units_removed": units}
        if len(self._samples) < SAMPLES or _sample_rank(sample) > _sample_rank(self._samples[0]):
            ordered = [h for h in unit_hashes(doc["text"], self._settings) if h in remove]
            sample = {**sample, "unit": self._unit, "row": row, "hashes": ordered[:SAMPLE_UNITS]}
            self._samples = heapq.nlargest(SAMPLES, [*self._samples, sample], key=_sample_rank)[::-1]
        if len(text.strip()) < self._min_chars:
            counts["docs_emptied"] += 1
            return doc, ("line_dedup:empty", str(len(text.strip())))
        return {**doc, "text": text, "n_chars": len(text)}, None

    def stats(self) -> dict:
        """The unit's counts and where its pages with the most bytes removed are (rows and removed hashes, no text)."""
        return {**self._counts, "samples": self._samples}


def _section(removed: dict, found: dict, settings: LineDedupSettings, layout) -> dict:
    """The manifest section; the texts of the top units and of the samples' removed units are read here, from s1's files."""
    counts = {key: removed.get(key, 0) for key in ("docs", "bytes_in", "units_removed", "bytes_removed", "docs_changed", "docs_emptied")}
    top = [{"text": _unit_text(layout, settings, unit, row, [h]).get(h, ""), "docs": n} for n, h, unit, row in found["top"]]
    samples = []
    for sample in removed.get("samples", []):
        texts = _unit_text(layout, settings, sample["unit"], sample["row"], sample["hashes"])
        kept = {k: sample[k] for k in ("id", "bytes_before", "bytes_after", "units_removed")}
        samples.append({**kept, "removed": [texts[h] for h in sample["hashes"] if h in texts]})
    return {
        **settings.model_dump(mode="json", exclude={"enabled"}),
        **{key: found.get(key, 0) for key in ("units_counted", "distinct_units", "repeated_units")},
        **counts,
        "bytes_removed_share": round(counts["bytes_removed"] / counts["bytes_in"], 6) if counts["bytes_in"] else 0.0,
        "top_units": top,
        "samples": samples,
    }


class LineDedupSection(beam.PTransform):
    """s2 stats and LineDedup's "found" -> the manifest's `line_dedup` section."""

    def __init__(self, settings: LineDedupSettings, layout, found):
        super().__init__()
        self._settings, self._layout, self._found = settings, layout, found

    def expand(self, s2_stats):
        return (
            s2_stats
            | "UnitCounts" >> beam.FlatMap(lambda item: [item[1]["line_dedup"]] if "line_dedup" in item[1] else [])
            | "SumUnits" >> beam.CombineGlobally(_SumCounts())
            | "Section" >> beam.Map(_section, beam.pvalue.AsSingleton(self._found), self._settings, self._layout)
        )
