"""The near-dup step on staged units, without the rest of curate: for its tests and benchmarks.

Documents are spread over a few units as the s2 task leaves them (alive rows plus
MinHash sidecars); then the real `NearDup` transform and the real s3 task run.
"""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam

from pipelines.config import CurateConfig, NearDupConfig
from pipelines.minhash import MinHasher
from pipelines.near_dup import NearDup, Signer, lsh_shape
from pipelines.schema import data_schema
from pipelines.segments import FinishSegment, Layout
from pipelines.staging import RowWriter, iter_rows

def write_jsonl(pcoll, path: Path, label: str):
    return (
        pcoll
        | f"{label}/Json" >> beam.Map(lambda x: json.dumps(x, sort_keys=True))
        | f"{label}/Write" >> beam.io.WriteToText(str(path), shard_name_template="")
    )


def read_jsonl(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


UNITS = 3


def stage_units(layout: Layout, docs: list[dict], config: CurateConfig) -> list:
    """Docs spread over UNITS units as the s2 task leaves them: alive rows plus MinHash sidecars; their stats."""
    near = config.near_dup
    hasher = MinHasher(num_perm=near.num_perm, seed=near.seed, shingle=near.shingle, ngram=near.ngram)
    bands, rows = lsh_shape(near)
    stats = []
    for unit in range(UNITS):
        part = [{"n_chars": len(d["text"]), "source": "t", **d} for d in docs[unit::UNITS]]
        writer = RowWriter(layout.path("s2", unit, "alive.parquet"), data_schema())
        signer = Signer(layout, unit, hasher, bands, rows)
        for doc in part:
            signer.add(writer.rows, doc)
            writer.write(doc)
        stats.append((unit, {"segment": "s2", "digest": str(unit), "alive": writer.close(), **signer.close()}))
    return stats


def run_stages(tmp: Path, runs: dict[str, tuple[list[dict], NearDupConfig]]) -> dict[str, dict]:
    """Runs the near-dup step and the s3 task on staged units, one per named run inside one pipeline;
    returns kept, rejected and section per run (and the verified edges and labels)."""
    layouts = {}
    with beam.Pipeline() as p:
        for name, (docs, near) in runs.items():
            config = CurateConfig(near_dup=near, pii={"enabled": False}, bias={"enabled": False})
            layout = layouts[name] = Layout(str(tmp / name))
            stats = p | f"{name}/Stats" >> beam.Create(stage_units(layout, docs, config))
            result = stats | f"{name}/NearDup" >> NearDup(near, layout)
            (
                {"unit": stats, "near_dup": result["decisions"]}
                | f"{name}/Join" >> beam.CoGroupByKey()
                | f"{name}/Finish" >> beam.ParDo(FinishSegment(config, layout), None)
            )
            for part in ("section", "edges", "labels"):
                write_jsonl(result[part], tmp / f"{name}-{part}.jsonl", f"{name}/{part}")
    out = {}
    for name in runs:
        rows = {kind: [r for u in range(UNITS) for r in iter_rows(layouts[name].path("s3", u, f"{kind}.parquet"))]
                for kind in ("alive", "rejected")}
        out[name] = {
            "kept": {d["id"]: d for d in rows["alive"]},
            "rejected": {d["id"]: d for d in rows["rejected"]},
            **{part: read_jsonl(tmp / f"{name}-{part}.jsonl") for part in ("section", "edges", "labels")},
        }
    return out


