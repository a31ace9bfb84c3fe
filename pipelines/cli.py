"""`gristmill curate`: the Beam curation pipeline from the command line."""

from __future__ import annotations

import argparse
import sys

from gristmill.config import add_config_options, load_section
from pipelines.formats import FORMATS


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "curate",
        help="read, clean, deduplicate and filter sources into a sharded dataset",
        description=(
            "Run the curation pipeline. With only --input and --output it uses the defaults; "
            "--config FILE (YAML) and --set KEY=VALUE set any key, and --input/--output override the file's paths. "
            "Beam pipeline options go after `--` (default: DirectRunner, multi-process, all cores)."
        ),
        epilog="example: gristmill curate --input web.jsonl.gz books/ --output out/ --set output.shard_bytes=1000000 -- --direct_num_workers=4",
    )
    add_config_options(parser, "curate", "near_dup.threshold=0.7")
    parser.add_argument(
        "--input", nargs="+", metavar="PATH",
        help="files, directories or globs; local paths or fsspec URLs (s3://, gs://, file://); replace the config's inputs",
    )
    parser.add_argument("--output", metavar="DIR", help="dataset directory to write (data/, rejected/, errors/, manifest.json)")
    parser.add_argument(
        "--format", choices=FORMATS, default="auto",
        help="format of every --input (default: detected from each file name)",
    )
    parser.add_argument(
        "--fresh", action="store_true",
        help="ignore the staged work of an earlier, interrupted run with the same config and start over",
    )
    parser.set_defaults(handler=run)


def config_from_args(args):
    """The config file (or the defaults) with --set applied, then the path flags."""
    from pipelines.config import CurateConfig, SourceConfig, load_config

    if args.config:
        config = load_config(args.config, args.overrides)
    else:
        config = load_section(CurateConfig, None, "curate", args.overrides)
    if args.input:
        config.inputs = [SourceConfig(path=p, format=args.format) for p in args.input]
    if args.output:
        config.output.dir = args.output
    return config


def summary(manifest: dict, out_dir: str) -> str:
    counts = manifest["counts"]
    lines = [
        f"dataset: {out_dir}",
        f"  input {counts['input']}  kept {counts['kept']}  rejected {counts['rejected']}  errors {counts['errors']}"
        f"  ({manifest['timings']['pipeline_s']:.1f}s)",
    ]
    for reason, n in counts["rejected_by_reason"].items():
        lines.append(f"  rejected {reason}: {n}")
    return "\n".join(lines)


def run(args) -> int:
    from pipelines.curate import run_curate
    from gristmill.errors import GristmillError

    config = config_from_args(args)
    if not config.inputs:
        raise GristmillError("no inputs: give --input PATH... or a --config with `inputs:`")
    manifest = run_curate(config, args.beam_args, fresh=args.fresh)
    print(summary(manifest, config.output.dir), file=sys.stdout)
    return 0
