"""Checks every loaded artifact gets, whatever wrote it (an mdm checkpoint or an ``mdm export`` folder).

* :func:`check_config_hash` -- a checkpoint's ``config.json`` must carry its own SHA-256: a file
  without the line is refused like an edited one (deleting the line switched the check off).
* :func:`check_state` -- weights with exactly the model's keys, shapes and dtypes, all finite
  (``load_state_dict`` alone casts dtypes and accepts NaN).
* :func:`check_tokenizer_fits` -- the tokenizer's ``vocab_size`` and ``mask_id`` are the model's.
* :func:`retry_while_written` -- a load that races a save of the same checkpoint waits for the save
  (it retries for a few seconds) and, if it still fails, says the checkpoint is being written
  instead of calling it corrupted.

Each raises :class:`~mdm.errors.CheckpointError` (CLI: one line, exit 2) before a model is returned.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch

from mdm.errors import CheckpointError

__all__ = ["check_config_hash", "check_state", "check_tokenizer_fits", "save_in_progress",
           "retry_while_written"]

T = TypeVar("T")


def check_config_hash(config: dict, cfg_file: Path, expected: str) -> None:
    """``config["config_sha256"]`` must exist and equal ``expected`` (the hash of the rest)."""
    if "config_sha256" not in config:
        raise CheckpointError(f"{cfg_file} has no config_sha256 line, so its content cannot be checked "
                              "(edited, or written by an mdm older than the check): re-save the checkpoint "
                              "from a trusted copy")
    if config["config_sha256"] != expected:
        raise CheckpointError(f"{cfg_file} was modified or corrupted: its content does not match its SHA-256")


def check_state(model: torch.nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Raise unless ``state`` has exactly ``model``'s keys, shapes and dtypes and finite values."""
    own = model.state_dict()
    if set(state) != set(own):
        missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        raise CheckpointError(
            f"checkpoint {path}: weights do not match the model config "
            f"(missing {missing[:5]}, unexpected {extra[:5]})"
        )
    for key, value in state.items():
        want = own[key]
        if value.shape != want.shape or value.dtype != want.dtype:
            raise CheckpointError(
                f"checkpoint {path}: weight {key} is {value.dtype} {tuple(value.shape)}, "
                f"the model config needs {want.dtype} {tuple(want.shape)}"
            )
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"checkpoint {path}: weight {key} holds NaN or inf values")


def check_tokenizer_fits(model, tokenizer, path: str | Path) -> None:
    for attr in ("vocab_size", "mask_id"):
        if getattr(tokenizer, attr, None) != getattr(model, attr, None):
            raise CheckpointError(
                f"checkpoint {path}: the tokenizer's {attr} ({getattr(tokenizer, attr, None)}) does not "
                f"match the model's ({getattr(model, attr, None)}); config.json is damaged"
            )


def save_in_progress(path: str | Path) -> bool:
    """A save of the checkpoint ``path`` is under way: its temporary or set-aside sibling exists
    (:func:`mdm.train.checkpoint.save` writes ``.NAME.tmp-*``, then moves ``NAME`` to ``.NAME.old-*``)."""
    path = Path(path)
    try:
        return any(path.parent.glob(f".{path.name}.tmp-*")) or any(path.parent.glob(f".{path.name}.old-*"))
    except OSError:
        return False


def retry_while_written(load: Callable[[], T], path: str | Path, *, wait_s: float = 5.0) -> T:
    """``load()``; while it fails and a save of ``path`` is in progress, retry (up to ``wait_s``)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return load()
        except CheckpointError as e:
            if not save_in_progress(path):
                raise
            if time.monotonic() > deadline:
                raise CheckpointError(f"checkpoint {path} is being written by a running mdm train (still "
                                      f"after {wait_s:g} s); try again when its save is done ({e})") from e
            time.sleep(0.1)
