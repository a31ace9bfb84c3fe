"""Exact deduplication: documents with identical normalized text keep one survivor, the smallest id."""

from __future__ import annotations

import apache_beam as beam
import xxhash

from pipelines.stage import KEPT, REJECTED, reject


def text_key(text: str) -> str:
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8"))


class _KeepSmallestId(beam.DoFn):
    def process(self, group):
        _, docs = group
        docs = sorted(docs, key=lambda d: d["id"])
        survivor = docs[0]["id"]
        yield docs[0]
        for doc in docs[1:]:
            yield beam.pvalue.TaggedOutput(REJECTED, reject(doc, "exact_dedup:duplicate", survivor))


class ExactDedupStage(beam.PTransform):
    name = "exact_dedup"

    def expand(self, docs):
        results = (
            docs
            | "KeyByText" >> beam.Map(lambda d: (text_key(d["text"]), d))
            | "GroupByText" >> beam.GroupByKey()
            | "KeepOne" >> beam.ParDo(_KeepSmallestId()).with_outputs(REJECTED, main=KEPT)
        )
        return {KEPT: results[KEPT], REJECTED: results[REJECTED]}
