"""Writing checkpoint directories: save atomically, recover from a killed save, the trainer state.

The format and every reader live in :mod:`mdm.loading` (``load``, ``read_config``, ``load_weights``, ...;
re-exported here).  A checkpoint is written into a temporary sibling directory and renamed into place,
so a crash never leaves a half-written checkpoint under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch

from mdm.errors import CheckpointError, ScheduleError
from mdm.loading import (
    CONFIG,
    EMA,
    FORMAT,
    MODEL,
    STATE,
    VERSION,
    _sha256,
    attach_schedule,
    build_model,
    carried_schedule,
    check_weights,
    config_hash,
    is_checkpoint,
    load,
    load_into,
    load_weights,
    read_config,
)
from mdm.models.families import config_to_dict, kind_of
from mdm.tokenizers import Tokenizer

__all__ = [
    "save",
    "load",
    "read_config",
    "load_weights",
    "load_trainer_state",
    "is_checkpoint",
    "build_model",
    "check_weights",
    "load_into",
    "recover",
    "recoverable",
    "attach_schedule",
    "FORMAT",
    "VERSION",
    "CONFIG",
    "MODEL",
    "EMA",
    "STATE",
]
_config_hash = config_hash  # the name the damage tests reseal with


def _kind_of(model: torch.nn.Module) -> str:
    kind = kind_of(model)
    if kind is None:
        raise CheckpointError(
            f"cannot checkpoint a {type(model).__name__}: "
            "register its family in mdm.models.families.MODEL_FAMILIES"
        )
    return kind


def _model_entry(model: torch.nn.Module) -> dict[str, Any]:
    entry = {"kind": _kind_of(model), "config": config_to_dict(model.config)}
    with contextlib.suppress(ScheduleError):  # a schedule without a spec: the loader reads the train config
        entry["schedule"] = carried_schedule(model)
    return entry

def _plain_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # Clone so tied weights become independent tensors (safetensors refuses shared storage).
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(
    path: str | Path,
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    *,
    train_config: dict | None = None,
    model_state: dict[str, torch.Tensor] | None = None,
    ema_state: dict[str, torch.Tensor] | None = None,
    trainer_state: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint directory at ``path`` atomically (replacing any previous one).

    ``model_state`` defaults to ``model.state_dict()`` (pass a gathered full state under FSDP).
    ``ema_state`` holds EMA values keyed like the model's state dict (missing keys, e.g. a tied head,
    are filled from the model).  ``metadata`` (step, tokens seen, ...) is stored in config.json.
    """
    from safetensors.torch import save_file

    path = Path(path)
    _kind_of(model)  # fail before writing anything
    state = _plain_state(model.state_dict() if model_state is None else model_state)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.mkdir()
        save_file(state, str(tmp / MODEL), metadata={"format": "pt"})
        if ema_state is not None:
            ema_full = {**state, **_plain_state(ema_state)}
            save_file(ema_full, str(tmp / EMA), metadata={"format": "pt"})
        if trainer_state is not None:
            torch.save(trainer_state, tmp / STATE)
        files = {
            f.name: {"bytes": f.stat().st_size, "sha256": _sha256(f)} for f in sorted(tmp.iterdir())
        }
        config = {
            "format": FORMAT,
            "version": VERSION,
            "model": _model_entry(model),
            "tokenizer": tokenizer.to_dict(),
            "train": train_config,
            "metadata": metadata or {},
            "files": files,
        }
        config["config_sha256"] = config_hash(config)
        with open(tmp / CONFIG, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(tmp)
        old = None
        if path.exists():
            old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(path, old)
        os.rename(tmp, path)
        _fsync_dir(path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _asides(path: Path, kind: str) -> list[Path]:
    return sorted(path.parent.glob(f".{path.name}.{kind}-*"))


def recoverable(path: str | Path) -> bool:
    """True when ``path`` is missing but a save killed between its two renames left it aside."""
    path = Path(path)
    return not path.exists() and any(is_checkpoint(p) for p in _asides(path, "old"))


def recover(path: str | Path) -> None:
    """Undo what a killed :func:`save` left behind (call it holding the run lock, see
    :mod:`mdm.train.lock`): put the previous checkpoint back if the save died between moving it
    aside and moving the new one in, and delete leftover temporary and old directories."""
    path = Path(path)
    olds = [p for p in _asides(path, "old") if is_checkpoint(p)]
    if not path.exists() and olds:
        newest = max(olds, key=lambda p: p.stat().st_mtime)
        os.rename(newest, path)
    for leftover in (*_asides(path, "old"), *_asides(path, "tmp")):
        shutil.rmtree(leftover, ignore_errors=True)


def load_trainer_state(path: str | Path, *, verify: bool = True) -> dict[str, Any]:
    """The trainer state (optimizer, scheduler, RNGs, data position, step) via ``weights_only`` load."""
    path = Path(path)
    config = read_config(path, verify=verify)
    if STATE not in config["files"]:
        raise CheckpointError(f"checkpoint {path} has no trainer state ({STATE}); it cannot be resumed")
    try:
        return torch.load(path / STATE, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors of many kinds
        raise CheckpointError(f"could not read {path / STATE}: {e}") from e
