"""`gristmill tokenizer train|eval` and `gristmill tokenize`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gristmill.errors import GristmillError


def _train(args) -> int:
    from pydantic import ValidationError

    from gristmill.config import describe_validation_error
    from tokenizer.train import TokenizerTrainConfig, train_tokenizer

    options = {
        "vocab_size": args.vocab_size,
        "min_frequency": args.min_frequency,
        "split_pattern": args.split_pattern,
        "sample_bytes": args.sample_bytes,
        "max_doc_chars": args.max_doc_chars,
        "seed": args.seed,
        "val_fraction": args.val_fraction,
    }
    try:
        config = TokenizerTrainConfig(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as err:
        raise GristmillError(describe_validation_error(err, TokenizerTrainConfig, "options")) from None
    meta = train_tokenizer(args.dataset, args.output, config)
    sample = meta["sample"]
    print(
        f"trained vocab {meta['vocab_size']} (asked {config.vocab_size}) on {sample['docs']} docs, "
        f"{sample['bytes']:,} bytes in {meta['train_seconds']:.1f}s -> {Path(args.output) / 'tokenizer.json'}"
    )
    return 0


def _eval(args) -> int:
    from tokenizer.evaluate import evaluate, format_table

    report = evaluate([args.tokenizer, *args.compare], args.dataset, args.val_fraction)
    print(f"held-out documents: validation split at val_fraction {report['val_fraction']}")
    print(format_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


def _tokenize(args) -> int:
    from tokenizer.tokenize import tokenize_dataset

    manifest = tokenize_dataset(
        args.tokenizer,
        args.dataset,
        args.output,
        val_fraction=args.val_fraction,
        shard_tokens=args.shard_tokens,
        batch_docs=args.batch_docs,
        workers=args.workers,
    )
    for split, info in manifest["splits"].items():
        print(f"{split}: {info['docs']} docs, {info['tokens']:,} tokens ({manifest['dtype']}) in {len(info['shards'])} shard(s)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from tokenizer.tokenize import DEFAULT_BATCH_DOCS, DEFAULT_SHARD_TOKENS

    tok = sub.add_parser("tokenizer", help="train or evaluate a byte-level BPE tokenizer on a curated dataset")
    tok_sub = tok.add_subparsers(dest="tokenizer_command", required=True, metavar="ACTION")

    train = tok_sub.add_parser(
        "train",
        help="train a byte-level BPE on a dataset's training split",
        description="Train a byte-level BPE (HF tokenizers) with special tokens <|endoftext|> (id 0) and <|pad|> (id 1) "
        "on a seeded sample of the dataset's training split; writes TOKDIR/tokenizer.json and tokenizer_meta.json.",
    )
    train.add_argument("--dataset", required=True, metavar="DIR", help="curated dataset directory (read through its manifest.json)")
    train.add_argument("--output", required=True, metavar="TOKDIR", help="directory to write tokenizer.json and tokenizer_meta.json into")
    train.add_argument("--vocab-size", type=int, metavar="N", help="vocabulary size, special tokens included (default 32000)")
    train.add_argument("--min-frequency", type=int, metavar="N", help="merge only pairs seen at least N times (default 2)")
    train.add_argument("--split-pattern", metavar="REGEX", help="pre-tokenizer split regex (default: the GPT-4 cl100k pattern)")
    train.add_argument("--sample-bytes", type=int, metavar="N", help="at most N UTF-8 bytes of training text (default 1e9)")
    train.add_argument("--max-doc-chars", type=int, metavar="N", help="cut each document to N characters (default 100000)")
    train.add_argument("--seed", type=int, help="seed of the document sample (default 0)")
    train.add_argument("--val-fraction", type=float, metavar="F", help="fraction of documents held out by id hash, never trained on (default 0.01)")
    train.set_defaults(handler=_train)

    ev = tok_sub.add_parser(
        "eval",
        help="bytes per token on held-out documents, overall, per source and per language",
        description="Compression (UTF-8 bytes per token) on the dataset's validation split, the documents the tokenizer "
        "held out in training; --compare adds other tokenizers as columns of the same table.",
    )
    ev.add_argument("--tokenizer", required=True, metavar="TOKDIR", help="trained tokenizer directory (or its tokenizer.json)")
    ev.add_argument("--dataset", required=True, metavar="DIR", help="curated dataset directory")
    ev.add_argument("--compare", action="append", default=[], metavar="OTHER", help="another tokenizer directory to put beside it (repeatable)")
    ev.add_argument("--val-fraction", type=float, metavar="F", help="held-out fraction (default: the one --tokenizer was trained with)")
    ev.add_argument("--json", metavar="FILE", help="also write the table as JSON to FILE")
    ev.set_defaults(handler=_eval)

    tz = sub.add_parser(
        "tokenize",
        help="encode a dataset into memory-mapped token shards with a train/val split",
        description="Encode every kept document, append <|endoftext|> after each, and write TOKENS/{train,val}/part-NNNNN.bin "
        "(flat uint16 tokens when the vocabulary fits, else uint32) with .idx.npy document offsets and manifest.json.",
    )
    tz.add_argument("--tokenizer", required=True, metavar="TOKDIR", help="trained tokenizer directory")
    tz.add_argument("--dataset", required=True, metavar="DIR", help="curated dataset directory")
    tz.add_argument("--output", required=True, metavar="TOKENS", help="token directory to write (a previous one is replaced)")
    tz.add_argument("--val-fraction", type=float, metavar="F", help="fraction of documents in the validation split (default: the tokenizer's)")
    tz.add_argument("--shard-tokens", type=int, default=DEFAULT_SHARD_TOKENS, metavar="N", help=f"start a new shard after about N tokens (default {DEFAULT_SHARD_TOKENS})")
    tz.add_argument("--batch-docs", type=int, default=DEFAULT_BATCH_DOCS, metavar="N", help=f"documents per encode_batch_fast call (default {DEFAULT_BATCH_DOCS})")
    tz.add_argument("--workers", type=int, default=1, metavar="N", help="encoding processes; 1 = the Rust threads of encode_batch_fast in this process (default 1, the faster on 2 cores)")
    tz.set_defaults(handler=_tokenize)
