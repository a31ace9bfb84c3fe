"""The curate pipeline: sources in, a sharded dataset with every record accounted for out."""

from __future__ import annotations

import logging
import os
import time

import apache_beam as beam
import fsspec
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.classifier_stage import ClassifierStage
from pipelines.config import CurateConfig
from pipelines.errors import GristmillError
from pipelines.exact_dedup import ExactDedupStage
from pipelines.language_stage import LanguageStage
from pipelines.quality_stage import QualityRulesStage
from pipelines.manifest import MANIFEST, OUTPUT_DIRS, STATS_DIR, write_manifest
from pipelines.neardup import NearDupStage
from pipelines.normalize import NormalizeStage
from pipelines.pii_stage import BiasStage, PiiStage, RedactField
from pipelines.schema import data_schema, rejected_schema
from pipelines.sinks import WriteErrorShards, WriteJson, WriteParquetShards
from pipelines.sources import ERRORS, InputFile, ReadSources, expand_inputs
from pipelines.stage import KEPT, REJECTED

log = logging.getLogger(__name__)


def build_stages(config: CurateConfig) -> list[beam.PTransform]:
    """The stages in pipeline order: cheap, high-yield ones first, the global near-dup step late, PII last."""
    stages: list[beam.PTransform] = [NormalizeStage(config.normalize, config.length)]
    if config.exact_dedup.enabled:
        stages.append(ExactDedupStage())
    if config.language.enabled:
        stages.append(LanguageStage(config.language))
    quality_rules = QualityRulesStage(config.quality)
    if quality_rules.families:
        stages.append(quality_rules)
    if config.classifier.enabled:
        stages.append(ClassifierStage(config.classifier))
    if config.near_dup.enabled:
        stages.append(NearDupStage(config.near_dup))
    # PII and bias stay last: placeholders must not make documents look alike to dedup.
    if config.pii.enabled:
        stages.append(PiiStage(config.pii))
    if config.bias.enabled:
        stages.append(BiasStage(config.bias))
    return stages


class Curate(beam.PTransform):
    """read -> stages -> data/, rejected/, errors/ and the counts the manifest needs."""

    def __init__(self, files: list[InputFile], config: CurateConfig, out_url: str):
        super().__init__()
        self._files, self._config, self._out = files, config, out_url

    def expand(self, pbegin):
        read = pbegin | "Read" >> ReadSources(self._files)
        (read["docs"], read[REJECTED], read[ERRORS]) | "AllRecordsRead" >> beam.Flatten() | "CountInput" >> (
            beam.combiners.Count.Globally()
        ) | "WriteInputCount" >> WriteJson(f"{self._out}/{STATS_DIR}/input.json")

        stages = build_stages(self._config)
        docs, rejected = read["docs"], [read[REJECTED]]
        for stage in stages:
            result = docs | stage  # labelled by the stage class
            docs = result[KEPT]
            rejected.append(result[REJECTED])
        all_rejected = tuple(rejected) | "AllRejected" >> beam.Flatten()
        errors = read[ERRORS]
        if self._config.pii.enabled:
            # Documents rejected before the PII stage, and bad records' excerpts, still hold raw text.
            all_rejected = all_rejected | "RedactRejected" >> RedactField(self._config.pii, "text")
            errors = errors | "RedactErrors" >> RedactField(self._config.pii, "excerpt")

        out = self._config.output
        docs | "WriteData" >> WriteParquetShards(f"{self._out}/data", out.shards, data_schema())
        all_rejected | "WriteRejected" >> WriteParquetShards(f"{self._out}/rejected", out.rejected_shards, rejected_schema())
        errors | "WriteErrors" >> WriteErrorShards(f"{self._out}/errors", out.error_shards)

        for stage in stages:
            if hasattr(stage, "manifest_section"):
                section = stage.section_name
                stage.manifest_section(docs, all_rejected) | f"Write_{section}" >> WriteJson(
                    f"{self._out}/{STATS_DIR}/section-{section}.json"
                )
        return docs


def pipeline_options(config: CurateConfig, beam_args: list[str]) -> PipelineOptions:
    """DirectRunner on all cores by default; anything given after `--` overrides it."""
    workers = config.runner.direct_num_workers or os.cpu_count() or 1
    defaults = [
        f"--direct_num_workers={workers}",
        f"--direct_running_mode={config.runner.direct_running_mode}",
        "--default_sdk_harness_log_level=WARNING",
    ]
    return PipelineOptions(defaults + list(beam_args))


def prepare_output(out_url: str) -> None:
    """Fail before any work when the output cannot be written; clear a previous run's outputs."""
    fs, root = fsspec.core.url_to_fs(out_url)
    probe = f"{root}/.gristmill-write-test"
    try:
        fs.makedirs(root, exist_ok=True)
        with fs.open(probe, "wb") as handle:
            handle.write(b"ok")
        fs.rm(probe)
    except OSError as err:
        raise GristmillError(f"output directory {out_url} is not writable: {err.strerror or err}") from None
    # The manifest goes first: a directory without one is never mistaken for a finished dataset.
    for name in (MANIFEST, STATS_DIR, "report", *OUTPUT_DIRS):
        path = f"{root}/{name}"
        if fs.exists(path):
            fs.rm(path, recursive=True)


def run_curate(config: CurateConfig, beam_args: list[str] = ()) -> dict:
    """Run the pipeline and write the manifest; returns the manifest."""
    started = time.time()
    files, skipped = expand_inputs(config)
    out_url = config.output.dir.rstrip("/")
    prepare_output(out_url)
    for path in skipped:
        log.warning("skipping %s: unknown format (name a format in the config to read it)", path)
    options = pipeline_options(config, beam_args)
    with beam.Pipeline(options=options) as pipeline:
        pipeline | "Curate" >> Curate(files, config, out_url)
    pipeline_s = time.time() - started
    timings = {"pipeline_s": round(pipeline_s, 3)}
    manifest = write_manifest(out_url, config, files, skipped, timings)
    return manifest
