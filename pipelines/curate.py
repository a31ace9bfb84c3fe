"""The curate pipeline: sources in, a sharded dataset with every record accounted for out.

  units (groups of small files, files, Parquet row groups)
  -> s1: read, normalize, length                (per unit; `pipelines.segments`)
  -> exact dedup on text-hash sidecars         (global; only duplicates shuffled)
  -> s2: filters, language, quality rules, classifier score   (per unit)
  -> classifier cut, near-dup on MinHash sidecars    (global, small records)
  -> s3: near-dup decisions, PII, bias               (per unit)
  -> shards sized by bytes, streamed from the units' files

The stages of each segment, and their order, are declared in `pipelines.stages`.

Document text stays in per-unit staged files; shuffles carry only hashes, ids,
row numbers, decisions and stats. The run works in `<output>.staging/<key>/`
and publishes the finished dataset (manifest last) by renaming it into place,
so a killed run never damages the previous dataset, and a rerun with the same
config reuses every unit whose work completed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import threading
import time

import apache_beam as beam
import fsspec
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines import beam_logs
from pipelines.config import CurateConfig
from gristmill.errors import GristmillError
from pipelines.manifest import MANIFEST, OUTPUT_DIRS, STATS_DIR, write_manifest
from pipelines.process_exit import freeze_heap_at_exit
from pipelines.segments import SCORES, FinishSegment, JudgeSegment, Layout, ReadSegment
from pipelines.sinks import WriteJson, WriteShards
from pipelines.sources import Unit, expand_inputs, plan_units
from pipelines.stage import add_nested
from pipelines.stages import SEGMENTS, build_stages, in_order

log = logging.getLogger(__name__)

# What a finished dataset directory may hold; anything else there stops the run before it replaces the directory.
DATASET_ENTRIES = {MANIFEST, STATS_DIR, "report", *OUTPUT_DIRS}
PROGRESS_POLL_S = 1.0


def summarize(stats: list) -> dict:
    """Every unit's stats record -> records read, units done and reused per segment, and the stages' sums.

    Summed in (unit, segment) order, so the sums never depend on the order the records came in.
    """
    total: dict = {}
    for _, record in sorted(stats, key=lambda item: (item[0], item[1]["segment"])):
        segment = record["segment"]
        add_nested(total, {
            "input": record.get("input", 0),
            "units": {segment: 1},
            "reused": {segment: record["reused"]},
            "tally": record.get("tally", {}),
        })
    return total


def summary_files(summary: dict, config: CurateConfig, layout: Layout) -> list[tuple[str, object]]:
    """(file name under _stats/, value): the input count, the resume record and each stage's manifest section."""
    files = [("input.json", summary.get("input", 0))]
    files.append(("section-resume.json", {
        "units": summary.get("units", {}).get("s1", 0),
        "reused_units": {segment: summary.get("reused", {}).get(segment, 0) for segment in SEGMENTS},
    }))
    tally = summary.get("tally", {})
    for stage in in_order(build_stages(config, layout)):
        sums = tally.get(stage.name, {})
        section = stage.section(sums.get("kept", {}), sums.get("rejected", {}))
        if section is not None:
            files.append((f"section-{stage.name}.json", section))
    return files


class _WriteStats(beam.DoFn):
    def __init__(self, directory: str, config: CurateConfig, layout: Layout):
        self._directory, self._config, self._layout = directory, config, layout

    def process(self, stats):
        import json

        from gristmill.files import atomic_write

        for name, value in summary_files(summarize(stats), self._config, self._layout):
            atomic_write(f"{self._directory}/{name}", json.dumps(value, sort_keys=True, default=str).encode("utf-8"))


