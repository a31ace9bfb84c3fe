"""The `gristmill` command: one subcommand per stage, plus `run` for the whole chain.

Each package registers its own subcommands; heavy imports happen inside the
handlers so `gristmill --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from gristmill.errors import GristmillError

# Modules with a `register(subparsers)` function, in the order their commands are listed.
COMMAND_MODULES = [
    "gristmill.run_cli",
    "pipelines.curate_cli",
    "quality.classifier_cli",
    "quality.report_cli",
    "tokenizer.cli",
    "train.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gristmill",
        description="Raw text to a clean, deduplicated, documented corpus, a BPE tokenizer and a GPT.",
        epilog="Beam pipeline options go after `--`, e.g. gristmill curate ... -- --runner=DataflowRunner",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level (Beam included)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    beam_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, beam_args = argv[:cut], argv[cut + 1 :]
    args = build_parser().parse_args(argv)
    args.beam_args = beam_args
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        from pipelines import beam_logs

        for handler in logging.getLogger().handlers:
            beam_logs.install(handler)
    try:
        return args.handler(args) or 0
    except GristmillError as err:
        print(f"gristmill {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gristmill {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
