"""The quality-rules stage: the registered rule families (Gopher repetition, Gopher quality, C4, FineWeb; `quality.rule_chain`).

Adds the signals of each family it reaches as typed columns (none for documents
in `quality.unsegmented_languages`, which the word-based rules cannot judge); C4 (when enabled)
replaces `text` with the lines it keeps and updates `n_chars`. Rejects with
`<family>:<rule>` and the failing value; C4's page rules give the offending line.
"""

from __future__ import annotations

import functools

from pipelines.stage import Stage, Verdict
from quality.rule_chain import FAMILIES, apply_rules
from quality.rule_family import Thresholds


def _judge(enabled: dict[str, Thresholds], unsegmented: frozenset[str], doc: dict) -> Verdict:
    if doc.get("lang") in unsegmented:
        return doc, None  # word-based rules cannot judge text written without spaces between words
    text, signals, rejection = apply_rules(doc["text"], enabled, doc.get("lang"))
    doc = {**doc, **signals}
    if text != doc["text"]:
        doc["text"], doc["n_chars"] = text, len(text)
    return doc, rejection


def make_quality_judge(enabled: dict[str, Thresholds], unsegmented: frozenset[str] = frozenset()):
    return functools.partial(_judge, enabled, unsegmented)


class QualityRulesStage(Stage):
    name = "quality_rules"

    @classmethod
    def reason_stages(cls) -> tuple[str, ...]:
        return tuple(family.name for family in FAMILIES)  # each family rejects under its own name

    @classmethod
    def from_config(cls, config, layout):
        stage = cls(config.quality)
        return stage if stage.families else None

    def __init__(self, config):
        """`config` is the `quality` config section; families with `enabled: false` are skipped."""
        enabled = {f.name: getattr(config, f.name) for f in FAMILIES if getattr(config, f.name).enabled}
        unsegmented = frozenset(config.unsegmented_languages)
        super().__init__(functools.partial(make_quality_judge, enabled, unsegmented))
        self.families = list(enabled)
