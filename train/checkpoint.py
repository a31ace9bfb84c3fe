"""Atomic checkpoints that load without running code.

A checkpoint is written with `gristmill.files.atomic_write` (a temporary file in the same directory,
renamed over its final name), synced before the rename, so a crash leaves either the old file or the
new one, never half of one (the next save removes such a crash's temporary file). Loading uses
`torch.load(weights_only=True)`, which only rebuilds tensors and plain containers and refuses any
pickle that asks to call a function (the classic `__reduce__` payload).
"""

from __future__ import annotations

import os
import pickle
import random
import re
from pathlib import Path

import numpy as np
import torch

from gristmill.errors import GristmillError
from gristmill.files import TEMP_SUFFIX, atomic_write

NAME = re.compile(r"^step-(\d{8})\.pt$")
TEMP = re.compile(r"^step-\d{8}\.pt" + re.escape(TEMP_SUFFIX) + "$")


def path_for(directory: Path, step: int) -> Path:
    return directory / f"step-{step:08d}.pt"


def save(directory: Path, step: int, state: dict, keep: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    final = path_for(directory, step)

    def write(handle) -> None:
        torch.save(state, handle)
        handle.flush()
        os.fsync(handle.fileno())

    atomic_write(final, write)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    for old in all_checkpoints(directory)[:-keep]:
        old.unlink()
    # Temporary files of writes that crashed before their rename (only one writer per run directory).
    for stale in directory.iterdir():
        if TEMP.match(stale.name):
            stale.unlink(missing_ok=True)
    return final


def all_checkpoints(directory: Path) -> list[Path]:
    """Checkpoints in step order (temporary files of interrupted writes are ignored)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if NAME.match(p.name))


def latest(directory: Path) -> Path | None:
    found = all_checkpoints(directory)
    return found[-1] if found else None


def load(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first_line = str(err).strip().splitlines()[0]
        raise GristmillError(f"{path}: refused, not a plain tensor checkpoint ({first_line})") from None
    except (RuntimeError, EOFError, OSError) as err:
        raise GristmillError(f"{path}: cannot read checkpoint: {err}") from None


def restore(directory: Path, model, optimizer, scheduler, rank: int = 0) -> dict:
    """`--resume`: the latest checkpoint in `directory` loaded into model, optimizer, scheduler and
    this rank's random state; returns it (for its step and any other state)."""
    found = latest(directory)
    if found is None:
        raise GristmillError(f"--resume: no checkpoint in {directory}")
    state = load(found)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    rng = state["rng"]
    set_rng_state(rng[rank] if rank < len(rng) else rng[0])
    return state


def rng_state() -> dict:
    """The random states of python, numpy, torch and CUDA, as types `weights_only` loading accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos, "has_gauss": has_gauss, "gauss": gauss},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def resolve(path: str | Path) -> Path:
    """A checkpoint file as given, or the latest checkpoint of a train run directory (or of its checkpoints/)."""
    path = Path(path)
    if path.is_file():
        return path
    for directory in (path / "checkpoints", path):
        found = latest(directory)
        if found is not None:
            return found
    raise GristmillError(f"{path}: no checkpoint (a step-NNNNNNNN.pt file, or a train run directory holding checkpoints/)")


def load_model(path: str | Path, device: str | torch.device = "cpu"):
    """The GPT of a checkpoint (file or run directory), in eval mode, and the checkpoint's state."""
    from train.model import GPT, GPTConfig

    found = resolve(path)
    state = load(found)
    if "model_config" not in state or "model" not in state:
        raise GristmillError(f"{found}: not a gristmill training checkpoint (no model_config / model)")
    model = GPT(GPTConfig(**state["model_config"]))
    model.load_state_dict(state["model"])
    state["path"] = str(found)
    return model.to(device).eval(), state


def init_weights(model, path: str | Path) -> Path:
    """Copy a checkpoint's weights into `model` (`init_from`): same architecture; seq_len may differ (RoPE has no weights)."""
    found = resolve(path)
    state = load(found)
    theirs = dict(state.get("model_config") or {})
    ours = model.cfg.to_dict()
    differ = sorted(k for k in ours.keys() | theirs.keys() if k != "seq_len" and ours.get(k) != theirs.get(k))
    if differ:
        shown = ", ".join(f"{k}: {theirs.get(k)!r} there, {ours.get(k)!r} here" for k in differ)
        raise GristmillError(f"init_from {found}: another model shape ({shown})")
    model.load_state_dict(state["model"])
    return found
