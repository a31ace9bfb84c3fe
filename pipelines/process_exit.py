"""A process that ran curate work exits without a last garbage collection over its whole heap.

At exit CPython collects every object it still tracks; with Beam, pyarrow and the models
loaded that took 0.4-0.6 s per process, and the DirectRunner stops its workers one after
the other, so a two-worker run ended ~1.1 s after its last task, plus ~0.5 s for the driver.
Freezing the heap at exit (`gc.freeze`: every object to the permanent generation, which is
never collected) skips that collection; the operating system frees the memory anyway. Only
at exit: nothing changes while the process works.
"""

from __future__ import annotations

import atexit
import functools
import gc


@functools.cache
def freeze_heap_at_exit() -> None:
    """Once per process: freeze the heap when the interpreter exits (see the module docstring)."""
    atexit.register(gc.freeze)
