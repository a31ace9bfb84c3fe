"""The per-unit tasks of a curate run: every step that touches document text.

The pipeline is three segments between its global steps (see `pipelines.curate`).
Each runs the stages declared in it (`pipelines.stages`) on every document of
its unit, in order (a judge, or a cross-document stage's decision), and feeds
the documents it keeps to the sidecars of the next segment's cross-document stages:

  s1  reads the unit; normalize                         sidecars: exact and line dedup's hashes and ids
  s2  exact- and line-dedup decisions; filters, language, quality rules, classifier score
                                                        emits scores; sidecars: near-dup's MinHash
  s3  classifier cut; near-dup decisions; PII, bias     writes the final kept rows

Each task reads its unit's rows from the previous segment's file, writes its
own files (`pipelines.staging`), and emits only small records and one stats
record `(unit index, stats)`. The stats hold the row and byte counts of the
files written, the records read, and the sums the manifest sections need.
A task whose marker carries the same digest (its inputs, decisions and
upstream digest) is not redone: its small records are replayed from its files.
"""

from __future__ import annotations

import functools
import json

import apache_beam as beam

from pipelines.config import CurateConfig
from pipelines.process_exit import freeze_heap_at_exit
from gristmill.files import atomic_write
from pipelines.staging import LineWriter, RowWriter, digest, iter_rows, read_marker, unit_name
from pipelines.schema import data_schema, rejected_schema
from pipelines.sources import ERRORS, Unit, read_unit
from pipelines.stage import add_nested, reject
from pipelines.stages import SEGMENTS, build_stages, in_order

SCORES = "scores"


class Layout:
    """Where a run's staged files are; picklable, so every worker finds the same files."""

    def __init__(self, root: str):
        self.root = root

    def path(self, segment: str, unit: int, suffix: str) -> str:
        return f"{self.root}/{segment}/{unit_name(unit)}.{suffix}"

    def marker(self, segment: str, unit: int) -> str:
        return self.path(segment, unit, "done.json")

    @property
    def index_dir(self) -> str:
        return f"{self.root}/decontamination-index"


class _UnitTask(beam.DoFn):
    """Runs one segment on one unit, or replays it from its marker; see the module docstring."""

    segment = ""

    def __init__(self, config: CurateConfig, layout: Layout):
        self._config, self._layout = config, layout

    def setup(self):
        freeze_heap_at_exit()  # a worker process: it exits when the run ends
        stages = build_stages(self._config, self._layout)
        self._counted = in_order(stages)
        self._running = {stage.name for stage in self._counted}
        own = stages[self.segment]
        self._deciders = [stage for stage in own if stage.cross_document]
        # Per document, in declared order: (a cross-document stage, None) applies its decision, (stage, judge) judges.
        steps = ((stage, None if stage.cross_document else stage.make_judge()) for stage in own)
        self._steps = [(stage, judge) for stage, judge in steps if stage.cross_document or judge]
        later = SEGMENTS[SEGMENTS.index(self.segment) + 1 :]
        self._fed = [stage for stage in stages[later[0]] if stage.cross_document] if later else []
        if "pii" in self._running:
            from pipelines.pii import redact_field

            self._redact_text = functools.partial(redact_field, self._config.pii, "text")
            self._redact_excerpt = functools.partial(redact_field, self._config.pii, "excerpt")
        else:
            self._redact_text = self._redact_excerpt = None

    def _run(self, unit: int, want: str, work, replay):
        marker = read_marker(self._layout.marker(self.segment, unit))
        if marker is not None and marker.get("digest") == want:
            stats = marker["stats"]
            yield from replay(stats)
            reused = 1
        else:
            self._tally: dict = {}
            stats = yield from work()
            stats["tally"] = self._tally
            atomic_write(self._layout.marker(self.segment, unit), json.dumps({"digest": want, "stats": stats}).encode())
            reused = 0
        yield unit, {**stats, "segment": self.segment, "digest": want, "reused": reused}

    def _writers(self, unit: int) -> tuple[RowWriter, RowWriter]:
        layout = self._layout
        alive = RowWriter(layout.path(self.segment, unit, "alive.parquet"), data_schema())
        rejected = RowWriter(layout.path(self.segment, unit, "rejected.parquet"), rejected_schema())
        return alive, rejected

    def _decisions(self, grouped) -> dict[str, dict]:
        """Each cross-document stage's decisions for this unit from the segment's join: {stage: {row: decision}}."""
        return {stage.name: dict(grouped[stage.name]) for stage in self._deciders}

    def _sidecars(self, unit: int) -> list:
        """The writers of the next segment's cross-document stages, fed every document this segment keeps."""
        return [stage.sidecar(self._layout, unit) for stage in self._fed]

    def _appliers(self, unit: int, decisions: dict[str, dict]) -> dict:
        """Each cross-document stage's side for this unit: {stage: applier}."""
        return {stage.name: stage.applier(unit, decisions[stage.name]) for stage in self._deciders}

    @staticmethod
    def _applied(appliers: dict) -> dict:
        """What the appliers counted, for the unit's stats: {stage: stats}."""
        counted = {name: applier.stats() for name, applier in appliers.items()}
        return {name: stats for name, stats in counted.items() if stats is not None}

    def _judge(self, doc: dict, row: int | None = None, appliers: dict | None = None):
        for stage, judge in self._steps:
            if judge is None:
                doc, rejection = appliers[stage.name].apply(row, dict(doc))
            else:
                doc, rejection = judge(dict(doc))
            if rejection is not None:
                return doc, rejection
        return doc, None

    def _write_rejected(self, writer: RowWriter, row: dict) -> None:
        if self._redact_text:
            row = self._redact_text(row)
        for stage in self._counted:
            counts = stage.rejected_counts(row)
            if counts:
                add_nested(self._tally, {stage.name: {"rejected": {row["reason"]: counts}}})
        writer.write(row)

    def _write_kept(self, writer: RowWriter, doc: dict) -> None:
        for stage in self._counted:
            counts = stage.kept_counts(doc)
            if counts:
                add_nested(self._tally, {stage.name: {"kept": counts}})
        writer.write(doc)


