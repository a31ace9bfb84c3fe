"""Exact deduplication: documents with identical normalized text keep one survivor, the smallest id.

Only (text hash, (id, unit, row)) records are grouped; the decisions go back to
the units as (unit, (row, survivor id)), and the s2 task of each unit rejects
those rows as `exact_dedup:duplicate` with the survivor's id as detail.
"""

from __future__ import annotations

import apache_beam as beam
import xxhash


def text_key(text: str) -> bytes:
    return xxhash.xxh3_128_digest(text.encode("utf-8"))


def duplicates(group):
    """(unit, (row, survivor id)) for every member of a hash group but its smallest id."""
    _, members = group
    members = sorted(members)
    survivor = members[0][0]
    for _, unit, row in members[1:]:
        yield unit, (row, survivor)


class ExactDedup(beam.PTransform):
    """(text hash, (id, unit, row)) -> (unit, (row, survivor id)) for the documents to reject."""

    def expand(self, keys):
        return keys | "GroupByText" >> beam.GroupByKey() | "Duplicates" >> beam.FlatMap(duplicates)
