"""Keeps Beam's start-up noise off the terminal at the default log level (`-v` shows everything).

Two routes reach the terminal: log records in this process (import-time notices,
worker messages relayed by the local job service), dropped by `NoiseFilter`; and
the DirectRunner's worker subprocesses, which inherit this process's stderr and
log there before they connect, filtered line by line by `quiet_worker_stderr`.
Only the known notices below are dropped; anything else, errors and tracebacks
included, passes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading

NOISE = re.compile(
    r"apitools not found|Logging handler created|semi_persistent_directory|Discarding unparseable args"
    r"|Falling back to|[Pp]rism|Pipeline has additional dependencies|Missing pipeline option"
)


class NoiseFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or not NOISE.search(record.getMessage())


def install(handler: logging.Handler) -> None:
    handler.addFilter(NoiseFilter())


@contextlib.contextmanager
def quiet_worker_stderr():
    """While the pipeline runs, fd 2 goes through a filter; the original stderr stays in `sys.stderr`."""
    try:
        original = os.dup(2)
    except OSError:
        yield
        return
    read_end, write_end = os.pipe()
    saved_stderr = sys.stderr
    sys.stderr = os.fdopen(os.dup(original), "w", buffering=1)
    for handler in logging.getLogger().handlers:
        if getattr(handler, "stream", None) is saved_stderr:
            handler.setStream(sys.stderr)

    def relay():
        with os.fdopen(read_end, "rb") as lines:
            for line in lines:
                if not NOISE.search(line.decode("utf-8", "replace")):
                    os.write(original, line)

    thread = threading.Thread(target=relay, daemon=True)
    thread.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        os.dup2(original, 2)  # closes the pipe's last write end: the relay drains and stops
        thread.join(timeout=5)
        for handler in logging.getLogger().handlers:
            if getattr(handler, "stream", None) is sys.stderr:
                handler.setStream(saved_stderr)
        sys.stderr.close()
        sys.stderr = saved_stderr
        os.close(original)
