"""The Arrow schema of a curated dataset: one row per document.

Stages add typed columns here. A document that never reached a stage carries
null in that stage's columns (a document rejected early has no later signals).
"""

from __future__ import annotations

import pyarrow as pa

from quality.pii import COLUMNS as PII_COLUMNS
from quality.rule_chain import FAMILIES

BASE_FIELDS = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("url", pa.string()),
    pa.field("date", pa.string()),
    pa.field("metadata", pa.string()),  # the source's other fields, as JSON text
]

# Arrow types of the Python types the rule families declare for their columns.
_ARROW_TYPES = {int: pa.int64(), float: pa.float64()}


def stage_fields() -> list[pa.Field]:
    """Columns written by the stages, in pipeline order; each stage's module owns their meaning.

    The rule families' columns come from their declarations (`quality.rule_chain.FAMILIES`),
    the PII counts from `quality.pii.COLUMNS`; every shard has this one schema.
    """
    return [
        pa.field("n_chars", pa.int64()),
        pa.field("lang", pa.string()),  # quality.langid: top fastText label, without __label__
        pa.field("lang_score", pa.float64()),  # its probability
        *[pa.field(family.column(signal), _ARROW_TYPES[kind]) for family in FAMILIES for signal, kind in family.columns.items()],
        pa.field("quality_score", pa.float64()),  # quality.classifier: probability of the positive label
        pa.field("dup_cluster", pa.string()),  # pipelines.near_dup: smallest id of the near-duplicate cluster
        pa.field("dup_cluster_size", pa.int64()),  # documents in that cluster (1 = no near-duplicate)
        # quality.pii: entities found per type (counted before redaction; the values are never stored)
        *[pa.field(column, pa.int64()) for column in PII_COLUMNS.values()],
        pa.field("flagged_words_ratio", pa.float64()),  # quality.bias: flagged words / words; null: no list for the language
    ]


REJECT_FIELDS = [
    pa.field("reason", pa.string(), nullable=False),  # stage:rule
    pa.field("detail", pa.string()),  # the value that failed, or the survivor's id
]

ERROR_KEYS = ("source_path", "offset", "message", "excerpt")


def data_schema() -> pa.Schema:
    return pa.schema(BASE_FIELDS + stage_fields())


def rejected_schema() -> pa.Schema:
    return pa.schema(BASE_FIELDS + stage_fields() + REJECT_FIELDS)


def to_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Rows (dicts) to a table with exactly `schema`; keys outside it are an error, missing ones null."""
    names = set(schema.names)
    for row in rows:
        if not names.issuperset(row):
            raise KeyError(f"document {row.get('id')!r} has columns missing from the schema: {sorted(set(row) - names)}")
    return pa.Table.from_pylist(rows, schema=schema)
