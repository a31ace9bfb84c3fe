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
from pydantic import Field, field_validator
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from tqdm import tqdm

from gristmill.config import Section
from gristmill.dataset import Dataset, texts_of
from gristmill.errors import GristmillError
from tokenizer.saved import EOT, META_FILE, META_FORMAT, PAD, SPECIAL_TOKENS, TOKENIZER_FILE
from tokenizer.split import SPLIT_RULE, is_val, val_threshold

# The GPT-4 (cl100k) split: contractions, letter runs with one leading non-letter,
# numbers in groups of at most three digits, punctuation runs, newlines, spaces.
DEFAULT_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


class TokenizerTrainConfig(Section):
    vocab_size: int = Field(default=32_000, ge=256 + len(SPECIAL_TOKENS), description="target vocabulary size, special tokens included")
    min_frequency: int = Field(default=2, ge=1, description="a pair must occur this often to be merged")
    split_pattern: str = Field(default=DEFAULT_SPLIT_PATTERN, description="pre-tokenizer regex; BPE never merges across its matches")
    sample_bytes: int = Field(default=1_000_000_000, ge=1, description="UTF-8 bytes of training text at most")
    max_doc_chars: int = Field(default=100_000, ge=1, description="each document is cut to this many characters")
    seed: int = Field(default=0, ge=0, description="seed of the document sample")
    val_fraction: float = Field(default=0.01, ge=0.0, lt=1.0, description="documents held out (never trained on)")

    @field_validator("split_pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            pre_tokenizers.Split(Regex(pattern), behavior="isolated")
        except Exception as err:  # tokenizers raises a bare Exception for a bad regex
            raise ValueError(f"split_pattern is not a valid regex: {err}") from None
        return pattern


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
