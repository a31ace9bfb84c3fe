"""Docs/s per core for the rule chain and each rule family: gristmill now, gristmill at a baseline commit, datatrove.

    .venv/bin/python benchmarks/quality_rules.py [--repeat 3] [--baseline f950437]
    .venv/bin/python benchmarks/quality_rules.py --stream [--repeat 3] [--baseline f950437]

Single process (one core). The baseline is `quality/` as committed at --baseline,
imported side by side as the package `quality_baseline`, so old and new code run on
the same documents in the same process; their passes alternate, and the best of
--repeat passes counts, in CPU seconds, so load from other processes hits both alike.
Every timed pass's results (verdict, signals, C4 text) must be the same for both
copies, document by document.

gristmill remembers the tokens of recent text chunks and one id per distinct word
(`quality.text_stats`, `quality.vocabulary`); those caches are emptied before every
timed pass, so no pass profits from the one before. Two inputs:

- default (cold): tests/quality_docs.py, 302 documents (books, wiki, web, HTML main
  text, code from ../shared/corpora); each row and copy, and datatrove's filter for
  each family. Over so few documents the caches barely warm up: a lower bound.
- --stream: the two chains over a long stream of distinct documents, as one curate
  worker sees it: the distinct texts of benchmarks/vs_datatrove.py's JSONL input
  (book chunks, WikiText, Common Crawl WET, HTML main text, UD sentences of 15
  languages; exact duplicates dropped), shuffled; the caches start empty and are
  kept through the stream, so they warm up on the common chunks and words while
  every document is new. --workdir holds vs_datatrove's cache of HTML main text.

datatrove caches the last 5 tokenizations (lru_cache); each filter is timed on its
own pass over all documents, so that cache does not carry work from one filter to the next.
"""

from __future__ import annotations

import argparse
import importlib
import io
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from datatrove.data import Document  # noqa: E402
from datatrove.pipeline.filters import (  # noqa: E402
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)

from quality_docs import load_documents  # noqa: E402

FAMILIES = ("gopher_repetition", "gopher_quality", "c4", "fineweb")


def import_baseline(rev: str, into: Path):
    """`quality/` at commit `rev` as the package `quality_baseline` (its absolute imports rewritten)."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "quality"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    package = into / "quality_baseline"
    (into / "quality").rename(package)
    for path in package.glob("*.py"):
        path.write_text(re.sub(r"^(\s*)(from|import) quality\b", r"\1\2 quality_baseline", path.read_text(), flags=re.M))
    sys.path.insert(0, str(into))
    return importlib.import_module("quality_baseline")


def judges(package: str):
    """{family: judge(text)} and the whole chain for one copy of gristmill's rules."""
    c4, fineweb, gq, gr, chain = (importlib.import_module(f"{package}.{m}") for m in
                                  ("c4", "fineweb", "gopher_quality", "gopher_repetition", "rule_chain"))
    t = {"gopher_repetition": gr.GopherRepetitionThresholds(), "gopher_quality": gq.GopherQualityThresholds(),
         "c4": c4.C4Thresholds(), "fineweb": fineweb.FineWebThresholds()}
    default = {family: t[family] for family in FAMILIES if family != "c4"}  # C4 is off by default
    chains = {
        "chain (default: no C4)": lambda text: chain.apply_rules(text, default),
        "chain (all four)": lambda text: chain.apply_rules(text, t),
    }
    if not hasattr(chain, "FAMILIES"):  # before the one family protocol (issue 17): one signature per family
        return {
            **chains,
            "gopher_repetition": lambda text: gr.judge(gr.signals(text), t["gopher_repetition"]),
            "gopher_quality": lambda text: gq.judge(gq.signals(text), t["gopher_quality"]),
            "c4": lambda text: c4.clean(text, t["c4"]),
            "fineweb": lambda text: fineweb.judge(fineweb.signals(text, t["fineweb"]), t["fineweb"]),
        }

    def verdict(family, th):  # the rejection, as the old judges return it
        return lambda text: family.judge(family.signals(text, None, None, th), th)

    families = {family.name: family for family in chain.FAMILIES}
    return {
        **chains,
        **{name: verdict(families[name], t[name]) for name in ("gopher_repetition", "gopher_quality", "fineweb")},
        "c4": lambda text: families["c4"].apply(text, None, None, t["c4"]),  # (kept text, signals, rejection)
    }


def datatrove_filters():
    filters = {
        "gopher_repetition": GopherRepetitionFilter(),
        "gopher_quality": GopherQualityFilter(),
        "c4": C4QualityFilter(filter_policy=False, remove_citations=False, max_word_length=-1),
        "fineweb": FineWebQualityFilter(),
    }
    return {name: (lambda f: lambda text: f.filter(Document(text=text, id="d")))(f) for name, f in filters.items()}


