"""`gristmill run`: the whole chain from one config."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from gristmill.run import STAGES

    parser = sub.add_parser(
        "run",
        help="curate -> report (gate) -> tokenizer train -> tokenize -> train, from one config",
        description=(
            "Run the whole chain from one YAML config (sections: output_root, curate, report, tokenizer, "
            "tokenize, train). Every stage writes under output_root; a stage whose outputs are complete "
            "for the same config is skipped (and says so); training resumes from its latest checkpoint. "
            "Beam pipeline options for the curate stage go after `--`."
        ),
        epilog="example: gristmill run --config configs/sample.yaml",
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="run config (see README: gristmill run)")
    parser.add_argument(
        "--only", nargs="+", choices=STAGES, metavar="STAGE",
        help=f"run just these stages (of {', '.join(STAGES)}), e.g. from a scheduler task",
    )
    parser.add_argument("--output-root", metavar="DIR", help="override the config's output_root")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from gristmill.run import format_summary, load_run_config, run_chain

    config = load_run_config(args.config, args.output_root)
    summary = run_chain(config, args.only, args.beam_args)
    print(format_summary(summary))
    return 0
