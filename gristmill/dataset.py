"""Reading a finished dataset's manifest.json.

No Beam here: the report and the tokenizer read datasets through this module.
"""

from __future__ import annotations

import json
from pathlib import Path

from gristmill.errors import GristmillError

FORMAT = "gristmill-dataset-v1"
MANIFEST = "manifest.json"


def load_manifest(root: str | Path) -> tuple[dict, bytes]:
    """(the manifest, its bytes) of the dataset in `root`; a directory without one is not a finished dataset."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise GristmillError(f"{path}: no {MANIFEST} (is {root} a finished gristmill dataset directory?)")
    raw = path.read_bytes()
    try:
        manifest = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise GristmillError(f"{path}: not valid JSON: {err}") from None
    found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
    if found != FORMAT:
        raise GristmillError(f"{path}: format is {found!r}, expected {FORMAT!r}")
    for key in ("counts", "shards"):
        if not isinstance(manifest.get(key), dict):
            raise GristmillError(f"{path}: missing the '{key}' section")
    return manifest, raw