def empty_caches():
    """Empty the caches of both copies, so neither pass profits from an earlier one (older baselines have none)."""
    for package in ("quality", "quality_baseline"):
        stats, vocab = sys.modules.get(f"{package}.text_stats"), sys.modules.get(f"{package}.vocabulary")
        if hasattr(stats, "_CHUNKS"):
            stats._CHUNKS = stats._Chunks()
            stats._sentence_role.cache_clear()
        if hasattr(vocab, "_VOCAB"):
            vocab._VOCAB = vocab._Vocabulary()


def stream_documents(corpora: Path, workdir: Path) -> list[str]:
    """The distinct texts of vs_datatrove's input (its base documents, before copies), shuffled."""
    from vs_datatrove import base_documents

    texts = list(dict.fromkeys(text for _, text in base_documents(corpora, workdir)))
    random.Random(0).shuffle(texts)
    return texts


def one_pass(fn, texts) -> tuple[float, list]:
    """(CPU seconds of one pass, its results); time waiting for a core on a shared machine does not count."""
    results = []
    start = time.process_time()
    for text in texts:
        results.append(fn(text))
    return time.process_time() - start, results


def best_rates(fns: dict, texts, repeat) -> dict:
    """Docs/s of each function, best of `repeat` passes, caches empty at the start of each; the
    functions' passes alternate (order rotating). Every pass of "now" gives what "baseline" gave."""
    best = dict.fromkeys(fns, float("inf"))
    names = list(fns)
    expected = None
    for round_ in range(repeat):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            empty_caches()
            seconds, results = one_pass(fns[name], texts)
            best[name] = min(best[name], seconds)
            if name in ("now", "baseline"):
                expected = expected or results
                differ = next((i for i, (a, b) in enumerate(zip(results, expected)) if a != b), None)
                assert differ is None, f"{name}: results differ from the other copy's at document {differ}"
    return {name: len(texts) / seconds for name, seconds in best.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="passes per measurement; the best counts")
    parser.add_argument("--baseline", default="f950437", help="git revision whose quality/ is the baseline")
    parser.add_argument("--no-datatrove", action="store_true", help="skip the datatrove column")
    parser.add_argument("--stream", action="store_true", help="the two chains over a long stream of distinct documents")
    parser.add_argument("--corpora", type=Path, default=REPO.parent / "shared" / "corpora")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/gristmill-vs-datatrove"),
                        help="--stream: vs_datatrove's work directory (its cache of HTML main text)")
    args = parser.parse_args()
    if args.stream:
        args.workdir.mkdir(parents=True, exist_ok=True)
        texts = stream_documents(args.corpora, args.workdir)
    else:
        texts = [text for _, text in load_documents(args.corpora)]
    chars = sum(map(len, texts))
    print(f"{'stream: ' if args.stream else ''}{len(texts)} documents, {chars / len(texts):.0f} characters "
          f"on average, repeat={args.repeat}")
    with tempfile.TemporaryDirectory() as tmp:
        import_baseline(args.baseline, Path(tmp))
        ours, base = judges("quality"), judges("quality_baseline")
        if args.stream:
            ours, base = ({name: fn for name, fn in fns.items() if name.startswith("chain")} for fns in (ours, base))
        else:
            for name in ours:  # same verdicts, signals and text, document by document, caches as they come
                assert all(ours[name](text) == base[name](text) for text in texts), f"{name}: results differ from the baseline"
        theirs = {} if args.no_datatrove or args.stream else datatrove_filters()
        if theirs:
            theirs["gopher_quality"](texts[0])  # load spaCy before timing
        print(f"{'':<24} {'gristmill':>10} {'baseline':>10} {'datatrove':>10} {'vs baseline':>12} {'vs datatrove':>13}")
        print(f"{'(docs/s)':<24} {'now':>10} {args.baseline:>10}")
        for name in ours:
            fns = {"now": ours[name], "baseline": base[name]}
            if name in theirs:
                fns["datatrove"] = theirs[name]
            rates = best_rates(fns, texts, args.repeat)
            dt = rates.get("datatrove")
            print(f"{name:<24} {rates['now']:>10.1f} {rates['baseline']:>10.1f} {dt or float('nan'):>10.1f} "
                  f"{rates['now'] / rates['baseline']:>11.2f}x {rates['now'] / dt if dt else float('nan'):>12.2f}x")


if __name__ == "__main__":
    main()
