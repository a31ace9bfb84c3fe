"""The curate configuration: one YAML file (or a run config's `curate:` section), validated before any work starts."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, create_model, field_validator, model_validator

from gristmill.config import Section, canonical_json, section_data, with_overrides
from pipelines.formats import FORMATS
from quality.classifier import ClassifierThresholds
from quality.langid import LanguageThresholds
from quality.rule_chain import FAMILIES
from quality.pii import PiiSettings
from quality.bias import BiasSettings
from quality.decontamination import DecontaminationSettings
from quality.line_dedup import LineDedupSettings
from quality.url_filter import UrlFilterSettings


Format = Literal[FORMATS]


class SourceConfig(Section):
    """One input: a path, a directory or a glob (local or any fsspec URL)."""

    path: str
    format: Format = "auto"
    name: str | None = Field(default=None, description="source label; default: the file or directory name")
    text_field: str = "text"
    id_field: str = "id"
    url_field: str = "url"
    text_mode: Literal["file", "line"] = Field(
        default="file", description="plain text: one document per file, or one per line"
    )


class OutputConfig(Section):
    dir: str = "out"
    shard_bytes: int = Field(
        default=256 << 20, ge=1, description="text bytes per shard (data/, rejected/, errors/); the shard count follows"
    )


class NormalizeConfig(Section):
    ftfy: bool = True
    nfc: bool = True
    control_chars: bool = True
    whitespace: bool = True


class LengthConfig(Section):
    min_chars: int = Field(default=1, ge=1)
    max_chars: int = Field(default=1_000_000, ge=1)


class ExactDedupConfig(Section):
    enabled: bool = True


QualityConfig = create_model(
    "QualityConfig",
    __base__=Section,
    __doc__="The rule families, one key each (its thresholds model), in the chain's order; see `quality.rule_chain`.",
    __module__=__name__,
    **{family.name: (family.thresholds, Field(default_factory=family.thresholds)) for family in FAMILIES},
    unsegmented_languages=(list[str], Field(
        default_factory=lambda: ["zh", "ja", "th", "lo", "km", "my", "bo"],
        description="languages written without spaces between words: the word-based rules skip their documents",
    )),
)


class NearDupConfig(Section):
    """MinHash LSH near-duplicate removal with transitive clusters; see `pipelines.near_dup`."""

    enabled: bool = True
    shingle: Literal["word", "char"] = Field(default="word", description="word n-grams or character n-grams")
    ngram: int = Field(default=5, ge=1, le=64, description="tokens (or characters) per shingle")
    num_perm: int = Field(default=256, ge=16, le=1024, description="values per signature (one permutation hashing bins)")
    seed: int = Field(default=42, ge=0, description="seed of the shingle hash key and the bins' probe orders")
    threshold: float = Field(default=0.8, gt=0.0, lt=1.0, description="Jaccard similarity that makes a near-duplicate")
    bands: int | None = Field(default=None, ge=1, description="LSH bands; default derived from threshold")
    rows: int | None = Field(default=None, ge=1, description="rows per band; default derived from threshold")
    bucket_cap: int = Field(default=1000, ge=2, description="a bucket with more ids becomes a chain, not a star")
    verify: bool = Field(default=True, description="keep an edge only if the signatures' estimated Jaccard reaches threshold")
    keep: Literal["quality", "longest", "smallest_id"] = Field(default="quality", description="which cluster member survives")

    @model_validator(mode="after")
    def _bands_and_rows(self):
        if (self.bands is None) != (self.rows is None):
            raise ValueError("near_dup.bands and near_dup.rows go together: set both or neither")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"near_dup.bands * rows ({self.bands * self.rows}) exceeds num_perm ({self.num_perm})")
        return self


class HtmlConfig(Section):
    """How HTML pages (html files, WARC responses) become text; see `pipelines.html_text`."""

    extractor: Literal["trafilatura", "resiliparse"] = Field(
        default="trafilatura", description="trafilatura: best main text (measured); resiliparse: about 12x faster"
    )


class RunnerConfig(Section):
    """How the work is cut into tasks, and the local DirectRunner settings (pipeline options after `--` override those)."""

    unit_bytes: int = Field(
        default=1 << 20, ge=1,
        description="input bytes per read task: consecutive small files are read together up to this; "
        "a larger file and each Parquet row group are tasks of their own",
    )
    direct_num_workers: int = Field(default=0, ge=0, description="0 = all cores")
    direct_running_mode: Literal["multi_processing", "multi_threading", "in_memory"] = "multi_processing"


class CurateConfig(Section):
    inputs: list[SourceConfig] = Field(default_factory=list)
    output: OutputConfig = Field(default_factory=OutputConfig)
    normalize: NormalizeConfig = Field(default_factory=NormalizeConfig)
    length: LengthConfig = Field(default_factory=LengthConfig)
    html: HtmlConfig = Field(default_factory=HtmlConfig)
    exact_dedup: ExactDedupConfig = Field(default_factory=ExactDedupConfig)
    line_dedup: LineDedupSettings = Field(default_factory=LineDedupSettings)
    url_filter: UrlFilterSettings = Field(default_factory=UrlFilterSettings)
    decontamination: DecontaminationSettings = Field(default_factory=DecontaminationSettings)
    language: LanguageThresholds = Field(default_factory=LanguageThresholds)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    classifier: ClassifierThresholds = Field(default_factory=ClassifierThresholds)
    near_dup: NearDupConfig = Field(default_factory=NearDupConfig)
    pii: PiiSettings = Field(default_factory=PiiSettings)
    bias: BiasSettings = Field(default_factory=BiasSettings)
    runner: RunnerConfig = Field(default_factory=RunnerConfig)

    @field_validator("inputs", mode="before")
    @classmethod
    def _paths_as_sources(cls, value):
        if isinstance(value, (str, dict)):
            value = [value]
        return [{"path": v} if isinstance(v, str) else v for v in value or []]

    def config_hash(self) -> str:
        """sha256 of the canonical JSON of the config; names the run's outputs."""
        return hashlib.sha256(canonical_json(self.model_dump(mode="json")).encode()).hexdigest()

    def staging_key(self) -> str:
        """What the staged per-unit work depends on: the config less where it goes and how it runs."""
        work = self.model_dump(mode="json", exclude={"output", "runner"})
        return hashlib.sha256(canonical_json(work).encode()).hexdigest()[:16]


def load_config(path: str | Path, overrides: list[str] = ()) -> CurateConfig:
    """Load a curate config; a `curate:` section is used when the file also holds other stages."""
    config = CurateConfig.parse(section_data(path, "curate"), str(path))
    resolve_paths(config, Path(path).resolve().parent)
    return with_overrides(config, overrides, path)


def resolve_paths(config: CurateConfig, base: Path) -> None:
    """Relative input and output paths are relative to the config file (`base`), so a config travels with its data."""
    for source in config.inputs:
        if "://" not in source.path and not Path(source.path).is_absolute():
            source.path = os.path.normpath(base / source.path)
    if "://" not in config.output.dir and not Path(config.output.dir).is_absolute():
        config.output.dir = os.path.normpath(base / config.output.dir)
    for section in (config.language, config.classifier):
        if section.model_path and "://" not in section.model_path and not Path(section.model_path).is_absolute():
            section.model_path = str(base / section.model_path)
    for eval_set in config.decontamination.sets:
        eval_set.path = str(base / eval_set.path)
    lists = config.url_filter
    lists.domain_lists, lists.url_lists, lists.ut1_lists = (
        [str(base / p) for p in paths] for paths in (lists.domain_lists, lists.url_lists, lists.ut1_lists)
    )