class ReadSegment(_UnitTask):
    """s1: a unit's records -> documents judged by its stages (normalize), rejected rows and errors; exact dedup's sidecars."""

    segment = "s1"

    def process(self, unit: Unit):
        want = digest(self.segment, [file.url for file in unit.files], unit.group, unit.fingerprints, unit.error)
        yield from self._run(unit.index, want, lambda: self._work(unit), lambda stats: iter(()))

    def _work(self, unit: Unit):
        yield from ()  # s1 emits no small records: its files and stats say everything
        alive, rejected = self._writers(unit.index)
        errors = LineWriter(self._layout.path(self.segment, unit.index, "errors.jsonl"))
        sidecars = self._sidecars(unit.index)
        records = 0
        for item in read_unit(unit):
            records += 1
            if isinstance(item, beam.pvalue.TaggedOutput):
                if item.tag == ERRORS:
                    errors.write(self._redact_excerpt(item.value) if self._redact_excerpt else item.value)
                else:
                    self._write_rejected(rejected, item.value)
                continue
            doc, rejection = self._judge(item)
            if rejection is not None:
                self._write_rejected(rejected, reject(doc, *rejection))
                continue
            for sidecar in sidecars:
                sidecar.add(alive.rows, doc)
            alive.write(doc)
        stats = {
            "input": records,
            "input_bytes": unit.input_bytes,
            "alive": alive.close(),
            "rejected": rejected.close(),
            "errors": errors.close(),
        }
        for sidecar in sidecars:
            stats.update(sidecar.close())
        return stats


class JudgeSegment(_UnitTask):
    """s2: exact-dedup decisions, then its judges (filters, language, quality rules, classifier score); near-dup's sidecars."""

    segment = "s2"

    def process(self, item):
        unit, grouped = item
        (upstream,) = grouped["unit"]
        decisions = self._decisions(grouped)
        want = digest(self.segment, upstream["digest"], *(sorted(d.items()) for d in decisions.values()))
        yield from self._run(unit, want, lambda: self._work(unit, decisions), lambda stats: self._replay(unit))

    def _work(self, unit: int, decisions: dict[str, dict]):
        alive, rejected = self._writers(unit)
        sidecars = self._sidecars(unit)
        appliers = self._appliers(unit, decisions)
        scored = "classifier" in self._running
        source = self._layout.path("s1", unit, "alive.parquet")
        for row, doc in enumerate(iter_rows(source)):
            doc, rejection = self._judge(doc, row, appliers)
            if rejection is not None:
                self._write_rejected(rejected, reject(doc, *rejection))
                continue
            if scored:
                yield beam.pvalue.TaggedOutput(SCORES, doc["quality_score"])
            for sidecar in sidecars:
                sidecar.add(alive.rows, doc)
            alive.write(doc)
        stats = {"alive": alive.close(), "rejected": rejected.close(), **self._applied(appliers)}
        for sidecar in sidecars:
            stats.update(sidecar.close())
        return stats

    def _replay(self, unit: int):
        if "classifier" in self._running:
            for doc in iter_rows(self._layout.path(self.segment, unit, "alive.parquet")):
                yield beam.pvalue.TaggedOutput(SCORES, doc["quality_score"])


class FinishSegment(_UnitTask):
    """s3: the classifier cut, then near-dup decisions and its judges (PII, bias): the final kept rows."""

    segment = "s3"

    def process(self, item, cut):
        unit, grouped = item
        (upstream,) = grouped["unit"]
        decisions = self._decisions(grouped)
        want = digest(self.segment, upstream["digest"], *(sorted(d.items()) for d in decisions.values()), cut)
        yield from self._run(unit, want, lambda: self._work(unit, decisions, cut), lambda stats: iter(()))

    def _work(self, unit: int, decisions: dict[str, dict], cut):
        from pipelines.classifier import cut_rejection

        yield from ()  # s3 emits no small records: only its files and stats
        alive, rejected = self._writers(unit)
        appliers = self._appliers(unit, decisions)
        source = self._layout.path("s2", unit, "alive.parquet")
        for row, doc in enumerate(iter_rows(source)):
            rejection = cut_rejection(doc, cut) if cut is not None else None
            if rejection is None:
                doc, rejection = self._judge(doc, row, appliers)
            if rejection is not None:
                self._write_rejected(rejected, reject(doc, *rejection))
            else:
                self._write_kept(alive, doc)
        return {"alive": alive.close(), "rejected": rejected.close(), **self._applied(appliers)}
