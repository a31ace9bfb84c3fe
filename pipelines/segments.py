"""The per-unit tasks of a curate run: every step that touches document text.

The pipeline is three segments between its global steps (see `pipelines.curate`);
each runs the judges of the stages declared in it (`pipelines.stages`):

  s1  reads the unit, then its judges           writes text hashes and ids for exact dedup
  s2  exact-dedup decisions, then its judges    emits scores; writes MinHash sidecars for near-dup
  s3  classifier cut and near-dup decisions, then its judges    writes the final kept rows

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
import numpy as np

from pipelines.config import CurateConfig
from pipelines.exact_dedup import HASH, IDS, text_key
from pipelines.sidecars import SidecarWriter
from pipelines.staging import LineWriter, RowWriter, digest, iter_rows, read_marker, unit_name, write_file
from pipelines.schema import data_schema, rejected_schema
from pipelines.sources import ERRORS, Unit, read_unit
from pipelines.stage import add_nested, reject
from pipelines.stages import build_stages, in_order

EXACT = "exact"  # the exact-dedup decisions in the s2 join
SCORES = "scores"
SIGN_BATCH = 256
SIDECARS = {"rows": "rows.u32", "sig": "sig.u32", "bands": "bands.u64", "score": "score.f64", "meta": "meta.jsonl"}


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
        self._judges: list = []

    def setup(self):
        stages = build_stages(self._config, self._layout)
        self._counted = in_order(stages)
        self._running = {stage.name for stage in self._counted}
        judges = (stage.make_judge() for stage in stages[self.segment])
        self._judges = [judge for judge in judges if judge is not None]
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
            write_file(self._layout.marker(self.segment, unit), json.dumps({"digest": want, "stats": stats}).encode())
            reused = 0
        yield unit, {**stats, "segment": self.segment, "digest": want, "reused": reused}

    def _writers(self, unit: int) -> tuple[RowWriter, RowWriter]:
        layout = self._layout
        alive = RowWriter(layout.path(self.segment, unit, "alive.parquet"), data_schema())
        rejected = RowWriter(layout.path(self.segment, unit, "rejected.parquet"), rejected_schema())
        return alive, rejected

    def _judge(self, doc: dict):
        for judge in self._judges:
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
    """s1: a unit's records -> normalized documents, rejected rows and errors; text hashes and ids for exact dedup."""

    segment = "s1"

    def process(self, unit: Unit):
        want = digest(self.segment, unit.file.url, unit.group, unit.fingerprint, unit.error)
        yield from self._run(unit.index, want, lambda: self._work(unit), lambda stats: iter(()))

    def _work(self, unit: Unit):
        yield from ()  # s1 emits no small records: its files and stats say everything
        alive, rejected = self._writers(unit.index)
        errors = LineWriter(self._layout.path(self.segment, unit.index, "errors.jsonl"))
        exact = SidecarWriter(lambda name: self._layout.path(self.segment, unit.index, name))
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
            if "exact_dedup" in self._running:
                exact.write(HASH, text_key(doc["text"]))
                exact.write(IDS, (json.dumps(doc["id"], ensure_ascii=False) + "\n").encode("utf-8"))
            alive.write(doc)
        exact.close()
        return {
            "input": records,
            "input_bytes": unit.input_bytes,
            "alive": alive.close(),
            "rejected": rejected.close(),
            "errors": errors.close(),
        }


class JudgeSegment(_UnitTask):
    """s2: exact-dedup decisions, then language, quality rules and classifier score; MinHash sidecars for near-dup."""

    segment = "s2"

    def setup(self):
        super().setup()
        near = self._config.near_dup
        self._hasher = None
        if "near_dup" in self._running:
            from pipelines.minhash import MinHasher
            from pipelines.near_dup import lsh_shape

            self._hasher = MinHasher(num_perm=near.num_perm, seed=near.seed, shingle=near.shingle, ngram=near.ngram)
            self._bands, self._rows = lsh_shape(near)

    def process(self, item):
        unit, grouped = item
        (upstream,) = grouped["unit"]
        duplicates = dict(grouped[EXACT])
        want = digest(self.segment, upstream["digest"], sorted(duplicates.items()))
        yield from self._run(unit, want, lambda: self._work(unit, duplicates), lambda stats: self._replay(unit))

    def _work(self, unit: int, duplicates: dict[int, str]):
        alive, rejected = self._writers(unit)
        signer = _Signer(self._layout, unit, self._hasher, self._bands, self._rows) if self._hasher else None
        scored = "classifier" in self._running
        source = self._layout.path("s1", unit, "alive.parquet")
        for row, doc in enumerate(iter_rows(source)):
            survivor = duplicates.get(row)
            if survivor is not None:
                self._write_rejected(rejected, reject(doc, "exact_dedup:duplicate", survivor))
                continue
            doc, rejection = self._judge(doc)
            if rejection is not None:
                self._write_rejected(rejected, reject(doc, *rejection))
                continue
            if scored:
                yield beam.pvalue.TaggedOutput(SCORES, doc["quality_score"])
            if signer:
                signer.add(alive.rows, doc)
            alive.write(doc)
        stats = {"alive": alive.close(), "rejected": rejected.close()}
        if signer:
            stats["signed"], stats["unsigned"] = signer.close()
        return stats

    def _replay(self, unit: int):
        if "classifier" in self._running:
            for doc in iter_rows(self._layout.path(self.segment, unit, "alive.parquet")):
                yield beam.pvalue.TaggedOutput(SCORES, doc["quality_score"])


