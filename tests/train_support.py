"""Builds token directories in the `gristmill-tokens-v1` format for the training tests, with the tokenizer's writer;
and what the torch tests share: one intra-op thread, JSONL files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tokenizer.shards import ShardWriter, write_manifest

BYTE_EOT = 256  # byte-level "tokenizer": token = UTF-8 byte, 256 = end of text


def write_token_dir(
    root: Path,
    splits: dict[str, list[np.ndarray]],
    vocab_size: int,
    eot_id: int,
    dtype: str = "uint16",
    docs_per_shard: int = 50,
    bytes_per_token: float = 1.0,
    token_bytes: np.ndarray | None = None,
) -> Path:
    """Write each split's docs (arrays of token ids, eot appended) in shards of `docs_per_shard` docs.

    `token_bytes` (UTF-8 bytes per token id) is written as the directory's token -> bytes table.
    """
    root.mkdir(parents=True, exist_ok=True)
    summaries = {}
    for name, docs in {"train": [], "val": [], **splits}.items():
        writer = ShardWriter(root, name, np.dtype(dtype).newbyteorder("<"), shard_tokens=2**62)
        for start in range(0, len(docs), docs_per_shard):
            chunk = docs[start : start + docs_per_shard]
            lengths = np.array([len(d) + 1 for d in chunk])
            tokens = np.concatenate([np.append(np.asarray(d, dtype=np.int64), eot_id) for d in chunk])
            writer.write(tokens, lengths, np.round((lengths - 1) * bytes_per_token).astype(np.int64))
            writer.close_shard()
        summaries[name] = writer.summary()
    manifest = {
        "format": "gristmill-tokens-v1", "dtype": dtype, "vocab_size": vocab_size, "eot_id": eot_id,
        "pad_id": eot_id, "tokenizer_sha256": "test", "dataset_manifest_sha256": "test", "val_fraction": 0.1,
        "splits": summaries,
    }
    if token_bytes is not None:
        np.save(root / "token_bytes.npy", token_bytes)
        manifest["token_bytes"] = "token_bytes.npy"
    write_manifest(root, manifest)
    return root


def byte_token_bytes() -> np.ndarray:
    """The token -> bytes table of the byte "tokenizer": 1 for each byte, 0 for the end of text."""
    return np.append(np.ones(256, dtype=np.int32), 0)


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


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine, two spinning OpenMP threads run ~20x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_jsonl(path, records) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return str(path)
