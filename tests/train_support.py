"""Builds token directories in the `gristmill-tokens-v1` format for the training tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

BYTE_EOT = 256  # byte-level "tokenizer": token = UTF-8 byte, 256 = end of text


def write_token_dir(
    root: Path,
    splits: dict[str, list[np.ndarray]],
    vocab_size: int,
    eot_id: int,
    dtype: str = "uint16",
    docs_per_shard: int = 50,
    bytes_per_token: float = 1.0,
) -> Path:
    """Write each split's docs (arrays of token ids) as shards: each doc followed by eot."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format": "gristmill-tokens-v1",
        "dtype": dtype,
        "vocab_size": vocab_size,
        "eot_id": eot_id,
        "pad_id": eot_id,
        "tokenizer_sha256": "test",
        "dataset_manifest_sha256": "test",
        "val_fraction": 0.1,
        "splits": {},
    }
    for name, docs in {"train": [], "val": [], **splits}.items():
        (root / name).mkdir(exist_ok=True)
        shards, total = [], 0
        for n, start in enumerate(range(0, len(docs), docs_per_shard)):
            chunk = docs[start : start + docs_per_shard]
            parts, offsets = [], [0]
            for d in chunk:
                parts += [np.asarray(d), np.array([eot_id])]
                offsets.append(offsets[-1] + len(d) + 1)
            tokens = np.concatenate(parts).astype(np.dtype(dtype).newbyteorder("<"))
            path = f"{name}/part-{n:05d}.bin"
            tokens.tofile(root / path)
            np.save(root / f"{name}/part-{n:05d}.idx.npy", np.array(offsets, dtype=np.int64))
            shards.append({"path": path, "offsets": f"{name}/part-{n:05d}.idx.npy", "tokens": len(tokens),
                           "docs": len(chunk), "sha256": "unchecked"})
            total += len(tokens)
        n_bytes = int(round(sum(len(d) for d in docs) * bytes_per_token))
        manifest["splits"][name] = {"tokens": total, "docs": len(docs), "bytes": n_bytes, "shards": shards}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def byte_docs(texts: list[str]) -> list[np.ndarray]:
    return [np.frombuffer(t.encode("utf-8"), dtype=np.uint8).astype(np.int64) for t in texts]


def counter_docs(n_docs: int, seed: int, start: int = 0, max_len: int = 300) -> list[np.ndarray]:
    """Docs whose tokens are a global counter, so every window of the packed stream is unique."""
    rng = np.random.default_rng(seed)
    docs, next_token = [], start
    for length in rng.integers(1, max_len, n_docs):
        docs.append(np.arange(next_token, next_token + length))
        next_token += length
    return docs
