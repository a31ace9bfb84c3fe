"""`gristmill curate`: the Beam curation pipeline from the command line."""

from __future__ import annotations

import argparse
import sys

FORMATS = ["auto", "jsonl", "parquet", "text", "html", "warc"]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "curate",
        help="read, clean, deduplicate and filter sources into a sharded dataset",
        description=(
            "Run the curation pipeline. With only --input and --output it uses the defaults; "
            "--config FILE (YAML) gives full control, and --input/--output override the file's. "
            "Beam pipeline options go after `--` (default: DirectRunner, multi-process, all cores)."
        ),
        epilog="example: gristmill curate --input web.jsonl.gz books/ --output out/ -- --direct_num_workers=4",
    )
    parser.add_argument("--config", metavar="FILE", help="YAML config (see README: Config reference)")
    parser.add_argument(
        "--input", nargs="+", metavar="PATH",
        help="files, directories or globs; local paths or fsspec URLs (s3://, gs://, file://)",
    )
    parser.add_argument("--output", metavar="DIR", help="dataset directory to write (data/, rejected/, errors/, manifest.json)")
    parser.add_argument(
        "--format", choices=FORMATS, default="auto",
        help="format of every --input (default: detected from each file name)",
    )
    parser.add_argument("--shard-bytes", type=int, metavar="N", help="text bytes per shard (default 256 MiB)")
    parser.add_argument(
        "--fresh", action="store_true",
        help="ignore the staged work of an earlier, interrupted run with the same config and start over",
    )
    parser.set_defaults(handler=run)


def config_from_args(args):
    from pipelines.config import CurateConfig, load_config

    config = load_config(args.config) if args.config else CurateConfig.parse({}, "defaults")
    if args.input:
        config.inputs = CurateConfig.parse({"inputs": [{"path": p, "format": args.format} for p in args.input]}).inputs
    if args.output:
        config.output.dir = args.output
    if args.shard_bytes:
        config.output.shard_bytes = args.shard_bytes
    return CurateConfig.parse(config.model_dump(), args.config or "command line")


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
