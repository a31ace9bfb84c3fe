"""The settings of `gristmill tokenizer train` and `gristmill tokenize` (a run's `tokenizer:` and `tokenize:`).

Only pydantic here, so a run config is validated without loading the tokenizer libraries.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from gristmill.config import Section

EOT = "<|endoftext|>"
PAD = "<|pad|>"
# Role markers of the chat template (train/chat.py), reserved now so a pretrained model can be
# fine-tuned on instructions without growing its vocabulary.
CHAT_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
SPECIAL_TOKENS = [EOT, PAD, *CHAT_TOKENS]

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
        from tokenizers import Regex, pre_tokenizers

        try:
            pre_tokenizers.Split(Regex(pattern), behavior="isolated")
        except Exception as err:  # tokenizers raises a bare Exception for a bad regex
            raise ValueError(f"split_pattern is not a valid regex: {err}") from None
        return pattern


DEFAULT_SHARD_TOKENS = 100_000_000
DEFAULT_BATCH_DOCS = 1024


class TokenizeConfig(Section):
    """Options of `gristmill tokenize`, and a run's `tokenize:` section."""

    val_fraction: float | None = Field(
        default=None, ge=0.0, lt=1.0,
        description="documents in the val split, by id hash; null = the tokenizer's, so val shards hold text it never saw",
    )
    shard_tokens: int = Field(default=DEFAULT_SHARD_TOKENS, ge=1, description="a shard closes after the document that reaches this many tokens")
    batch_docs: int = Field(default=DEFAULT_BATCH_DOCS, ge=1, description="documents per encode_batch_fast call")
    workers: int = Field(default=1, ge=1, description="encoding processes; 1 = the Rust threads of encode_batch_fast in this process")
