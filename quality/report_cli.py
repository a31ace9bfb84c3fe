"""`gristmill report DIR [--gate] [--sample N]`: validate a curated dataset and write its HTML report."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "report",
        help="validate a dataset with Great Expectations and write DIR/report/index.html",
        description=(
            "Validate a curated dataset against expectations derived from its own config and manifest "
            "(unique ids, length bounds, allowed languages, quality thresholds, no leftover PII, shard "
            "checksums, conservation of counts) and write DIR/report/: index.html (one self-contained page "
            "with the funnel and plots), validation_results.json and the GX Data Docs."
        ),
        epilog="example: gristmill report out/ --gate",
    )
    parser.add_argument("dir", metavar="DIR", help="dataset directory (holds manifest.json)")
    parser.add_argument("--gate", action="store_true",
                        help="exit 1, naming each failed critical expectation, when any fails")
    parser.add_argument("--sample", type=int, metavar="N",
                        help="check rows on a seeded sample of about N documents instead of all "
                             "(default: all, or a 100,000-document sample when the shards exceed 512 MB); "
                             "checksums, counts and id uniqueness always cover every document")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from quality.report import build_report

    report = build_report(args.dir, sample=args.sample, seed=args.seed)
    failed = report.failed_critical
    print(f"report: {report.index}")
    print(f"  {len(report.outcomes) - len([o for o in report.outcomes if not o.success])} of {len(report.outcomes)} expectations hold"
          f" ({report.view.mode} validation)")
    for outcome in report.outcomes:
        if not outcome.success:
            print(f"  FAILED ({outcome.check.severity}) {outcome.message}", file=sys.stderr if args.gate else sys.stdout)
    if args.gate and failed:
        print(f"gristmill report: gate failed: {len(failed)} critical expectation(s) failed", file=sys.stderr)
        return 1
    return 0
