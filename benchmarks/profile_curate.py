"""Where a default `gristmill curate` spends its CPU, stage by stage, against the floor of the work.

Inputs (each run separately):
  jsonl  the JSONL input of `benchmarks/vs_datatrove.py` (--mb megabytes; built and cached in
         --workdir the same way: real documents, 4 copies, half the later copies perturbed)
  web    the HTML pages and WARC files of ../shared/corpora/web (html/ and warc/)

Method: the default curate config (only inputs and output set) runs inside this process
on the DirectRunner's in_memory mode with one worker, so every task runs here. The work
of each stage is wrapped in a timer of this thread's CPU time (`time.thread_time`: time
spent waiting for a core on the shared machine does not count). Timers nest, and each
counts only its own time, less the timers inside it (about 1 µs per timed call):

  read                           `read_unit` in the s1 task: file, decompression, JSON / WARC parsing, HTML decoding
  html extraction                `extract_main_text` (trafilatura or resiliparse, `html.extractor`)
  <stage name>                   each per-document judge: normalize, language, quality_rules, pii, bias
  pii: redact rejected rows      rejected rows are redacted before they are written
  exact dedup: text hash         the xxh3-128 of each text in s1
  near-dup: signatures           MinHash signatures, band hashes and sidecars in s2
  staged files: write / read     the per-unit Parquet files and sidecars between segments
  exact dedup / near-dup: global every function and DoFn of the modules of `ExactDedup` and `NearDup`
  write shards                   every function and DoFn of the module of `WriteShards`
  Beam graph construction        `Curate.expand`
  Beam runner and the rest       the process CPU time of the run less all of the above: the runner,
                                 its shuffles and coders, markers, stats, model loading

For the quality rules (`quality/`), a cProfile of their judge alone on the first
RULE_DOCS documents that reach it lists the functions that cost most.

Floor: the same units through the same reader, the normalize judge and the language
judge in a plain loop, nothing written (language ID on every document, also on those that
exact dedup would remove): the work no curate of this input can avoid. Each stage's
"x floor" is its CPU time over the floor's.

    .venv/bin/python benchmarks/profile_curate.py [--input jsonl web] [--mb 100] [--workdir DIR] [--recipe vs_datatrove]
"""

from __future__ import annotations

import argparse
import functools
import inspect
import os
import shutil
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, machine, require_corpora  # noqa: E402

sys.path.insert(0, str(REPO))

READ = "read"
HTML = "html extraction"
REST = "Beam runner and the rest"
RULE_DOCS = 2000
RULE_FUNCTIONS = 15


class Timers:
    """Own CPU time (this thread) per label; a timer inside another is taken out of the outer one."""

    def __init__(self):
        self.own: dict[str, float] = defaultdict(float)
        self.calls: Counter = Counter()
        self._stack: list[list] = []  # [label, start, time of timers inside]

    def _enter(self, label: str) -> None:
        self._stack.append([label, time.thread_time(), 0.0])

    def _exit(self) -> None:
        label, start, inner = self._stack.pop()
        spent = time.thread_time() - start
        self.own[label] += spent - inner
        self.calls[label] += 1
        if self._stack:
            self._stack[-1][2] += spent

    def _iterate(self, label: str, generator):
        while True:
            self._enter(label)
            try:
                item = next(generator)
            except StopIteration:
                return
            finally:
                self._exit()
            yield item

    def wrap(self, label: str, fn):
        """`fn` timed under `label`; a generator it returns is timed at every step."""
        if getattr(fn, "_timed", False):
            return fn

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            self._enter(label)
            try:
                result = fn(*args, **kwargs)
            finally:
                self._exit()
            return self._iterate(label, result) if inspect.isgenerator(result) else result

        timed._timed = True
        return timed

    def take(self) -> dict[str, float]:
        own, self.own = dict(self.own), defaultdict(float)
        self.calls.clear()
        return own


