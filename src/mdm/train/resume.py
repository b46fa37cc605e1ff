"""Resuming a run: which checkpoint to continue, whether it fits this config, and every RNG state.

The loop re-seeds its noise from ``(seed, step, micro-batch)``, so resume is exact without the RNG
states; they are saved and restored for completeness.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mdm.errors import CheckpointError, ConfigError, MDMError
from mdm.train import checkpoint as ckpt
from mdm.train.config import load_config

__all__ = ["resume_source", "check_compatible", "rng_state", "set_rng_state"]


def resume_source(resume, ckpt_dir: Path) -> Path | None:
    """The checkpoint to continue from (``resume`` as :func:`mdm.train.train` takes it), or None."""
    if resume in (False, None):
        return None
    if resume in (True, "auto"):
        if ckpt.is_checkpoint(ckpt_dir):
            return ckpt_dir
        if resume is True:
            raise CheckpointError(f"resume=True but there is no checkpoint at {ckpt_dir}")
        return None
    path = Path(resume)
    if not ckpt.is_checkpoint(path):
        raise CheckpointError(f"cannot resume: {path} is not a checkpoint directory")
    return path


def _sections(d: dict) -> dict:
    """The model, data and loss sections of a training config dict with every default filled in, so
    a config written by an older trainer (no ``model.family``, no ``loss.kind``, fewer keys) compares
    equal to the same config now."""
    try:
        full = load_config(d).to_dict()
    except MDMError:  # not a config this trainer can build: compare what was written
        full = d
    return {"model": full.get("model"), "data": full.get("data"), "loss": full.get("loss")}


def check_compatible(saved: dict | None, cfg, path: Path) -> None:
    """Raise unless a checkpoint saved with the training config ``saved`` can continue as ``cfg``
    (same model, data, loss, seed and batch layout)."""
    if not saved:
        raise CheckpointError(f"checkpoint {path} has no training config; it cannot be resumed")
    now = cfg.to_dict()
    was, is_ = _sections(saved), _sections(now)
    for section in ("model", "data", "loss"):
        if was[section] != is_[section]:
            raise ConfigError(
                f"cannot resume from {path}: its {section} config differs from this run's "
                f"(saved {was[section]}, now {is_[section]})"
            )
    for key in ("seed", "batch_size", "grad_accum"):
        if saved.get(key) != now[key]:
            raise ConfigError(f"cannot resume from {path}: {key} was {saved.get(key)}, now {now[key]}")


def rng_state(gen: torch.Generator) -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "generator": gen.get_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    gen.set_state(state["generator"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, n["pos"], n["has_gauss"], n["cached"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
