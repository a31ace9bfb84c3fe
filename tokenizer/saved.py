"""A trained tokenizer on disk (format gristmill-tokenizer-v1): its files, its special tokens, and loading it.

What `tokenizer/train.py` writes and what `gristmill tokenize` and `train/` read;
light on purpose, so training code reads a tokenizer without the trainer's imports.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tokenizers import Tokenizer

from gristmill.errors import GristmillError
from tokenizer.config import CHAT_TOKENS, EOT, PAD, SPECIAL_TOKENS  # noqa: F401  (the tokens a saved tokenizer holds)

TOKENIZER_FILE = "tokenizer.json"
META_FILE = "tokenizer_meta.json"
META_FORMAT = "gristmill-tokenizer-v1"


def load_tokenizer(path: str | Path) -> tuple[Tokenizer, dict]:
    """A trained tokenizer and its metadata from a TOKDIR (or its tokenizer.json), ready to encode.

    Special tokens are matched only as ids, never from text: a document that
    contains the literal "<|endoftext|>" gets ordinary byte tokens.
    """
    path = Path(path)
    tok_path = path if path.is_file() else path / TOKENIZER_FILE
    if not tok_path.is_file():
        raise GristmillError(f"{tok_path}: no tokenizer.json (train one with `gristmill tokenizer train`)")
    try:
        tok = Tokenizer.from_file(str(tok_path))
    except Exception as err:  # tokenizers raises a bare Exception on a malformed file
        raise GristmillError(f"{tok_path}: not a tokenizers JSON file: {err}") from None
    tok.encode_special_tokens = True
    meta_path = tok_path.parent / META_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    meta["tokenizer_sha256"] = hashlib.sha256(tok_path.read_bytes()).hexdigest()
    for token in (EOT, PAD):
        if tok.token_to_id(token) is None:
            raise GristmillError(f"{tok_path}: special token {token!r} is not in the vocabulary")
    meta.setdefault("eot_id", tok.token_to_id(EOT))
    meta.setdefault("pad_id", tok.token_to_id(PAD))
    meta.setdefault("vocab_size", tok.get_vocab_size(with_added_tokens=True))
    return tok, meta
