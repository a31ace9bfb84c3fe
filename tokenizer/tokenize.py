"""Encode every kept document of a dataset into memory-mappable token shards.

Batches are encoded with `encode_batch_fast` (Rust threads), either in this process
or in a pool of worker processes; `imap` keeps batch order, so the shards are
byte-identical for the same inputs whatever the worker count.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from collections import deque
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
from tokenizers import Tokenizer, pre_tokenizers
from tqdm import tqdm

from gristmill.dataset import Dataset, texts_of
from gristmill.errors import GristmillError
from tokenizer.config import DEFAULT_BATCH_DOCS, DEFAULT_SHARD_TOKENS
from tokenizer.saved import load_tokenizer
from tokenizer.shards import SPLITS, TOKENS_FORMAT, ShardWriter, dtype_name, token_dtype, write_manifest
from tokenizer.split import SPLIT_RULE, is_val, val_threshold

TOKEN_BYTES_FILE = "token_bytes.npy"


def token_byte_lengths(tok: Tokenizer) -> np.ndarray:
    """int32[vocab]: the UTF-8 bytes each token id stands for; 0 for special tokens.

    In a byte-level BPE every character of a token's string is one byte of text (the GPT-2
    byte-to-symbol alphabet), so a token's byte length is its string length. Summed over a
    text's tokens it is exactly the text's UTF-8 length, also where a token holds part of a
    multi-byte character, which decoding token by token would miscount.
    """
    alphabet = set(pre_tokenizers.ByteLevel.alphabet())
    special = {i for i, added in tok.get_added_tokens_decoder().items() if added.special}
    lengths = np.zeros(tok.get_vocab_size(with_added_tokens=True), dtype=np.int32)
    for token, i in tok.get_vocab(with_added_tokens=True).items():
        if i in special:
            continue
        if not set(token) <= alphabet:
            raise GristmillError(f"token {i} ({token!r}) is not byte-level BPE: its byte length is unknown")
        lengths[i] = len(token)
    return lengths


def encode_docs(tok, texts: list[str], eot_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(flat uint32 tokens with an eot after each document, tokens per document eot included)."""
    flat: list[int] = []
    lengths = np.empty(len(texts), dtype=np.int64)
    # encode_batch_fast: the same ids as encode_batch without computing character offsets
    # (work we do not need); benchmarks/tokenizer.py measures both.
    for i, encoding in enumerate(tok.encode_batch_fast(texts, add_special_tokens=False)):
        ids = encoding.ids
        flat += ids
        flat.append(eot_id)
        lengths[i] = len(ids) + 1
    return np.array(flat, dtype=np.uint32), lengths


_worker_tok = None
_worker_eot = None


def _worker_init(tokenizer_path: str) -> None:
    global _worker_tok, _worker_eot
    # One Rust thread per worker process: the processes are the parallelism.
    os.environ["RAYON_NUM_THREADS"] = "1"
    os.environ["RAYON_RS_NUM_THREADS"] = "1"
    _worker_tok, meta = load_tokenizer(tokenizer_path)
    _worker_eot = meta["eot_id"]


def _worker_encode(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    return encode_docs(_worker_tok, texts, _worker_eot)


def _encoded_batches(dataset: Dataset, tokenizer_dir, tok, eot_id: int, threshold: int, batch_docs: int, workers: int):
    """(is_val per doc, UTF-8 bytes per doc, flat tokens, tokens per doc) for each batch, in dataset order.

    With workers > 1 at most 2 * workers batches are in flight, so memory stays bounded.
    """
    pool = None
    if workers > 1:
        pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_worker_init, initargs=(str(tokenizer_dir),))
    pending: deque = deque()
    try:
        for path, batch in dataset.batches(["id", "text"], batch_size=batch_docs):
            ids = batch.column("id").to_pylist()
            val_mask = np.fromiter((is_val(i, threshold) for i in ids), dtype=bool, count=len(ids))
            text_bytes = pc.binary_length(batch.column("text")).to_numpy(zero_copy_only=False)
            texts = texts_of(path, batch)
            if pool is None:
                yield (val_mask, text_bytes, *encode_docs(tok, texts, eot_id))
                continue
            pending.append((val_mask, text_bytes, pool.apply_async(_worker_encode, (texts,))))
            if len(pending) >= 2 * workers:
                val_mask, text_bytes, result = pending.popleft()
                yield (val_mask, text_bytes, *result.get())
        while pending:
            val_mask, text_bytes, result = pending.popleft()
            yield (val_mask, text_bytes, *result.get())
    finally:
        if pool is not None:
            pool.terminate()


