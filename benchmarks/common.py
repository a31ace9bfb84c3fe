"""Shared helpers for the benchmark scripts: where the corpora are, and how to measure a command."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
CORPORA = Path(os.environ.get("GRISTMILL_SHARED", REPO.parent / "shared")) / "corpora"


def require_corpora() -> Path:
    if not CORPORA.is_dir():
        sys.exit(f"corpora not found at {CORPORA}; set GRISTMILL_SHARED to the folder holding corpora/")
    return CORPORA


def book_chunks(text: str, chunk_chars: int = 3000) -> list[str]:
    """A book cut at blank lines into pieces of about `chunk_chars` characters (the last may be shorter)."""
    chunks, current, size = [], [], 0
    for para in text.split("\n\n"):
        current.append(para)
        size += len(para) + 2
        if size >= chunk_chars:
            chunks.append("\n\n".join(current))
            current, size = [], 0
    if current:
        chunks.append("\n\n".join(current))
    return chunks


def machine() -> str:
    mem = psutil.virtual_memory().total / 2**30
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, Python {platform.python_version()}"


def best_cpu_seconds(fn, docs, repeat: int = 3) -> float:
    """The least process CPU time of `repeat` passes of `fn` over `docs` (the shared machine's waits do not count)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for doc in docs:
            fn(doc)
        best = min(best, time.process_time() - start)
    return best


def run_measured(cmd: list[str], **kwargs) -> dict:
    """Run a command; wall time and the peak summed RSS of its whole process tree (Beam workers included),
    and the peak of its anonymous part (RSS less file-backed and shared pages: memory-mapped files that
    were read count in RSS but can be dropped by the kernel at any time)."""
    peak = peak_anon = 0
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, **kwargs)
    parent = psutil.Process(proc.pid)
    done = threading.Event()

    def sample():
        nonlocal peak, peak_anon
        while not done.is_set():
            try:
                infos = [p.memory_info() for p in (parent, *parent.children(recursive=True)) if p.is_running()]
                peak = max(peak, sum(info.rss for info in infos))
                peak_anon = max(peak_anon, sum(info.rss - info.shared for info in infos))
            except psutil.Error:
                pass
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"command failed ({code}): {' '.join(cmd)}")
    return {"wall_s": wall, "peak_rss_mb": peak / 2**20, "peak_anon_rss_mb": peak_anon / 2**20}
