"""`runner.unit_bytes` on many small files: curate's CPU and wall time against the read-unit budget.

Input: the HTML pages and WARC files of ../shared/corpora/web (529 files of 1 KB to 300 KB,
gzipped). Each budget runs the default curate config as `python -m gristmill.cli curate`
in a subprocess on the local runner (multi_processing, --workers workers); a budget of 1 byte
makes every file its own unit (as before grouping). CPU is that of the whole process tree
(the Beam workers are its children), wall and peak RSS from `common.run_measured`.

    .venv/bin/python benchmarks/unit_bytes.py [--budgets 1 262144 1048576 4194304 67108864] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, machine, require_corpora, run_measured  # noqa: E402


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", type=int, nargs="+", default=[1, 256 << 10, 1 << 20, 4 << 20, 64 << 20])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    web = require_corpora() / "web"
    print(f"machine: {machine()}; load average at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("\n| runner.unit_bytes | units | CPU-s (all processes) | wall s | peak RSS MB | input | kept | rejected | errors |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="gristmill-unit-bytes-") as tmp:
        for budget in args.budgets:
            out = Path(tmp) / "out"
            shutil.rmtree(out, ignore_errors=True)
            cmd = [sys.executable, "-m", "gristmill.cli", "curate", "--input", str(web / "html"), str(web / "warc"),
                   "--output", str(out), "--fresh", "--set", f"runner.unit_bytes={budget}", "--",
                   "--direct_running_mode=multi_processing", f"--direct_num_workers={args.workers}"]
            before = children_cpu()
            measured = run_measured(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cpu = children_cpu() - before
            manifest = json.loads((out / "manifest.json").read_text())
            c = manifest["counts"]
            print(f"| {budget:,} | {manifest['resume']['units']} | {cpu:.1f} | {measured['wall_s']:.1f} | "
                  f"{measured['peak_rss_mb']:,.0f} | {c['input']} | {c['kept']} | {c['rejected']} | {c['errors']} |", flush=True)
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
