"""The train/validation split of a dataset's documents: a hash of each id, so it needs no state and no shuffle."""

from __future__ import annotations

import xxhash

from gristmill.errors import GristmillError


def val_threshold(val_fraction: float) -> int:
    """Documents whose xxh64(id) is below this integer form the validation split."""
    if not 0.0 <= val_fraction < 1.0:
        raise GristmillError(f"val_fraction must be in [0, 1), got {val_fraction}")
    return int(val_fraction * (1 << 64))


SPLIT_RULE = "xxh64(id as UTF-8, seed=0).intdigest() < int(val_fraction * 2**64) -> val, else train"


def is_val(doc_id: str, threshold: int) -> bool:
    return xxhash.xxh64_intdigest(doc_id.encode("utf-8")) < threshold