class Curate(beam.PTransform):
    """Units -> the staged dataset in `dataset_url`: shards plus the stats the manifest is built from."""

    def __init__(self, units: list[Unit], config: CurateConfig, layout: Layout, dataset_url: str):
        super().__init__()
        self._units, self._config, self._layout, self._dataset = units, config, layout, dataset_url

    def expand(self, pbegin):
        config, layout = self._config, self._layout
        stages = build_stages(config, layout)
        sections = {}  # the global steps' manifest sections, each a one-element PCollection
        later = {}  # segment -> {stage: function from that segment's stats to its section}

        def joined(segment: str, stats, cut=None):
            """A segment's input: the previous segment's stats and each of its cross-document stages' decisions."""
            inputs = {"unit": stats}
            for stage in stages[segment]:
                if stage.cross_document:
                    inputs[stage.name], section = stage.decide(stats, layout, cut)
                    if callable(section):
                        later.setdefault(segment, {})[stage.name] = section
                    elif section is not None:
                        sections[stage.name] = section
            names = [name.title().replace("_", "") for name in inputs if name != "unit"]  # JoinExactDedup
            return inputs | f"Join{''.join(names) or segment}" >> beam.CoGroupByKey()

        s1 = (
            pbegin
            | "Units" >> beam.Create(self._units)  # Create redistributes more than one element itself
            | "Read" >> beam.ParDo(ReadSegment(config, layout))
        )
        s2 = joined("s2", s1) | "Judge" >> beam.ParDo(JudgeSegment(config, layout)).with_outputs(SCORES, main="stats")
        classifier = next((stage for stage in in_order(stages) if stage.name == "classifier"), None)
        cut = classifier.cut(s2[SCORES]) if classifier else None
        if classifier:
            sections[classifier.name] = cut | "ClassifierSection" >> beam.Map(classifier.cut_section)
        cut_input = beam.pvalue.AsSingleton(cut) if cut is not None else None
        s3 = joined("s3", s2.stats, cut) | "Finish" >> beam.ParDo(FinishSegment(config, layout), cut_input)
        for segment, segment_stats in (("s2", s2.stats), ("s3", s3)):
            for name, section_of in later.get(segment, {}).items():
                sections[name] = section_of(segment_stats)
        stats_dir = f"{self._dataset}/{STATS_DIR}"
        for name, section in sections.items():
            section | f"WriteSection/{name}" >> WriteJson(f"{stats_dir}/section-{name}.json")
        # One list of every stats record feeds both the shard plan and the summary.
        stats = (s1, s2.stats, s3) | "AllStats" >> beam.Flatten() | "StatsList" >> beam.combiners.ToList()
        stats | "Shards" >> WriteShards(self._dataset, layout, config.output.shard_bytes)
        return stats | "WriteStats" >> beam.ParDo(_WriteStats(stats_dir, config, layout))


def pipeline_options(config: CurateConfig, beam_args: list[str]) -> PipelineOptions:
    """Multi-process on all cores by default; anything given after `--` overrides it.

    Beam's construction-time type check is off (Beam has no flag to turn it back on): the
    stages declare no element types to check (at most Any), so all it did was infer them,
    a fifth of the CPU of building the graph (0.1-0.3 s a run).
    """
    workers = config.runner.direct_num_workers or os.cpu_count() or 1
    defaults = [
        f"--direct_num_workers={workers}",
        f"--direct_running_mode={config.runner.direct_running_mode}",
        "--default_sdk_harness_log_level=WARNING",
        "--no_pipeline_type_check",
    ]
    return PipelineOptions(defaults + list(beam_args))


def make_pipeline(options: PipelineOptions) -> beam.Pipeline:
    """A pipeline on the runner named after `--`, or else on the DirectRunner's batch engine (the FnApiRunner).

    That engine is named rather than left to the DirectRunner, which would first try the
    Prism runner (a binary it downloads) and fall back on its own when that fails.
    """
    if options.view_as(StandardOptions).runner:
        return beam.Pipeline(options=options)
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    info = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    return beam.Pipeline(runner=fn_runner.FnApiRunner(provision_info=info), options=options)


