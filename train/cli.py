"""`gristmill train`: pretrain a GPT on token shards from `gristmill tokenize`."""

from __future__ import annotations

import argparse
import json
import os


def register(sub) -> None:
    from train import model_cli

    p = sub.add_parser(
        "train",
        help="pretrain a GPT on token shards (streaming, resumable, DDP under torchrun)",
        description=(
            "Pretrain a GPT on token directories written by `gristmill tokenize`. Metrics go to "
            "OUT/metrics.jsonl, checkpoints to OUT/checkpoints/. Multi-GPU: "
            "torchrun --nproc_per_node=N -m gristmill.cli train --config FILE"
        ),
    )
    p.add_argument("--config", required=True, metavar="FILE", help="YAML file with a `train:` section, or the section itself")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key, value parsed as YAML (repeatable), e.g. --set data.batch_size=16 --set compile=true",
    )
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in OUT/checkpoints/")
    p.add_argument(
        "--stop-at-step", type=int, metavar="N",
        help="checkpoint and stop after step N without changing the schedule (split a run into jobs; resume later)",
    )
    p.set_defaults(handler=run)
    model_cli.register(sub)  # generate, finetune, export, eval


def run(args: argparse.Namespace) -> int:
    from train.config import load_train_config
    from train.loop import train

    config = load_train_config(args.config, args.overrides)
    summary = train(config, resume=args.resume, stop_at_step=args.stop_at_step)
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps(summary))
    return 0
