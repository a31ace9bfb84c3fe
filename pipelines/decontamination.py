"""The decontamination stage: documents sharing n-grams with eval sets are rejected (`quality.decontamination`).

The index is built once by the launching process before any work (a malformed
eval file stops the run there), saved in the staging area, and memory-mapped by
every worker; its manifest section sums the matched items of the rejected rows.
"""

from __future__ import annotations

import functools

import fsspec

from pipelines.stage import Stage
from quality.decontamination import (
    DecontaminationSettings,
    build_index,
    decontamination_section,
    load_index,
    make_decontamination_judge,
    rejection_counts,
)


class DecontaminationStage(Stage):
    name = "decontamination"

    @classmethod
    def from_config(cls, config, layout):
        return cls(config.decontamination, layout.index_dir) if config.decontamination.enabled else None

    def __init__(self, settings: DecontaminationSettings, index_url: str):
        # The index is memory-mapped from a local path: on a cluster, staging must be a shared file system.
        self._index_dir = fsspec.core.url_to_fs(index_url)[1]
        self._settings = settings
        super().__init__(functools.partial(make_decontamination_judge, settings, self._index_dir))

    def build_index(self) -> None:
        """Build the index from the eval sets straight into the folder the workers load it from."""
        build_index(self._settings, self._index_dir)

    def rejected_counts(self, row: dict) -> dict | None:
        return rejection_counts(row["reason"], row["detail"])

    def section(self, kept: dict, rejected_by_reason: dict) -> dict:
        return decontamination_section(load_index(self._index_dir), rejected_by_reason)
