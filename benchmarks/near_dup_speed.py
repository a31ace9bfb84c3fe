"""Near-dup speed: signatures/s against datasketch in the same run; the whole Beam stage at 1x and 4x input.

Signatures: the same real documents (book, wiki and web chunks of ~250 words),
the same word 5-gram shingling, the same num_perm, for
  - gristmill: `MinHasher.signatures` on batches of 512 documents;
  - datasketch per-document loop: `MinHash()` then `update(shingle)` per shingle;
  - datasketch `MinHash.bulk` and `MinHash.generator` (one shared init, `update_batch` per document).
datasketch's time includes building its byte-string shingles, as ours includes hashing them.

Stage: `gristmill curate` on each --stage-docs number of documents (real chunks plus
edited copies) read from FILES JSONL files (a unit is a file, so the per-unit work,
MinHash signing included, can use both workers), with every judge off, once with
near-dup on and once off (multi_processing, 2 workers): the difference in wall time is
the near-dup step's cost (and the difference in CPU seconds of the process tree); peak
RSS summed over the process tree. Then the same input in one process (in_memory runner,
1 worker) with per-stage CPU timers: near-dup's own CPU seconds, signatures and global step.

    .venv/bin/python benchmarks/near_dup_speed.py [--docs 3000] [--loop-docs 300] [--stage-docs 5000 20000]

`--docs 0` skips the signature comparison.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import machine, require_corpora, run_measured  # noqa: E402
from benchmarks.near_dup_data import base_documents, scale_documents  # noqa: E402

_WORD = re.compile(r"\w+")
FILES = 8


def datasketch_shingles(text: str, n: int = 5) -> list[bytes]:
    words = _WORD.findall(text.lower())
    return [" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)]


def rate(n: int, fn) -> float:
    started = time.perf_counter()
    fn()
    return n / (time.perf_counter() - started)


def signature_speed(texts: list[str], loop_docs: int, num_perm: int) -> dict:
    from datasketch import MinHash

    from pipelines.minhash import MinHasher

    hasher = MinHasher(num_perm=num_perm)

    def ours():
        for i in range(0, len(texts), 512):
            hasher.signatures(texts[i : i + 512])

    def loop():
        for text in texts[:loop_docs]:
            m = MinHash(num_perm=num_perm)
            for s in datasketch_shingles(text):
                m.update(s)

    def bulk():
        MinHash.bulk((datasketch_shingles(t) for t in texts), num_perm=num_perm)

    def generator():
        for _ in MinHash.generator((datasketch_shingles(t) for t in texts), num_perm=num_perm):
            pass

    return {
        "gristmill": rate(len(texts), ours),
        "datasketch_loop": rate(loop_docs, loop),
        "datasketch_bulk": rate(len(texts), bulk),
        "datasketch_generator": rate(len(texts), generator),
    }


def curate_config(path: Path, near_dup: bool, tmp: Path) -> dict:
    """Every judge off but near-dup (on or off)."""
    off = {"enabled": False}
    return {
        "inputs": [str(path)], "output": {"dir": str(tmp / f"out-{path.stem}-{near_dup}")},
        "language": off, "pii": off, "bias": off, "near_dup": {"enabled": near_dup},
        "quality": {family: off for family in ("gopher_repetition", "gopher_quality", "fineweb")},
    }


def curate_run(path: Path, near_dup: bool, tmp: Path) -> dict:
    """`gristmill curate` on `path` (see `curate_config`); wall time, CPU seconds and peak RSS of the process tree."""
    config = tmp / f"{path.stem}-{near_dup}.yaml"
    config.write_text(json.dumps(curate_config(path, near_dup, tmp)))
    cmd = [sys.executable, "-m", "gristmill.cli", "curate", "--config", str(config), "--", "--direct_num_workers=2"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_measured(cmd, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return result


def own_cpu(path: Path, tmp: Path) -> dict[str, float]:
    """CPU seconds of near-dup's own work in a curate inside this process (in_memory runner, 1 worker), by the
    timers of `benchmarks/profile_curate.py`: signatures in s2, and the global step (every function and DoFn of
    the near-dup module). Unlike a difference of two wall times, it does not move with the machine's load."""
    from benchmarks.profile_curate import instrumented
    from pipelines.config import CurateConfig
    from pipelines.curate import run_curate

    timers = instrumented()
    timers.take()
    runner = {"direct_running_mode": "in_memory", "direct_num_workers": 1}
    run_curate(CurateConfig.parse({**curate_config(path, True, tmp), "runner": runner}, "neardup_speed"), fresh=True)
    own = timers.take()
    return {label: own.get(label, 0.0) for label in ("near-dup: signatures", "near-dup: global")}


def stage_speed(corpora: Path, n: int, tmp: Path) -> dict:
    """The near-dup step's own cost: curate with it minus curate without it, on the same documents."""
    path = tmp / f"docs-{n}"
    path.mkdir()
    files = [(path / f"part-{i}.jsonl").open("w") for i in range(FILES)]
    for i, doc in enumerate(scale_documents(corpora, n)):
        files[i % FILES].write(json.dumps(doc) + "\n")
    for f in files:
        f.close()
    without = curate_run(path, False, tmp)
    with_near = curate_run(path, True, tmp)
    near_s = with_near["wall_s"] - without["wall_s"]
    own = own_cpu(path, tmp)
    return {"docs": n, "without_s": without["wall_s"], "with_s": with_near["wall_s"], "near_dup_s": near_s,
            "near_dup_cpu_s": with_near["cpu_s"] - without["cpu_s"], "own_cpu": own,
            "docs_per_s": n / near_s if near_s > 0 else float("inf"), "peak_rss_mb": with_near["peak_rss_mb"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=3000, help="documents for the signature comparison")
    parser.add_argument("--loop-docs", type=int, default=300, help="of those, how many the slow per-document loop signs")
    parser.add_argument("--stage-docs", type=int, nargs="+", default=[5000, 20000], help="input sizes of the stage runs")
    args = parser.parse_args()
    corpora = require_corpora()
    print(f"machine: {machine()}")
    texts = [d["text"] for d in base_documents(corpora)][: args.docs]
    if texts:
        words = sum(len(t.split()) for t in texts) / len(texts)
        print(f"\nsignatures: {len(texts)} real chunks, {words:.0f} words each on average; word 5-grams")
        for num_perm in (128, 256):
            r = signature_speed(texts, args.loop_docs, num_perm)
            base = r["datasketch_loop"]
            print(f"  num_perm {num_perm}: " + ", ".join(f"{k} {v:,.0f} docs/s ({v / base:.1f}x loop)" for k, v in r.items()))

    print(f"\nnear-dup step in curate (multi_processing, 2 workers, {FILES} input files, default near_dup config, other judges off)")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.stage_docs:
            r = stage_speed(corpora, n, Path(tmp))
            print(f"  {r['docs']} docs: curate {r['without_s']:.1f}s without near-dup, {r['with_s']:.1f}s with it: "
                  f"near-dup {r['near_dup_s']:.1f}s = {r['docs_per_s']:.0f} docs/s ({r['near_dup_cpu_s']:.1f} CPU-s more); "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB")
            own = ", ".join(f"{label} {seconds:.2f} CPU-s ({n / seconds:,.0f} docs per CPU-s)" for label, seconds in r["own_cpu"].items())
            print(f"    own CPU in one process (in_memory, 1 worker): {own}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
