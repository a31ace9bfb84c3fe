"""Token shards (format gristmill-tokens-v1): write them, and open them memory-mapped.

Layout of a TOKENS directory:

    manifest.json               dtype, vocab, eot/pad ids, hashes, split rule, per-split shard list
    train/part-00000.bin        flat little-endian tokens; every document is followed by one eot token
    train/part-00000.idx.npy    int64[docs + 1]: start of each document in the .bin, last = total tokens
    val/...                     the same for the validation split

Document i of a shard is tokens[idx[i]:idx[i + 1]], its eot included.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gristmill.errors import GristmillError
from gristmill.files import atomic_write

TOKENS_FORMAT = "gristmill-tokens-v1"
SPLITS = ("train", "val")


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id (0 .. vocab_size-1) fits in 16 bits, else uint32; always little-endian."""
    return np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")


def dtype_name(dtype: np.dtype) -> str:
    return {2: "uint16", 4: "uint32"}[np.dtype(dtype).itemsize]


class ShardWriter:
    """Appends documents' tokens to numbered shards of one split, starting a new shard past `shard_tokens`."""

    def __init__(self, root: Path, split: str, dtype: np.dtype, shard_tokens: int):
        self.root, self.split, self.dtype, self.shard_tokens = root, split, dtype, shard_tokens
        (root / split).mkdir(parents=True, exist_ok=True)
        self.shards: list[dict] = []
        self.tokens = 0
        self.docs = 0
        self.bytes = 0
        self._file = None

    def _open(self) -> None:
        name = f"{self.split}/part-{len(self.shards):05d}"
        self._name = name
        self._file = open(self.root / f"{name}.bin", "wb")
        self._hash = hashlib.sha256()
        self._offsets = [np.zeros(1, dtype=np.int64)]
        self._shard_tokens = 0

    def write(self, tokens: np.ndarray, lengths: np.ndarray, text_bytes: np.ndarray) -> None:
        """Append documents whose tokens (eot included) are concatenated in `tokens`, `lengths` tokens each.

        A shard is closed after the document that takes it to `shard_tokens`, so shard
        boundaries depend only on the documents, not on how they were batched.
        """
        while lengths.size:
            if self._file is None:
                self._open()
            ends = np.cumsum(lengths, dtype=np.int64)
            full = np.flatnonzero(self._shard_tokens + ends >= self.shard_tokens)
            n = int(full[0]) + 1 if full.size else int(lengths.size)
            self._append(tokens[: ends[n - 1]], ends[:n], int(text_bytes[:n].sum()))
            if full.size:
                self.close_shard()
            tokens, lengths, text_bytes = tokens[ends[n - 1] :], lengths[n:], text_bytes[n:]

    def _append(self, tokens: np.ndarray, ends: np.ndarray, text_bytes: int) -> None:
        data = tokens.astype(self.dtype, copy=False).tobytes()
        self._file.write(data)
        self._hash.update(data)
        self._offsets.append(self._shard_tokens + ends)
        self._shard_tokens += int(tokens.size)
        self.tokens += int(tokens.size)
        self.docs += int(ends.size)
        self.bytes += text_bytes

    def close_shard(self) -> None:
        if self._file is None:
            return
        self._file.close()
        self._file = None
        offsets = np.concatenate(self._offsets)
        np.save(self.root / f"{self._name}.idx.npy", offsets)
        self.shards.append(
            {
                "path": f"{self._name}.bin",
                "offsets": f"{self._name}.idx.npy",
                "tokens": self._shard_tokens,
                "docs": int(offsets.size - 1),
                "sha256": self._hash.hexdigest(),
            }
        )

    def summary(self) -> dict:
        self.close_shard()
        return {"tokens": self.tokens, "docs": self.docs, "bytes": self.bytes, "shards": self.shards}


def write_manifest(root: Path, manifest: dict) -> None:
    """Written last and atomically: a TOKENS dir with a manifest is complete."""
    atomic_write(root / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


@dataclass
class Shard:
    tokens: np.memmap  # flat tokens of the manifest's dtype
    offsets: np.ndarray  # int64[docs + 1], memory-mapped

    @property
    def num_docs(self) -> int:
        return int(self.offsets.size - 1)

    def doc(self, i: int) -> np.ndarray:
        """Document i's tokens, its trailing eot included (a view, not a copy)."""
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]


@dataclass
class TokenShards:
    """An opened TOKENS directory: its manifest and, per split, its shards memory-mapped read-only."""

    root: Path
    manifest: dict
    splits: dict[str, list[Shard]] = field(default_factory=dict)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype({"uint16": "<u2", "uint32": "<u4"}[self.manifest["dtype"]])

    @property
    def eot_id(self) -> int:
        return int(self.manifest["eot_id"])

    @property
    def vocab_size(self) -> int:
        return int(self.manifest["vocab_size"])

    @classmethod
    def open(cls, root: str | Path) -> "TokenShards":
        root = Path(root)
        path = root / "manifest.json"
        if not path.is_file():
            raise GristmillError(f"{path}: no token manifest (run `gristmill tokenize` first)")
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if manifest.get("format") != TOKENS_FORMAT:
            raise GristmillError(f"{path}: format is {manifest.get('format')!r}, expected {TOKENS_FORMAT!r}")
        opened = cls(root, manifest)
        for split in SPLITS:
            shards = []
            for entry in manifest["splits"][split]["shards"]:
                bin_path, idx_path = root / entry["path"], root / entry["offsets"]
                tokens = np.memmap(bin_path, dtype=opened.dtype, mode="r")  # never empty: each doc has its eot
                offsets = np.load(idx_path, mmap_mode="r")
                if tokens.size != entry["tokens"] or offsets.size != entry["docs"] + 1 or int(offsets[-1]) != tokens.size:
                    raise GristmillError(f"{bin_path}: size does not match the manifest and {idx_path.name}")
                shards.append(Shard(tokens, offsets))
            opened.splits[split] = shards
        return opened
