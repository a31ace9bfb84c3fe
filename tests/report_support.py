"""Small curated datasets for the report tests, laid out as `gristmill curate` writes them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.config import CurateConfig
from pipelines.manifest import funnel
from pipelines.schema import data_schema, rejected_schema
from pipelines.staging import json_lines, write_parquet

SENTENCES = [
    "The river mill ground wheat for the whole valley, and farmers came from three villages to use it.",
    "In spring the water ran high, so the miller opened the sluice gate and let the wheel turn faster.",
    "A good dataset is counted twice: once by the pipeline that writes it and once by the report that reads it.",
    "Bread made from stone-ground flour keeps its flavour longer than bread from roller-milled flour.",
    "The old ledger recorded every sack of grain, the name of its owner and the price paid for grinding.",
    "Children watched the great wheel from the bridge while ducks paddled in the calm water of the pond.",
]


def kept_rows() -> list[dict]:
    rows = []
    for i, sentence in enumerate(SENTENCES):
        text = f"{sentence} Record {i}: please write to the office for details, <EMAIL> answers within a week."
        rows.append({"id": f"doc-{i:03d}", "text": text, "source": "fixture", "n_chars": len(text),
                     "lang": "en", "lang_score": 0.9 + i / 100, "dup_cluster": f"doc-{i:03d}", "dup_cluster_size": 1})
    return rows


def rejected_rows() -> list[dict]:
    return [
        {"id": "rej-000", "text": "", "source": "fixture", "n_chars": 0, "reason": "length:too_short", "detail": "0"},
        {"id": "rej-001", "text": "Der Müller mahlt das Korn, und das Wasser treibt das große Rad.", "source": "fixture",
         "n_chars": 63, "lang": "de", "lang_score": 0.97, "reason": "language:not_allowed", "detail": "de"},
        {"id": "rej-002", "text": "Call me at 555-123-4567 or write to someone@example.org about the mill.", "source": "fixture",
         "n_chars": 72, "lang": "en", "lang_score": 0.4, "reason": "language:low_score", "detail": "0.4000"},
    ]


def config() -> dict:
    data = CurateConfig().model_dump(mode="json")
    data["language"].update(allowed=["en"], min_score=0.65)
    data["length"].update(min_chars=10, max_chars=10_000)
    # The PII stage's section, as the manifest records it: redaction on, default entity types.
    data.setdefault("pii", {"enabled": True})
    return data


def describe(root: Path, path: str) -> dict:
    raw = (root / path).read_bytes()
    rows = pq.ParquetFile(root / path).metadata.num_rows if path.endswith(".parquet") else raw.count(b"\n")
    return {"path": path, "rows": rows, "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}


def write_dataset(root: Path, kept: list[dict], rejected: list[dict], errors: list[dict], cfg: dict) -> Path:
    """A dataset directory as `gristmill curate` lays it out: two data shards, one rejected, one errors."""
    for sub in ("data", "rejected", "errors"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    half = len(kept) // 2
    write_parquet(str(root / "data/part-00000.parquet"), kept[:half], data_schema())
    write_parquet(str(root / "data/part-00001.parquet"), kept[half:], data_schema())
    write_parquet(str(root / "rejected/part-00000.parquet"), rejected, rejected_schema())
    (root / "errors/part-00000.jsonl").write_bytes(json_lines(errors))
    by_reason = {}
    for row in rejected:
        by_reason[row["reason"]] = by_reason.get(row["reason"], 0) + 1
    total = len(kept) + len(rejected) + len(errors)
    manifest = {
        "format": "gristmill-dataset-v1",
        "gristmill_version": "test",
        "created_at": "2026-11-23T00:00:00+00:00",
        "config": cfg,
        "config_hash": hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest(),
        "counts": {"input": total, "kept": len(kept), "rejected": len(rejected), "errors": len(errors),
                   "rejected_by_reason": dict(sorted(by_reason.items())), "funnel": funnel(total, len(errors), by_reason)},
        "shards": {
            "data": [describe(root, "data/part-00000.parquet"), describe(root, "data/part-00001.parquet")],
            "rejected": [describe(root, "rejected/part-00000.parquet")],
            "errors": [describe(root, "errors/part-00000.jsonl")],
        },
        "timings": {},
        "near_dup": {"clusters": 0, "removed": 0, "threshold": 0.8},
        "bias": {"terms": [{"group": "example", "kept_docs": 1, "rate_per_1k_words": 0.5}]},
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return root


ERRORS = [{"source_path": "in.jsonl", "offset": 7, "offset_unit": "line", "message": "not JSON", "excerpt": "{oops"}]
