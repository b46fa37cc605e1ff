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

from mdm.errors import CheckpointError
from mdm.train import checkpoint as ckpt
from mdm.train.compat import check_resume

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


def check_compatible(saved: dict | None, cfg, path: Path, **data) -> None:
    """Raise unless a checkpoint saved with the training config ``saved`` can continue as ``cfg``:
    :func:`mdm.train.compat.check_resume` (``data``: its ``checkpoint=`` / ``fingerprint=``)."""
    check_resume(saved, cfg, path, **data)


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
