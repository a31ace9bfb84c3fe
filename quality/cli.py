"""`gristmill report` (validate a dataset, write its HTML report) and `gristmill quality train-classifier`."""

from __future__ import annotations

import argparse
import sys

from gristmill.errors import GristmillError


def register(sub: argparse._SubParsersAction) -> None:
    _register_quality(sub)
    _register_report(sub)


INPUTS_HELP = (
    "JSONL (.jsonl/.jsonl.gz, one document per line, text in --text-field), "
    "plain .txt files (one document per file), or curated dataset directories (read via manifest.json)"
)


def _register_quality(subparsers) -> None:
    quality = subparsers.add_parser("quality", help="quality tools: train the fastText quality classifier")
    sub = quality.add_subparsers(dest="quality_command", required=True, metavar="QUALITY_COMMAND")
    train = sub.add_parser(
        "train-classifier",
        help="train a fastText quality classifier (positive vs negative text) and print held-out precision/recall/F1",
        description=(
            "Train a fastText supervised classifier (word bigrams) whose score is the probability that a document "
            "looks like the positive examples. Documents are split into train and held-out sets per class, long "
            "documents are cut into pieces of --chunk-words words, and the larger class is downsampled so both "
            f"classes are balanced. Inputs: {INPUTS_HELP}."
        ),
    )
    train.add_argument("--positive", nargs="+", required=True, metavar="PATH", help=f"high-quality examples: {INPUTS_HELP}")
    train.add_argument("--negative", nargs="+", required=True, metavar="PATH", help="low-quality examples, same formats")
    train.add_argument("--output", required=True, metavar="MODEL", help="where to write the model (.bin)")
    train.add_argument("--text-field", default="text", help="JSONL field holding the text (default: text)")
    train.add_argument("--heldout", type=float, default=0.2, help="fraction of documents per class held out (default: 0.2)")
    train.add_argument("--chunk-words", type=int, default=400, help="cut documents into pieces of this many words; 0 = whole documents (default: 400)")
    train.add_argument("--seed", type=int, default=0, help="seed for the split, the downsampling and fastText (default: 0)")
    train.add_argument("--epoch", type=int, default=25, help="fastText training epochs; small sets need many (default: 25)")
    train.add_argument("--lr", type=float, default=0.5, help="fastText learning rate (default: 0.5)")
    train.add_argument("--dim", type=int, default=64, help="fastText vector size (default: 64)")
    train.add_argument("--threads", type=int, default=1, help="fastText threads; 1 gives a reproducible model (default: 1)")
    train.set_defaults(handler=_train_classifier)


def _read_all(paths: list[str], text_field: str, what: str) -> list[str]:
    from tqdm import tqdm

    from quality.text_files import read_texts

    texts = []
    for path in tqdm(paths, desc=f"reading {what}", unit="file", disable=len(paths) < 2):
        try:
            texts.extend(read_texts(path, text_field))
        except (OSError, ValueError) as err:
            raise GristmillError(str(err)) from None
    return texts


def _train_classifier(args: argparse.Namespace) -> int:
    from quality.classifier import train_classifier

    if not 0.0 < args.heldout < 1.0:
        raise GristmillError(f"--heldout must be between 0 and 1, got {args.heldout}")
    positive = _read_all(args.positive, args.text_field, "positive")
    negative = _read_all(args.negative, args.text_field, "negative")
    print(f"read {len(positive)} positive and {len(negative)} negative documents")
    try:
        report = train_classifier(
            positive,
            negative,
            args.output,
            heldout_fraction=args.heldout,
            chunk_words=args.chunk_words,
            seed=args.seed,
            epoch=args.epoch,
            lr=args.lr,
            dim=args.dim,
            threads=args.threads,
        )
    except ValueError as err:
        raise GristmillError(str(err)) from None
    print(f"trained on {report.train_positive} positive and {report.train_negative} negative examples")
    print(report.heldout.summary())
    print(f"model written to {report.output}")
    return 0


def _register_report(sub: argparse._SubParsersAction) -> None:
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
    parser.set_defaults(handler=_report)


def _report(args) -> int:
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