class Staging:
    """Where a run of `config` works: `<output>.staging/<key>/`, and the dataset it assembles there."""

    def __init__(self, config: CurateConfig):
        self.out = config.output.dir.rstrip("/")
        self.fs, self.out_path = fsspec.core.url_to_fs(self.out)
        self.base = self.out_path + ".staging"
        self.key = config.staging_key()
        self.root = f"{self.base}/{self.key}"
        self.layout = Layout(self.fs.unstrip_protocol(self.root))
        self.dataset = self.fs.unstrip_protocol(f"{self.root}/dataset")

    def prepare(self, fresh: bool) -> None:
        """Fail before any work when the output cannot be written or holds other things; keep completed units."""
        fs, out = self.fs, self.out_path
        previous = out + ".previous"
        if not fs.exists(out) and fs.exists(previous):
            fs.mv(previous, out, recursive=True)  # a publish was killed between its two renames
        if fs.isdir(out):
            foreign = sorted(posixpath.basename(p.rstrip("/")) for p in fs.ls(out, detail=False))
            foreign = [name for name in foreign if name not in DATASET_ENTRIES]
            if foreign:
                raise GristmillError(
                    f"output directory {self.out} holds files that are not part of a gristmill dataset "
                    f"({', '.join(foreign[:5])}); refusing to replace it: choose another --output"
                )
        probe = f"{self.root}/.gristmill-write-test"
        try:
            if fresh and fs.exists(self.base):
                fs.rm(self.base, recursive=True)
            fs.makedirs(self.root, exist_ok=True)
            with fs.open(probe, "wb") as handle:
                handle.write(b"ok")
            fs.rm(probe)
        except OSError as err:
            raise GristmillError(f"output directory {self.out} is not writable: {err.strerror or err}") from None
        for stale in fs.ls(self.base, detail=False):
            if posixpath.basename(stale.rstrip("/")) != self.key:
                fs.rm(stale, recursive=True)  # staged work of another config can never be reused
        dataset = f"{self.root}/dataset"
        if fs.exists(dataset):
            fs.rm(dataset, recursive=True)  # shards of an interrupted assembly are always rebuilt

    def publish(self) -> None:
        """Swap the assembled dataset into place, then drop the staging area."""
        fs, out = self.fs, self.out_path
        previous = out + ".previous"
        if fs.exists(out):
            fs.mv(out, previous, recursive=True)
        fs.mv(f"{self.root}/dataset", out, recursive=True)
        if fs.exists(previous):
            fs.rm(previous, recursive=True)
        fs.rm(self.base, recursive=True)


class Progress:
    """A live bar on stderr: input bytes read (from s1 markers), documents read and kept so far, rate.

    Workers leave a marker per finished unit in the staging area; the bar polls them,
    so it works on any runner whose workers write where the driver can read.
    """

    def __init__(self, layout: Layout, units: list[Unit]):
        from tqdm import tqdm

        self._layout = layout
        total = sum(u.input_bytes for u in units)
        self._bar = tqdm(total=total, unit="B", unit_scale=True, desc="curate", disable=None, dynamic_ncols=True)
        self._seen: dict[str, dict] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self):
        if not self._bar.disable:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()
            self._update()  # the final counts, once every marker is written
        self._bar.close()

    def _poll(self):
        while not self._done.wait(PROGRESS_POLL_S):
            self._update()

    def _update(self):
        from pipelines.staging import read_marker

        fs, root = fsspec.core.url_to_fs(self._layout.root)
        try:
            paths = fs.glob(f"{root}/s[13]/*.done.json")
        except OSError:
            return
        for path in paths:
            if path not in self._seen:
                marker = read_marker(fs.unstrip_protocol(path))
                if marker:
                    self._seen[path] = marker["stats"]
        read = [s for p, s in self._seen.items() if "/s1/" in p]
        kept = sum(s["alive"]["rows"] for p, s in self._seen.items() if "/s3/" in p)
        self._bar.n = sum(s.get("input_bytes", 0) for s in read)
        self._bar.set_postfix(docs=sum(s.get("input", 0) for s in read), kept=kept, refresh=False)
        self._bar.refresh()


def run_curate(config: CurateConfig, beam_args: list[str] = (), fresh: bool = False) -> dict:
    """Run the pipeline, write the manifest and publish the dataset; returns the manifest."""
    started = time.time()
    freeze_heap_at_exit()
    files, skipped = expand_inputs(config)
    staging = Staging(config)
    staging.prepare(fresh)
    for path in skipped:
        log.warning("skipping %s: unknown format (name a format in the config to read it)", path)
    units = plan_units(files, config.runner.unit_bytes)
    decontamination = {s.name: s for s in in_order(build_stages(config, staging.layout))}.get("decontamination")
    if decontamination:
        decontamination.build_index()  # a malformed eval file stops the run here, before any work
    pipeline = make_pipeline(pipeline_options(config, beam_args))
    pipeline | "Curate" >> Curate(units, config, staging.layout, staging.dataset)
    quiet = beam_logs.quiet_worker_stderr() if not log.isEnabledFor(logging.INFO) else contextlib.nullcontext()
    with quiet, Progress(staging.layout, units):
        pipeline.run().wait_until_finish()
    timings = {"pipeline_s": round(time.time() - started, 3)}
    manifest = write_manifest(staging.dataset, config, files, skipped, timings)
    staging.publish()
    return manifest
