"""Compression of trained tokenizers on held-out documents: UTF-8 bytes per token.

Held-out = the validation split by the same id hash `gristmill tokenize` uses,
with the val_fraction the (first) tokenizer was trained with, so none of
these documents was in its training sample.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pyarrow.compute as pc
from tqdm import tqdm

from gristmill.dataset import Dataset, texts_of
from gristmill.errors import GristmillError
from tokenizer.saved import load_tokenizer
from tokenizer.split import is_val, val_threshold


def evaluate(tokenizer_dirs: list[str | Path], dataset_dir: str | Path, val_fraction: float | None = None) -> dict:
    """Bytes per token overall, per source and per language, one column per tokenizer."""
    loaded = [load_tokenizer(path) for path in tokenizer_dirs]
    dataset = Dataset.open(dataset_dir)
    if val_fraction is None:
        val_fraction = loaded[0][1].get("config", {}).get("val_fraction", 0.01)
    threshold = val_threshold(val_fraction)
    # (group, name) -> [docs, bytes, tokens per tokenizer...]
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0] + [0] * len(loaded))
    with tqdm(total=dataset.num_docs, desc="evaluating", unit="doc", mininterval=1.0) as bar:
        for path, batch in dataset.batches(["id", "text", "source", "lang"]):
            bar.update(batch.num_rows)
            rows = [i for i, doc_id in enumerate(batch.column("id").to_pylist()) if is_val(doc_id, threshold)]
            if not rows:
                continue
            batch = batch.take(rows)
            texts = texts_of(path, batch)
            sizes = pc.binary_length(batch.column("text")).to_pylist()
            counts = [[len(e.ids) for e in tok.encode_batch_fast(texts, add_special_tokens=False)] for tok, _ in loaded]
            columns = {name: batch.column(name).to_pylist() for name in ("source", "lang") if name in batch.schema.names}
            for row in range(len(texts)):
                keys = [("overall", "all")] + [(name, "(none)" if values[row] is None else values[row]) for name, values in columns.items()]
                for key in keys:
                    entry = totals[key]
                    entry[0] += 1
                    entry[1] += sizes[row]
                    for t, per_doc in enumerate(counts):
                        entry[2 + t] += per_doc[row]
    if not totals:
        raise GristmillError(
            f"{dataset.root}: no held-out documents at val_fraction {val_fraction} "
            f"({dataset.num_docs} documents in all); pass a larger --val-fraction"
        )
    order = {"overall": 0, "source": 1, "lang": 2}
    groups = []
    for (group, name), (docs, size, *tokens) in sorted(totals.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        groups.append(
            {
                "group": group,
                "name": name,
                "docs": docs,
                "bytes": size,
                "tokens": tokens,
                "bytes_per_token": [round(size / n, 4) if n else None for n in tokens],
            }
        )
    return {
        "tokenizers": [{"path": str(path), "vocab_size": meta["vocab_size"], "sha256": meta["tokenizer_sha256"]} for path, (_, meta) in zip(tokenizer_dirs, loaded)],
        "dataset_manifest_sha256": dataset.manifest_sha256,
        "val_fraction": val_fraction,
        "groups": groups,
    }


def format_table(report: dict) -> str:
    """A plain-text table: one row per group, one bytes/token column per tokenizer."""
    heads = ["group", "name", "docs", "bytes"] + [f"bytes/token [{Path(t['path']).name or t['path']} v={t['vocab_size']}]" for t in report["tokenizers"]]
    rows = [
        [g["group"], g["name"], str(g["docs"]), str(g["bytes"])] + ["-" if v is None else f"{v:.3f}" for v in g["bytes_per_token"]]
        for g in report["groups"]
    ]
    widths = [max(len(r[i]) for r in [heads] + rows) for i in range(len(heads))]
    lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))) for row in [heads] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
