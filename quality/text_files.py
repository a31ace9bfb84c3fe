"""Documents' text from the files a person points a quality tool at.

Accepted: JSONL (`.jsonl`, `.jsonl.gz`, `.json`), one document per line with a
text field; plain text (`.txt`), one document per file; and a curated dataset
directory, read through its `manifest.json` by `gristmill.dataset` (kept documents).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Iterator

from gristmill.dataset import Dataset


def read_texts(path: str | Path, text_field: str = "text") -> Iterator[str]:
    path = Path(path)
    if path.is_dir():
        yield from Dataset.open(path).texts()
    elif not path.is_file():
        raise FileNotFoundError(f"input not found: {path}")
    elif path.name.endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz")):
        yield from _jsonl_texts(path, text_field)
    elif path.suffix == ".txt":
        yield path.read_text(encoding="utf-8", errors="replace")
    else:
        raise ValueError(f"{path}: unsupported input; give .jsonl[.gz], .txt, or a curated dataset directory")


def _jsonl_texts(path: Path, text_field: str) -> Iterator[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
            text = record.get(text_field) if isinstance(record, dict) else None
            if not isinstance(text, str):
                raise ValueError(f"{path}:{lineno}: no string field {text_field!r}")
            yield text