def wrap_module(timers: Timers, module, label: str) -> None:
    """Time every function defined in `module` and the `process` of every DoFn in it."""
    import apache_beam as beam

    for name, value in list(vars(module).items()):
        if inspect.isfunction(value) and value.__module__ == module.__name__:
            setattr(module, name, timers.wrap(label, value))
        elif inspect.isclass(value) and issubclass(value, beam.DoFn) and value.__module__ == module.__name__:
            value.process = timers.wrap(label, value.process)


_TIMERS: list[Timers] = []


def instrumented() -> Timers:
    """The timers of this process's curate runs; the stages' work is wrapped the first time (see `instrument`)."""
    if not _TIMERS:
        _TIMERS.append(Timers())
        instrument(_TIMERS[0])
    return _TIMERS[0]


def instrument(timers: Timers) -> None:
    """Wrap the stages' work in timers (see the module docstring); class and module attributes, so every task sees them."""
    from pipelines import curate, exact_dedup, near_dup, segments, sinks, sources, staging
    from pipelines.sidecars import SidecarWriter

    segments.read_unit = timers.wrap(READ, segments.read_unit)
    sources.extract_main_text = timers.wrap(HTML, sources.extract_main_text)
    exact_dedup.text_key = timers.wrap("exact dedup: text hash", exact_dedup.text_key)
    near_dup.Signer._sign = timers.wrap("near-dup: signatures", near_dup.Signer._sign)
    segments.iter_rows = timers.wrap("staged files: read", segments.iter_rows)
    for cls, method in ((staging.RowWriter, "write"), (staging.RowWriter, "close"), (SidecarWriter, "write"), (SidecarWriter, "close")):
        setattr(cls, method, timers.wrap("staged files: write", getattr(cls, method)))
    wrap_module(timers, exact_dedup, "exact dedup: global")
    wrap_module(timers, near_dup, "near-dup: global")
    wrap_module(timers, sinks, "write shards")
    curate.Curate.expand = timers.wrap("Beam graph construction", curate.Curate.expand)

    setup = segments._UnitTask.setup

    def timed_setup(task):
        setup(task)
        task._steps = [(stage, judge if judge is None else timers.wrap(stage.name, judge)) for stage, judge in task._steps]
        if task._redact_text:
            task._redact_text = timers.wrap("pii: redact rejected rows", task._redact_text)

    segments._UnitTask.setup = timed_setup


def floor(config, timers: Timers) -> tuple[dict, int, list[dict]]:
    """Read, normalize and language-ID every document of the input in a plain loop:
    own CPU per label, documents, and the first RULE_DOCS documents the quality rules would judge."""
    import apache_beam as beam

    from pipelines import segments
    from pipelines.language import LanguageStage
    from pipelines.normalize import NormalizeStage
    from pipelines.sources import expand_inputs, plan_units

    normalize = timers.wrap("normalize", NormalizeStage(config.normalize, config.length).make_judge())
    language = timers.wrap("language", LanguageStage(config.language).make_judge())  # the model loads here, untimed
    timers.take()
    docs, judged = 0, []
    for unit in plan_units(expand_inputs(config)[0], config.runner.unit_bytes):
        for item in segments.read_unit(unit):
            if isinstance(item, beam.pvalue.TaggedOutput):
                continue
            docs += 1
            doc, rejection = normalize(item)
            if rejection is None:
                doc, rejection = language(doc)
                if rejection is None and len(judged) < RULE_DOCS:
                    judged.append(doc)
    return timers.take(), docs, judged


