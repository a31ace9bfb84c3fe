"""The `gristmill` command: `run` for the whole chain, and one subcommand per stage.

Each package registers its own subcommands in its `cli` module; heavy imports
happen inside the handlers so `gristmill --help` stays fast. Every command with
a config section takes `--config FILE`, repeatable `--set KEY=VALUE` and its
path flags.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from gristmill.config import add_config_options
from gristmill.errors import GristmillError

# Modules with a `register(subparsers)` function, in the order their commands are listed after `run`.
COMMAND_MODULES = [
    "pipelines.cli",
    "quality.cli",
    "tokenizer.cli",
    "train.cli",
]


def register_run(sub: argparse._SubParsersAction) -> None:
    from gristmill.run import STAGES  # no stage is imported by it

    parser = sub.add_parser(
        "run",
        help="curate -> report (gate) -> tokenizer train -> tokenize -> train, from one config",
        description=(
            "Run the whole chain from one YAML config (sections: output_root, curate, report, tokenizer, "
            "tokenize, train), every section validated before any stage starts. Every stage writes under "
            "output_root; a stage whose outputs are complete for the same config is skipped (and says so); "
            "training resumes from its latest checkpoint. Beam pipeline options for the curate stage go after `--`."
        ),
        epilog="example: gristmill run --config configs/sample.yaml --set train.schedule.max_steps=50",
    )
    add_config_options(parser, "run", "train.schedule.max_steps=50", required=True,
                       config_help="run config (see README: The run config)")
    parser.add_argument(
        "--only", nargs="+", choices=STAGES, metavar="STAGE",
        help=f"run just these stages (of {', '.join(STAGES)}), e.g. from a scheduler task",
    )
    parser.add_argument("--output-root", metavar="DIR", help="override the config's output_root")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from gristmill.run import format_summary, run_chain
    from gristmill.run_config import load_run_config

    config = load_run_config(args.config, args.output_root, args.overrides)
    summary = run_chain(config, args.only, args.beam_args)
    print(format_summary(summary))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gristmill",
        description="Raw text to a clean, deduplicated, documented corpus, a BPE tokenizer and a GPT.",
        epilog="Beam pipeline options go after `--`, e.g. gristmill curate ... -- --runner=DataflowRunner",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level (Beam included)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register_run(sub)
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
