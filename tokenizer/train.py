"""Train a byte-level BPE tokenizer on a curated dataset with HF `tokenizers`.

The BPE trainer keeps a count of every distinct pre-token it sees, so its
memory grows with the text fed to it. Training therefore reads a seeded,
byte-budgeted sample of the training split, each document cut to a character
cap. Validation documents (chosen by the same id hash `gristmill tokenize`
uses) are never trained on, so `gristmill tokenizer eval` measures held-out text.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Iterator

import pyarrow.compute as pc
import xxhash
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from tqdm import tqdm

from gristmill.dataset import Dataset, texts_of
from gristmill.errors import GristmillError
from tokenizer.config import DEFAULT_SPLIT_PATTERN, TokenizerTrainConfig  # noqa: F401
from tokenizer.saved import EOT, META_FILE, META_FORMAT, PAD, SPECIAL_TOKENS, TOKENIZER_FILE
from tokenizer.split import SPLIT_RULE, is_val, val_threshold


def new_tokenizer(split_pattern: str) -> Tokenizer:
    """An untrained byte-level BPE: regex split, then bytes mapped to printable symbols; lossless, no normalizer."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(split_pattern), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    return tok


def new_trainer(config: TokenizerTrainConfig) -> trainers.BpeTrainer:
    return trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )


def sample_key(doc_id: str, seed: int) -> int:
    """The sampling hash: xxh3, not the split's xxh64, so the sample is independent of the split."""
    return xxhash.xxh3_64_intdigest(doc_id.encode("utf-8"), seed=seed)


class Sample:
    """The training text: train-split documents whose seeded key is under a rate, cut and budgeted.

    The rate is set from a first pass over ids and lengths so that the expected
    sample fills the byte budget; the budget is also a hard stop.
    """

    def __init__(self, dataset: Dataset, config: TokenizerTrainConfig):
        self.dataset = dataset
        self.config = config
        self.threshold = val_threshold(config.val_fraction)
        self.docs = 0
        self.bytes = 0
        self.truncated = 0
        self.budget_reached = False
        self.rate = self._rate()

    def _rate(self) -> float:
        has_n_chars = "n_chars" in self.dataset.columns()
        columns = ["id", "n_chars"] if has_n_chars else ["id", "text"]
        total = 0
        for _, batch in self.dataset.batches(columns, batch_size=8192):
            lengths = batch.column("n_chars") if has_n_chars else pc.utf8_length(batch.column("text"))
            capped = pc.min_element_wise(lengths.fill_null(0), self.config.max_doc_chars).to_pylist()
            for doc_id, n in zip(batch.column("id").to_pylist(), capped):
                if not is_val(doc_id, self.threshold):
                    total += n
        return 1.0 if total <= self.config.sample_bytes else self.config.sample_bytes / total

    def batches(self) -> Iterator[list[str]]:
        cutoff = int(self.rate * (1 << 64)) if self.rate < 1.0 else 1 << 64
        cap, budget = self.config.max_doc_chars, self.config.sample_bytes
        with tqdm(total=self.dataset.num_docs, desc="reading training sample", unit="doc", mininterval=1.0) as bar:
            for path, batch in self.dataset.batches(["id", "text"]):
                chosen = []
                for doc_id, text in zip(batch.column("id").to_pylist(), texts_of(path, batch)):
                    if is_val(doc_id, self.threshold) or sample_key(doc_id, self.config.seed) >= cutoff:
                        continue
                    if len(text) > cap:
                        text = text[:cap]
                        self.truncated += 1
                    size = len(text.encode("utf-8"))
                    if self.bytes + size > budget:
                        self.budget_reached = True
                        break
                    chosen.append(text)
                    self.docs += 1
                    self.bytes += size
                bar.update(batch.num_rows)
                if chosen:
                    yield chosen
                if self.budget_reached:
                    return


def train_tokenizer(dataset_dir: str | Path, output_dir: str | Path, config: TokenizerTrainConfig) -> dict:
    """Train on the dataset's sample, save tokenizer.json and tokenizer_meta.json; return the metadata."""
    dataset = Dataset.open(dataset_dir)
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    tok = new_tokenizer(config.split_pattern)
    sample = Sample(dataset, config)
    started = time.perf_counter()
    tok.train_from_iterator(sample.batches(), trainer=new_trainer(config))
    seconds = time.perf_counter() - started
    if sample.docs == 0:
        raise GristmillError(f"{dataset.root}: no training documents (empty dataset, or val_fraction {config.val_fraction} holds out all)")
    ids = {token: tok.token_to_id(token) for token in SPECIAL_TOKENS}
    tok_path = output / TOKENIZER_FILE
    tok.save(str(tok_path))
    meta = {
        "format": META_FORMAT,
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "special_tokens": ids,
        "eot_id": ids[EOT],
        "pad_id": ids[PAD],
        # tokenizer.json does not store this flag; load_tokenizer sets it so that text
        # containing "<|endoftext|>" is encoded as ordinary bytes, never as the special id.
        "encode_special_tokens": True,
        "tokenizer_sha256": hashlib.sha256(tok_path.read_bytes()).hexdigest(),
        "dataset": str(dataset.root),
        "dataset_manifest_sha256": dataset.manifest_sha256,
        "split_rule": SPLIT_RULE,
        "sample": {
            "docs": sample.docs,
            "bytes": sample.bytes,
            "truncated_docs": sample.truncated,
            "rate": sample.rate,
            "budget_reached": sample.budget_reached,
        },
        "train_seconds": round(seconds, 3),
        "config": config.model_dump(mode="json"),
    }
    (output / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return meta
