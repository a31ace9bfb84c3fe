"""Cross-document line dedup on the web corpus: bytes removed, the most repeated lines, before/after pages.

    .venv/bin/python benchmarks/line_dedup.py [--main-text] [--samples 2]
    .venv/bin/python benchmarks/line_dedup.py --curate [--passes 2]

Documents: every HTML page under ../shared/corpora/web/html as whole-page text
(resiliparse with main_content=False, so menus, footers and cookie banners stay,
as in Common Crawl WET text), plus the Common Crawl WET documents of web/cc_jsonl.
With --main-text, pages go through gristmill's own extractor (trafilatura), which
is what the curate pipeline would hand to line dedup. Runs
`quality.line_dedup.dedup_reference` (the in-memory reference of the algorithm)
for a few settings, in one process.

With --curate, the same whole-page documents (8 JSONL files) go through
`gristmill curate` with its default config, once with `line_dedup.enabled`
and once without, alternating, on the DirectRunner's in-memory engine (one
process, so its CPU time is the run's). It prints the CPU seconds of each
(best of --passes), the manifest's `line_dedup` section and the rejections
per reason with and without it (line dedup runs before the quality rules, so
it changes what they see).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common import machine, require_corpora  # noqa: E402
from quality.line_dedup import LineDedupSettings, dedup_reference, redacted_unit  # noqa: E402

SETTINGS = {
    "line, min_chars 1, max_docs 1 (C4 / Dolma rule)": LineDedupSettings(),
    "line, min_chars 20, max_docs 1": LineDedupSettings(min_chars=20),
    "line, min_chars 1, max_docs 3": LineDedupSettings(max_docs=3),
    "paragraph, min_chars 1, max_docs 1": LineDedupSettings(unit="paragraph"),
}


def web_documents(corpora: Path, main_text: bool) -> list[dict]:
    if main_text:
        from pipelines.html_text import extract_main_text as extract
    else:
        from resiliparse.extract.html2text import extract_plain_text

        def extract(html):
            return extract_plain_text(html, main_content=False)

    docs = []
    for path in sorted((corpora / "web" / "html").rglob("*.html.gz")):
        text = extract(gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace"))
        if text.strip():
            docs.append({"id": f"{path.parent.name}/{path.name}", "text": text})
    for path in sorted((corpora / "web" / "cc_jsonl").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            docs += [{"id": r["id"], "text": r["text"]} for r in map(json.loads, f)]
    return docs


# Every other stage off: what is left is reading, normalising, exact dedup, the shards and line dedup itself.
SPINE = ("language: {enabled: false}\nnear_dup: {enabled: false}\npii: {enabled: false}\nbias: {enabled: false}\n"
         "quality: {gopher_repetition: {enabled: false}, gopher_quality: {enabled: false}, fineweb: {enabled: false}}\n")


def curate_cost(docs: list[dict], passes: int, spine: bool) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="line-dedup-bench-"))
    src = tmp / "in"
    src.mkdir()
    for part in range(8):
        rows = docs[part::8]
        (src / f"part-{part}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    runs: dict[str, list[dict]] = {"off": [], "on": []}
    for n in range(passes):
        for label in ("off", "on"):
            out = tmp / f"out-{label}-{n}"
            config = tmp / f"{label}.yaml"
            config.write_text(f"inputs: [{src}]\noutput: {{dir: {out}}}\nline_dedup: {{enabled: {'true' if label == 'on' else 'false'}}}\n"
                              + (SPINE if spine else ""))
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "gristmill.cli", "curate", "--config", str(config), "--",
                            "--direct_running_mode=in_memory", "--direct_num_workers=1"],
                           cwd=REPO, check=True, stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            manifest = json.loads((out / "manifest.json").read_text())
            runs[label].append({"cpu": cpu, "wall": wall, "manifest": manifest})
            print(f"  pass {n} line dedup {label}: {cpu:.1f} CPU s, {wall:.1f} s wall, load {os.getloadavg()[0]:.2f}", flush=True)
    best = {label: min(r["cpu"] for r in rs) for label, rs in runs.items()}
    print(f"\n## curate, {'every other stage off' if spine else 'default config'}, {len(docs)} documents in 8 files, "
          "in-memory engine (1 process)")
    print(f"  CPU s (best of {passes}): without {best['off']:.2f}, with {best['on']:.2f}; "
          f"with / without = {best['on'] / best['off']:.3f}")
    section = runs["on"][0]["manifest"]["line_dedup"]
    print("  section: " + json.dumps({k: v for k, v in section.items() if k not in ("top_units", "samples")}))
    print("  most repeated lines (documents holding them):")
    for unit in section["top_units"][:12]:
        print(f"    {unit['docs']:4d}  {unit['text']!r}")
    for sample in section["samples"]:
        print(f"  sample {sample['id']}: {sample['bytes_before']:,} -> {sample['bytes_after']:,} bytes, {sample['units_removed']} units, "
              f"e.g. {sample['removed'][:4]}")
    for label in ("off", "on"):
        counts = runs[label][0]["manifest"]["counts"]
        kept_bytes = sum(s["bytes"] for s in runs[label][0]["manifest"]["shards"]["data"])
        print(f"  line dedup {label}: kept {counts['kept']} of {counts['input']} ({kept_bytes / 1e6:.2f} MB of Parquet); "
              f"rejected {counts['rejected_by_reason']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--main-text", action="store_true", help="trafilatura main text instead of whole-page text")
    parser.add_argument("--samples", type=int, default=2, help="before/after pages to print")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--curate", action="store_true", help="cost and effect inside `gristmill curate` (with vs without)")
    parser.add_argument("--passes", type=int, default=2, help="--curate: runs of each")
    parser.add_argument("--spine", action="store_true", help="--curate: every other stage off, so the difference is line dedup's own cost")
    args = parser.parse_args()
    corpora = require_corpora()
    print(f"machine: {machine()}; load average at start: {os.getloadavg()[0]:.2f}")
    docs = web_documents(corpora, args.main_text)
    total = sum(len(d["text"].encode()) for d in docs)
    print(f"{len(docs)} web documents ({'main text' if args.main_text else 'whole-page text'}), {total / 1e6:.2f} MB")
    if args.curate:
        curate_cost(docs, args.passes, args.spine)
        print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
        return
    for label, settings in SETTINGS.items():
        start = time.process_time()
        result = dedup_reference(docs, settings, top=args.top)
        cpu = time.process_time() - start
        changed = sum(after["text"] != before["text"] for (after, _), before in zip(result.docs, docs))
        emptied = sum(r is not None for _, r in result.docs)
        visible = sum(len("".join(d["text"].split())) for d in docs)
        visible_after = sum(len("".join(after["text"].split())) for after, _ in result.docs)
        print(f"\n## {label}")
        print(f"  bytes removed {result.bytes_removed:,} of {result.bytes_in:,} = {result.bytes_removed / result.bytes_in:.2%}; "
              f"non-whitespace characters removed {(visible - visible_after) / visible:.2%}; units removed {result.units_removed:,}; documents changed {changed}, emptied {emptied}; "
              f"{len(docs) / cpu:,.0f} docs/s ({total / 1e6 / cpu:.1f} MB/s) per core")
        print("  most repeated units (documents holding them):")
        for text, count in result.top_units:
            print(f"    {count:4d}  {text[:100]!r}")
        if label.startswith("line, min_chars 1, max_docs 1"):
            ranked = sorted(zip(result.docs, docs), key=lambda pair: len(pair[1]["text"]) - len(pair[0][0]["text"]), reverse=True)
            for (after, _), before in ranked[: args.samples]:
                kept_lines = set(after["text"].split("\n"))
                removed = [line for line in before["text"].split("\n") if line.strip() and line not in kept_lines]
                print(f"\n  sample {before['id']}: {len(before['text']):,} -> {len(after['text']):,} chars; "
                      f"{len(removed)} non-blank lines removed, e.g.:")
                for line in removed[:8]:
                    print(f"    - {redacted_unit(line, 100)!r}")
                print(f"    kept begins: {redacted_unit(after['text'][:300].replace(chr(10), ' / '), 300)!r}")
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