class _Signer:
    """MinHash signatures and band hashes of a unit's surviving documents, streamed to sidecar files.

    Signed document k (a document too short for one shingle has none) has its row
    in `rows.u32`, its signature in `sig.u32`, its band hashes in `bands.u64`, its
    classifier score in `score.f64` (NaN: none), and id, length and score in `meta.jsonl`
    (what near-dup ranks survivors by).
    """

    def __init__(self, layout: Layout, unit: int, hasher, bands: int, rows: int):
        self._layout, self._unit, self._hasher, self._bands, self._rows = layout, unit, hasher, bands, rows
        self._pending: list[tuple[int, dict]] = []
        self._files = SidecarWriter(lambda name: layout.path("s2", unit, SIDECARS[name]))
        self.signed = self.unsigned = 0

    def add(self, row: int, doc: dict) -> None:
        self._pending.append((row, doc))
        if len(self._pending) >= SIGN_BATCH:
            self._sign()

    def _sign(self) -> None:
        from pipelines.minhash import band_hashes

        signatures = self._hasher.signatures([doc["text"] for _, doc in self._pending])
        for (row, doc), signature in zip(self._pending, signatures):
            if signature is None:
                self.unsigned += 1
                continue
            self.signed += 1
            score = doc.get("quality_score")
            self._files.write("rows", np.uint32(row).tobytes())
            self._files.write("sig", signature.astype(np.uint32).tobytes())
            self._files.write("bands", band_hashes(signature, self._bands, self._rows).tobytes())
            self._files.write("score", np.float64(np.nan if score is None else score).tobytes())
            meta = [doc["id"], doc.get("n_chars") or len(doc["text"]), score]
            self._files.write("meta", (json.dumps(meta, ensure_ascii=False) + "\n").encode("utf-8"))
        self._pending = []

    def close(self) -> tuple[int, int]:
        self._sign()
        self._files.close()
        return self.signed, self.unsigned


class FinishSegment(_UnitTask):
    """s3: the classifier cut and near-dup decisions, then PII and bias: the final kept rows."""

    segment = "s3"

    def process(self, item, cut):
        unit, grouped = item
        (upstream,) = grouped["unit"]
        members = {row: info for row, *info in grouped["near"]}
        want = digest(self.segment, upstream["digest"], sorted(members.items()), cut)
        yield from self._run(unit, want, lambda: self._work(unit, members, cut), lambda stats: iter(()))

    def _work(self, unit: int, members: dict, cut):
        from pipelines.classifier import cut_rejection

        yield from ()  # s3 emits no small records: only its files and stats
        alive, rejected = self._writers(unit)
        near_dup = "near_dup" in self._running
        source = self._layout.path("s2", unit, "alive.parquet")
        for row, doc in enumerate(iter_rows(source)):
            rejection = cut_rejection(doc, cut) if cut is not None else None
            if rejection is None and near_dup:
                cluster, size, survivor = members.get(row, (doc["id"], 1, doc["id"]))
                doc = {**doc, "dup_cluster": cluster, "dup_cluster_size": size}
                if doc["id"] != survivor:
                    rejection = ("near_dup:duplicate", cluster)
            if rejection is None:
                doc, rejection = self._judge(doc)
            if rejection is not None:
                self._write_rejected(rejected, reject(doc, *rejection))
            else:
                self._write_kept(alive, doc)
        return {"alive": alive.close(), "rejected": rejected.close()}