def prepare_output(output: Path) -> None:
    """Rerunning into a previous TOKENS dir replaces it; any other non-empty directory is refused."""
    if output.exists():
        if not output.is_dir():
            raise GristmillError(f"{output}: exists and is not a directory")
        foreign = sorted(p.name for p in output.iterdir() if p.name not in {"manifest.json", "manifest.json.tmp", TOKEN_BYTES_FILE, *SPLITS})
        if foreign:
            raise GristmillError(f"{output}: not empty and not a token directory (has {', '.join(foreign[:5])}); choose another --output")
        (output / "manifest.json").unlink(missing_ok=True)
        (output / TOKEN_BYTES_FILE).unlink(missing_ok=True)
        for split in SPLITS:
            shutil.rmtree(output / split, ignore_errors=True)
    output.mkdir(parents=True, exist_ok=True)


def tokenize_dataset(
    tokenizer_dir: str | Path,
    dataset_dir: str | Path,
    output_dir: str | Path,
    *,
    val_fraction: float | None = None,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    batch_docs: int = DEFAULT_BATCH_DOCS,
    workers: int = 1,
) -> dict:
    """Write TOKENS/ (see tokenizer.shards) and return its manifest.

    `val_fraction` defaults to the one the tokenizer held out in training, so
    the validation shards are text the tokenizer never saw.
    """
    tok, meta = load_tokenizer(tokenizer_dir)
    dataset = Dataset.open(dataset_dir)
    if val_fraction is None:
        val_fraction = meta.get("config", {}).get("val_fraction", 0.01)
    threshold = val_threshold(val_fraction)
    if shard_tokens < 1 or batch_docs < 1 or workers < 1:
        raise GristmillError("shard_tokens, batch_docs and workers must be at least 1")
    output = Path(output_dir)
    prepare_output(output)
    dtype = token_dtype(meta["vocab_size"])
    eot_id = meta["eot_id"]
    writers = {split: ShardWriter(output, split, dtype, shard_tokens) for split in SPLITS}
    np.save(output / TOKEN_BYTES_FILE, token_byte_lengths(tok))

    with tqdm(total=dataset.num_docs, desc="tokenizing", unit="doc", mininterval=1.0) as bar:
        for val_mask, text_bytes, tokens, lengths in _encoded_batches(dataset, tokenizer_dir, tok, eot_id, threshold, batch_docs, workers):
            if not val_mask.any():
                writers["train"].write(tokens, lengths, text_bytes)
            else:
                token_mask = np.repeat(val_mask, lengths)
                for split, docs, toks in (("val", val_mask, token_mask), ("train", ~val_mask, ~token_mask)):
                    writers[split].write(tokens[toks], lengths[docs], text_bytes[docs])
            bar.update(lengths.size)

    manifest = {
        "format": TOKENS_FORMAT,
        "dtype": dtype_name(dtype),
        "vocab_size": meta["vocab_size"],
        "eot_id": eot_id,
        "pad_id": meta["pad_id"],
        "tokenizer_sha256": meta["tokenizer_sha256"],
        "dataset_manifest_sha256": dataset.manifest_sha256,
        "val_fraction": val_fraction,
        "split_rule": SPLIT_RULE,
        "token_bytes": TOKEN_BYTES_FILE,
        "splits": {split: writers[split].summary() for split in SPLITS},
    }
    write_manifest(output, manifest)
    return manifest