def profile(name: str, inputs: list[str], out: Path, timers: Timers, recipe: str) -> None:
    from pipelines.config import CurateConfig
    from pipelines.curate import run_curate

    data = {"inputs": inputs, "output": {"dir": str(out)}}
    if recipe == "vs_datatrove":
        from vs_datatrove import gristmill_config

        data = gristmill_config(inputs[0], out, 1, "in_memory") | {"inputs": inputs}
    data["runner"] = {"direct_running_mode": "in_memory", "direct_num_workers": 1}
    config = CurateConfig.parse(data, f"profile_curate:{name}:{recipe}")
    print(f"\n## {name}: {', '.join(inputs)}")
    print(f"load average at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    floor_own, docs, judged = floor(config, timers)
    shutil.rmtree(out, ignore_errors=True)
    started_cpu, started = time.process_time(), time.perf_counter()
    manifest = run_curate(config, fresh=True)
    total, wall = time.process_time() - started_cpu, time.perf_counter() - started
    own = timers.take()
    own[REST] = total - sum(own.values())
    floor_total = sum(floor_own.values())
    counts = {key: manifest["counts"][key] for key in ("input", "kept", "rejected", "errors")}
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{docs:,} documents read; curate: {total:.1f} CPU-s in {wall:.1f} s wall (in_memory, 1 worker); "
          f"counts {counts}; floor: {floor_total:.1f} CPU-s\n")
    print("| stage | curate CPU-s | share of curate | µs per document read | x floor | floor CPU-s |")
    print("|---|---|---|---|---|---|")
    for label, seconds in sorted(own.items(), key=lambda kv: -kv[1]):
        in_floor = f"{floor_own[label]:.2f}" if label in floor_own else ""
        print(f"| {label} | {seconds:.2f} | {seconds / total:.1%} | {seconds / docs * 1e6:,.0f} | "
              f"{seconds / floor_total:.2f} | {in_floor} |")
    print(f"| **curate, all** | **{total:.2f}** | 100% | {total / docs * 1e6:,.0f} | **{total / floor_total:.2f}** | "
          f"**{floor_total:.2f}** |")
    rules_profile(config, judged)


def rules_profile(config, docs: list[dict]) -> None:
    """cProfile of the quality-rules judge on `docs`: the functions of `quality/` by own time, each with the
    time of the built-in calls it makes itself (regex, numpy, str methods), which cProfile lists apart."""
    import cProfile
    import pstats

    from pipelines.quality_rules import QualityRulesStage

    judge = QualityRulesStage(config.quality).make_judge()
    profiler = cProfile.Profile()
    profiler.enable()
    for doc in docs:
        judge(dict(doc))
    profiler.disable()
    own: dict[str, float] = defaultdict(float)
    quality = f"{os.sep}quality{os.sep}"

    def name(key) -> str:
        file, line, function = key
        return f"{file[file.rindex(quality) + 1:]}:{function}" if quality in file else ""

    total = 0.0
    for key, (_, _, tottime, _, callers) in pstats.Stats(profiler).stats.items():
        total += tottime
        if name(key):
            own[name(key)] += tottime
        elif key[0] == "~":  # a built-in: its time goes to the quality/ functions that call it
            for caller, (_, _, caller_tottime, _) in callers.items():
                own[name(caller) or "(built-ins called from elsewhere)"] += caller_tottime
    print(f"\nquality rules judge under cProfile, {len(docs):,} documents that reach it (cProfile's own overhead inflates "
          f"pure-Python functions): {total:.2f} s profiled")
    print("\n| function (own time + built-ins it calls) | s | share |")
    print("|---|---|---|")
    for function, seconds in sorted(own.items(), key=lambda kv: -kv[1])[:RULE_FUNCTIONS]:
        print(f"| `{function}` | {seconds:.2f} | {seconds / total:.1%} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", nargs="+", choices=("jsonl", "web"), default=["jsonl", "web"])
    parser.add_argument("--mb", type=float, default=100, help="size of the JSONL input (as vs_datatrove.py --mb)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/gristmill-vs-datatrove"), help="input cache and outputs")
    parser.add_argument("--recipe", choices=("default", "vs_datatrove"), default="default",
                        help="the default curate config, or the one vs_datatrove.py gives gristmill (its rules; "
                             "normalize, PII and bias off)")
    args = parser.parse_args()
    corpora = require_corpora()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    timers = instrumented()
    for name in args.input:
        if name == "jsonl":
            from vs_datatrove import build_input

            folder, _ = build_input(corpora, args.workdir, args.mb)
            profile(f"jsonl ({args.mb:g} MB)", [str(folder)], args.workdir / "profile-jsonl-out", timers, args.recipe)
        else:
            web = corpora / "web"
            profile("web (HTML pages and WARC files)", [str(web / "html"), str(web / "warc")], args.workdir / "profile-web-out", timers, args.recipe)
    return 0


if __name__ == "__main__":
    sys.exit(main())
