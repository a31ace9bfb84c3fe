"""Writing a file so that it is whole or absent: a temporary name beside it, then one rename.

Every stage writes its files this way (staged units, shards, manifests, the run
state, checkpoints), so a crash leaves the old file or the new one, never half
of one. Targets are local paths or fsspec URLs (s3://, gs://, ...).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

TEMP_SUFFIX = ".tmp"


@contextmanager
def atomic_open(target: str | Path) -> Iterator[BinaryIO]:
    """A binary handle on `target` + ".tmp", renamed over `target` once the block ends without error.

    The parent directory is created; a block that raises removes the temporary file.
    """
    import fsspec  # ~80 ms: loaded by the first write, not by `gristmill --help`

    fs, path = fsspec.core.url_to_fs(str(target))
    fs.makedirs(fs._parent(path), exist_ok=True)
    tmp = path + TEMP_SUFFIX
    try:
        with fs.open(tmp, "wb") as handle:
            yield handle
    except BaseException:
        if fs.exists(tmp):
            fs.rm(tmp)
        raise
    fs.mv(tmp, path)


def atomic_write(target: str | Path, data: bytes | str | Callable[[BinaryIO], None]) -> None:
    """Write `data` (bytes, text as UTF-8, or a callback writing to the open binary handle) to `target` atomically."""
    with atomic_open(target) as handle:
        if callable(data):
            data(handle)
        else:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
