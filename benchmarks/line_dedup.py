"""Cross-document line dedup on the web corpus: bytes removed, the most repeated lines, before/after pages.

    .venv/bin/python benchmarks/line_dedup.py [--main-text] [--samples 2]

Documents: every HTML page under ../shared/corpora/web/html as whole-page text
(resiliparse with main_content=False, so menus, footers and cookie banners stay,
as in Common Crawl WET text), plus the Common Crawl WET documents of web/cc_jsonl.
With --main-text, pages go through gristmill's own extractor (trafilatura), which
is what the curate pipeline would hand to line dedup. Runs
`quality.line_dedup.dedup_reference` (the in-memory reference of the algorithm)
for a few settings, in one process.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--main-text", action="store_true", help="trafilatura main text instead of whole-page text")
    parser.add_argument("--samples", type=int, default=2, help="before/after pages to print")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    corpora = require_corpora()
    print(f"machine: {machine()}; load average at start: {os.getloadavg()[0]:.2f}")
    docs = web_documents(corpora, args.main_text)
    total = sum(len(d["text"].encode()) for d in docs)
    print(f"{len(docs)} web documents ({'main text' if args.main_text else 'whole-page text'}), {total / 1e6:.2f} MB")
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
