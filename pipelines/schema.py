"""The Arrow schema of a curated dataset: one row per document.

Stages add typed columns here. A document that never reached a stage carries
null in that stage's columns (a document rejected early has no later signals).
"""

from __future__ import annotations

import pyarrow as pa

BASE_FIELDS = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("url", pa.string()),
    pa.field("date", pa.string()),
    pa.field("metadata", pa.string()),  # the source's other fields, as JSON text
]

# Columns written by the stages, in pipeline order. Each stage's module owns the
# meaning of its columns; they are listed here so every shard has one schema.
STAGE_FIELDS: list[pa.Field] = [
    pa.field("n_chars", pa.int64()),
    pa.field("lang", pa.string()),  # quality.langid: top fastText label, without __label__
    pa.field("lang_score", pa.float64()),  # its probability
    # quality.gopher_repetition: duplicate paragraph/line fractions, top and duplicate n-gram character fractions
    *[pa.field(f"gr_{rule}", pa.float64()) for rule in (
        "dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac",
        "top_2gram_char_frac", "top_3gram_char_frac", "top_4gram_char_frac",
        "dup_5gram_char_frac", "dup_6gram_char_frac", "dup_7gram_char_frac",
        "dup_8gram_char_frac", "dup_9gram_char_frac", "dup_10gram_char_frac",
    )],
    # quality.gopher_quality
    pa.field("gq_word_count", pa.int64()),  # words with a character that is not punctuation or a symbol
    pa.field("gq_mean_word_length", pa.float64()),
    pa.field("gq_hash_ratio", pa.float64()),  # '#' per token
    pa.field("gq_ellipsis_ratio", pa.float64()),  # '...' and '…' per token
    pa.field("gq_bullet_lines_ratio", pa.float64()),
    pa.field("gq_ellipsis_lines_ratio", pa.float64()),
    pa.field("gq_alpha_words_ratio", pa.float64()),  # tokens with a letter
    pa.field("gq_stop_words", pa.int64()),  # distinct Gopher stop words present
    # quality.c4 (line cleaning; the text stored is the cleaned text)
    pa.field("c4_lines_removed", pa.int64()),
    pa.field("c4_sentences", pa.int64()),  # sentences in the kept lines
    # quality.fineweb (on the text after C4 cleaning)
    pa.field("fw_line_punct_ratio", pa.float64()),
    pa.field("fw_short_line_ratio", pa.float64()),
    pa.field("fw_dup_line_char_ratio", pa.float64()),
    pa.field("fw_newline_word_ratio", pa.float64()),
    pa.field("quality_score", pa.float64()),  # quality.classifier: probability of the positive label
    pa.field("dup_cluster", pa.string()),  # pipelines.near_dup: smallest id of the near-duplicate cluster
    pa.field("dup_cluster_size", pa.int64()),  # documents in that cluster (1 = no near-duplicate)
    # quality.pii: entities found per type (counted before redaction; the values are never stored)
    *[pa.field(f"pii_{entity}", pa.int64()) for entity in (
        "secret", "email", "iban", "credit_card", "us_ssn", "ip_address", "private_ip", "phone",
    )],
    pa.field("flagged_words_ratio", pa.float64()),  # quality.bias: flagged words / words; null: no list for the language
]

REJECT_FIELDS = [
    pa.field("reason", pa.string(), nullable=False),  # stage:rule
    pa.field("detail", pa.string()),  # the value that failed, or the survivor's id
]

ERROR_KEYS = ("source_path", "offset", "message", "excerpt")


def data_schema() -> pa.Schema:
    return pa.schema(BASE_FIELDS + STAGE_FIELDS)


def rejected_schema() -> pa.Schema:
    return pa.schema(BASE_FIELDS + STAGE_FIELDS + REJECT_FIELDS)


def to_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Rows (dicts) to a table with exactly `schema`; keys outside it are an error, missing ones null."""
    names = set(schema.names)
    for row in rows:
        extra = set(row) - names
        if extra:
            raise KeyError(f"document {row.get('id')!r} has columns missing from the schema: {sorted(extra)}")
    columns = {name: [row.get(name) for row in rows] for name in schema.names}
    return pa.Table.from_pydict(columns, schema=schema)
