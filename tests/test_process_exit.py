"""A curate process freezes its heap only when it exits, once however often it asks."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_heap_frozen_at_exit_only():
    script = (
        "import atexit, gc\n"
        "from pipelines.process_exit import freeze_heap_at_exit\n"
        "atexit.register(lambda: print('at exit', gc.get_freeze_count() > 0))\n"
        "freeze_heap_at_exit(); freeze_heap_at_exit()\n"
        "print('working', gc.get_freeze_count())\n"
        "print('registered', atexit._ncallbacks())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:3] == ["working 0", "registered 2", "at exit True"]
