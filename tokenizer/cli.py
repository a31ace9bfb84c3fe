"""`gristmill tokenizer train|eval` and `gristmill tokenize`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gristmill.config import add_config_options, load_section


def _train(args) -> int:
    from tokenizer.config import TokenizerTrainConfig
    from tokenizer.train import train_tokenizer

    config = load_section(TokenizerTrainConfig, args.config, "tokenizer", args.overrides)
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
    from tokenizer.config import TokenizeConfig
    from tokenizer.tokenize import tokenize_dataset

    config = load_section(TokenizeConfig, args.config, "tokenize", args.overrides)
    manifest = tokenize_dataset(args.tokenizer, args.dataset, args.output, **config.model_dump())
    for split, info in manifest["splits"].items():
        print(f"{split}: {info['docs']} docs, {info['tokens']:,} tokens ({manifest['dtype']}) in {len(info['shards'])} shard(s)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    tok = sub.add_parser("tokenizer", help="train or evaluate a byte-level BPE tokenizer on a curated dataset")
    tok_sub = tok.add_subparsers(dest="tokenizer_command", required=True, metavar="ACTION")

    train = tok_sub.add_parser(
        "train",
        help="train a byte-level BPE on a dataset's training split",
        description="Train a byte-level BPE (HF tokenizers) with special tokens <|endoftext|> (id 0) and <|pad|> (id 1) "
        "on a seeded sample of the dataset's training split; writes TOKDIR/tokenizer.json and tokenizer_meta.json. "
        "Settings come from --config and --set (README: Config reference, `tokenizer`; an unknown key lists the allowed ones).",
    )
    train.add_argument("--dataset", required=True, metavar="DIR", help="curated dataset directory (read through its manifest.json)")
    train.add_argument("--output", required=True, metavar="TOKDIR", help="directory to write tokenizer.json and tokenizer_meta.json into")
    add_config_options(train, "tokenizer", "vocab_size=8192")
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
        "(flat uint16 tokens when the vocabulary fits, else uint32) with .idx.npy document offsets and manifest.json. "
        "Settings come from --config and --set (README: Config reference, `tokenize`; an unknown key lists the allowed ones).",
    )
    tz.add_argument("--tokenizer", required=True, metavar="TOKDIR", help="trained tokenizer directory")
    tz.add_argument("--dataset", required=True, metavar="DIR", help="curated dataset directory")
    tz.add_argument("--output", required=True, metavar="TOKENS", help="token directory to write (a previous one is replaced)")
    add_config_options(tz, "tokenize", "workers=2")
    tz.set_defaults(handler=_tokenize)
