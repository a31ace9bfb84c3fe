"""The decontamination index at eval-set scale: size, build, per-worker memory and lookup speed.

    .venv/bin/python benchmarks/decontamination_scale.py [--items 100000 5000000] [--build-only]

Eval sets: the three real ones of benchmarks/decontamination.py (4,409 items), and synthetic
sets of N items cut from the Gutenberg books (real sentences): each item a run of words at a
random place, half of them 8-25 words (near-match segments), half 26-60. The index is built in
one process (wall time, peak RSS) and saved; a fresh process, as a Beam worker does, memory-maps
it and judges the clean documents of benchmarks/decontamination.py: its anonymous (private) and
file-backed (page-cache, shared between workers) resident memory before loading, after loading
and after judging, and its CPU time. The item texts come from the books, so book chunks are
rejected (a lookup workload with hits: at 5M items a 3,000-character chunk holds about a
thousand items, so only every 100th chunk is judged); the web and wiki documents are the clean
lookups. The builder's memory is its peak RSS (VmHWM: private memory and the mapped index
files it has touched, which are page cache) and its peak private memory (RssAnon, sampled every
10 ms); `--build-only` skips the workers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from common import machine, require_corpora  # noqa: E402
from quality.decontamination import DecontaminationSettings, build_index, load_index  # noqa: E402


def memory(keys=("RssAnon", "RssFile")) -> dict:
    """Fields of /proc/self/status, MB (VmHWM: peak RSS; unlike ru_maxrss it does not carry the parent's over exec)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {k: int(fields[k].split()[0]) / 1024 for k in keys}


def synthetic_set(corpora: Path, count: int, path: Path, seed: int = 0) -> None:
    import gzip

    with gzip.open(corpora / "books" / "books.jsonl.gz", "rt", encoding="utf-8") as f:
        stream = [w for book in map(json.loads, f) for w in book["text"].split()]
    rng = np.random.default_rng(seed)
    lengths = np.where(rng.random(count) < 0.5, rng.integers(8, 26, count), rng.integers(26, 61, count))
    starts = rng.integers(0, len(stream) - 61, count)
    with open(path, "w", encoding="utf-8") as out:
        for lo, n in zip(starts.tolist(), lengths.tolist()):
            out.write(json.dumps({"text": " ".join(stream[lo : lo + n])}) + "\n")


class PeakAnon(threading.Thread):
    """The largest RssAnon seen while it runs, sampled every 10 ms."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.done = 0.0, threading.Event()

    def run(self):
        while not self.done.wait(0.01):
            self.peak = max(self.peak, memory(("RssAnon",))["RssAnon"])


def build(settings_json: str, folder: str) -> dict:
    settings = DecontaminationSettings.model_validate_json(settings_json)
    sampler = PeakAnon()
    sampler.start()
    start = time.perf_counter()
    index = build_index(settings)
    build_s = time.perf_counter() - start
    index.save(folder)
    save_s = time.perf_counter() - start - build_s
    sampler.done.set()
    sampler.join()
    return {"build_s": build_s, "save_s": save_s, "peak_rss_mb": memory(("VmHWM",))["VmHWM"],
            "peak_anon_mb": sampler.peak,
            "items": sum(s["items_indexed"] for s in index.set_stats.values()), "entries": len(index.hashes),
            "seeds": len(index.seed_hashes), "near_segments": len(index.segment_items), "bytes": index.nbytes,
            "on_disk": sum(p.stat().st_size for p in Path(folder).iterdir())}


def worker(folder: str, docs_path: str) -> dict:
    docs = [json.loads(line) for line in open(docs_path, encoding="utf-8")]
    before = memory()
    start = time.process_time()
    index = load_index(folder)
    load_s = time.process_time() - start
    loaded = memory()
    rejected = {"book": 0, "web": 0, "wiki": 0}
    cpu = {"book": 0.0, "web": 0.0, "wiki": 0.0}
    for doc in docs:
        start = time.process_time()
        rejected[doc["kind"]] += index.is_contaminated(doc["text"])
        cpu[doc["kind"]] += time.process_time() - start
    mb = {k: sum(len(d["text"].encode()) for d in docs if d["kind"] == k) / 1e6 for k in cpu}
    count = {k: sum(d["kind"] == k for d in docs) for k in cpu}
    return {"before": before, "loaded": loaded, "judged": memory(), "load_s": load_s, "rejected": rejected,
            "count": count, "cpu": cpu, "mb": mb}


def child(mode: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, f"--{mode}", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="*", default=[100_000, 5_000_000])
    parser.add_argument("--build-only", action="store_true", help="measure the index build only, no workers")
    parser.add_argument("--build", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=2, metavar=("INDEX", "DOCS"), help="judge DOCS (JSONL: text, kind) with a saved index")
    args = parser.parse_args()
    if args.build:
        print(json.dumps(build(*args.build)))
        return
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    import decontamination as bench

    corpora = require_corpora()
    print(f"machine: {machine()}; load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="gristmill-decont-scale-") as tmp:
        tmp = Path(tmp)
        docs_path = tmp / "docs.jsonl"
        docs = bench.clean_documents(corpora)
        docs = [d for d in docs if d["kind"] != "book"] + [d for d in docs if d["kind"] == "book"][::100]
        docs_path.write_text("".join(json.dumps({"text": d["text"], "kind": d["kind"]}) + "\n" for d in docs))
        scales = [("3 real sets", bench.write_eval_sets(corpora, tmp))]
        for count in args.items:
            start = time.perf_counter()
            synthetic_set(corpora, count, tmp / f"synth{count}.jsonl")
            print(f"synthesised {count:,} items in {time.perf_counter() - start:.0f} s")
            scales.append((f"{count:,} synthetic items", [{"name": "synth", "path": str(tmp / f"synth{count}.jsonl")}]))
        for label, sets in scales:
            folder = tmp / f"index-{len(os.listdir(tmp))}"
            built = child("build", DecontaminationSettings(sets=sets).model_dump_json(), str(folder))
            print(f"\n## {label}: {built['items']:,} items indexed, {built['entries']:,} n-gram entries, "
                  f"{built['seeds']:,} seeds of {built['near_segments']:,} near-match segments")
            print(f"  index {built['bytes'] / 1e6:,.1f} MB in arrays, {built['on_disk'] / 1e6:,.1f} MB on disk; "
                  f"built in {built['build_s']:.1f} s, saved in {built['save_s']:.1f} s; builder peak RSS "
                  f"{built['peak_rss_mb']:,.0f} MB, peak private (RssAnon) {built['peak_anon_mb']:,.0f} MB; "
                  f"load average {os.getloadavg()[0]:.2f}", flush=True)
            if args.build_only:
                shutil.rmtree(folder)
                continue
            w = child("worker", str(folder), str(docs_path))
            mem = "; ".join(f"{k}: anon {w[k]['RssAnon']:.0f} MB, file {w[k]['RssFile']:.0f} MB"
                            for k in ("before", "loaded", "judged"))
            print(f"  worker RSS {mem}; load {w['load_s'] * 1000:.0f} ms CPU")
            for kind in ("web", "wiki", "book"):
                cpu = w["cpu"][kind]
                print(f"  judge {kind:4s}: {w['count'][kind]:5d} docs, {w['mb'][kind]:5.1f} MB, "
                      f"{w['count'][kind] / cpu:7,.0f} docs/s, {w['mb'][kind] / cpu:5.1f} MB/s per core, "
                      f"rejected {w['rejected'][kind]}")
            shutil.rmtree(folder)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
