"""Checkpoint directories: save atomically, load without pickle, fail loudly on damage.

A checkpoint is a directory::

    config.json          format tag, model kind (its family) + config, tokenizer, training config, step,
                         and the size and SHA-256 of every other file
    model.safetensors    the trained weights
    ema.safetensors      the EMA of the weights (only when the run keeps one)
    trainer_state.pt     optimizer, LR scheduler, every RNG state, data position, step
                         (plain tensors and numbers; read with ``torch.load(weights_only=True)``)

It is written into a temporary sibling directory and renamed into place, so a crash never leaves a
half-written checkpoint under the final name.  :func:`load` checks sizes and checksums before it
builds anything: a missing, truncated or corrupted file raises :class:`~mdm.errors.CheckpointError`
and no model is returned.  ``load`` returns the EMA weights when the checkpoint has them (the
weights one evaluates and samples with); pass ``ema=False`` for the raw trained weights.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch

from mdm.checks import check_config_hash, check_state, check_tokenizer_fits
from mdm.errors import CheckpointError, ConfigError, MDMError
from mdm.tokenizers import Tokenizer, tokenizer_from_dict
from mdm.train.families import MODEL_FAMILIES, ModelFamily, config_from_dict, config_to_dict

__all__ = [
    "save",
    "load",
    "read_config",
    "load_weights",
    "load_trainer_state",
    "is_checkpoint",
    "register_model_kind",
    "build_model",
    "check_weights",
    "load_into",
    "recover",
    "recoverable",
]

FORMAT = "mdm-checkpoint"
VERSION = 1
CONFIG, MODEL, EMA, STATE = "config.json", "model.safetensors", "ema.safetensors", "trainer_state.pt"

def register_model_kind(kind: str, module: str, config_class: str, model_class: str) -> None:
    """Make checkpoints of another model class loadable: ``model_class(config_class.from_dict(d))``.

    The same as registering a family in :data:`mdm.train.families.MODEL_FAMILIES` (the one registry
    of model kinds), by module and class names.
    """
    mod = importlib.import_module(module)
    MODEL_FAMILIES.register(kind, ModelFamily(getattr(mod, config_class), getattr(mod, model_class)))


def _classes(kind: str) -> ModelFamily:
    try:
        return MODEL_FAMILIES.get(kind)
    except ConfigError as e:
        raise CheckpointError(f"unknown model kind {kind!r} in checkpoint: {e}") from None


def _kind_of(model: torch.nn.Module) -> str:
    for kind, family in MODEL_FAMILIES.items():
        if isinstance(model, family.model):  # FSDP2 subclasses the model's class in place
            return kind
    raise CheckpointError(
        f"cannot checkpoint a {type(model).__name__}: "
        "register its family in mdm.train.families.MODEL_FAMILIES"
    )


def build_model(kind: str, config: dict) -> torch.nn.Module:
    """A freshly initialised model of ``kind`` from its config dict."""
    family = _classes(kind)
    return family.model(config_from_dict(family.config, config))


def _training_schedule(model: torch.nn.Module, train_config: dict | None) -> None:
    """A time-conditioned model carries the schedule it trained with (DESIGN.md, Denoiser protocol)."""
    loss = (train_config or {}).get("loss") or {}
    spec = loss.get("schedule")
    from mdm.order.train import attach, is_per_position

    if is_per_position(spec):  # a learned per-position schedule lives in the weights
        attach(model, loss, int(train_config["data"]["seq_len"]))
        return
    if getattr(model, "time_conditioned", False) and spec:
        from mdm.schedules import from_spec

        model.schedule = from_spec(spec)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
    kind = _kind_of(model)
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
            "model": {"kind": kind, "config": config_to_dict(model.config)},
            "tokenizer": tokenizer.to_dict(),
            "train": train_config,
            "metadata": metadata or {},
            "files": files,
        }
        config["config_sha256"] = _config_hash(config)
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


def _config_hash(config: dict) -> str:
    """SHA-256 of config.json's content without its own hash field (canonical JSON, so it is checkable)."""
    body = {k: v for k, v in config.items() if k != "config_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


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


def is_checkpoint(path: str | Path) -> bool:
    return (Path(path) / CONFIG).is_file()


def read_config(path: str | Path, *, verify: bool = True) -> dict[str, Any]:
    """The checkpoint's config.json, after checking that every listed file is present and intact."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a directory")
    cfg_file = path / CONFIG
    if not cfg_file.is_file():
        raise CheckpointError(f"{path} is not a checkpoint: {CONFIG} is missing")
    try:
        config = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{cfg_file} is truncated or corrupted (not valid JSON): {e}") from e
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{cfg_file} is not an mdm checkpoint config (format tag missing)")
    version = config.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is newer than this mdm reads ({VERSION}); "
            "upgrade mdm to load it"
        )
    if version != VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {version!r} is not supported ({VERSION})")
    if verify:
        check_config_hash(config, cfg_file, _config_hash(config))  # mdm.checks: a missing hash is refused
    for key in ("model", "tokenizer", "files"):
        if not isinstance(config.get(key), dict):
            raise CheckpointError(f"{cfg_file} is corrupted: its {key!r} entry is missing")
    if MODEL not in config["files"]:
        raise CheckpointError(f"{cfg_file} is corrupted: it lists no {MODEL}")
    for name, info in config["files"].items():
        if not isinstance(info, dict) or "/" in name or "\\" in name or name.startswith("."):
            raise CheckpointError(f"{cfg_file} is corrupted: bad file entry {name!r}")
        f = path / name
        if not f.is_file():
            raise CheckpointError(f"checkpoint {path} is incomplete: {name} is missing")
        size = f.stat().st_size
        if size != info.get("bytes"):
            raise CheckpointError(
                f"checkpoint file {f} is truncated or was modified: {size} bytes, "
                f"expected {info.get('bytes')}"
            )
        if verify and _sha256(f) != info.get("sha256"):
            raise CheckpointError(f"checkpoint file {f} is corrupted: its SHA-256 does not match config.json")
    return config


def load_weights(path: str | Path, *, ema: bool = False, verify: bool = True) -> dict[str, torch.Tensor]:
    """The model (or EMA) state dict of a checkpoint, read with safetensors (no pickle)."""
    from safetensors.torch import load_file

    path = Path(path)
    config = read_config(path, verify=verify)
    name = EMA if ema else MODEL
    if name not in config["files"]:
        raise CheckpointError(f"checkpoint {path} has no {name}")
    try:
        return load_file(str(path / name))
    except Exception as e:  # safetensors raises SafetensorError / OSError on damage
        raise CheckpointError(f"could not read {path / name}: {e}") from e


def load(
    path: str | Path, *, ema: bool = True, device: str | torch.device = "cpu", verify: bool = True
) -> tuple[torch.nn.Module, Tokenizer]:
    """``(model, tokenizer)`` from a checkpoint directory; the model is in eval mode on ``device``.

    The EMA weights are returned when the checkpoint has them and ``ema`` is True (the default);
    otherwise the raw trained weights.  A time-conditioned model gets ``schedule``: the
    ``loss.schedule`` of its stored training config.  Any damage raises :class:`CheckpointError`
    before a model is built.  A folder written by ``mdm export`` (a Hugging Face model) loads too.
    """
    from mdm.models.hf.export import is_export, load_export

    path = Path(path)
    if is_export(path):
        return load_export(path, device=device)
    config = read_config(path, verify=verify)
    use_ema = ema and EMA in config["files"]
    state = load_weights(path, ema=use_ema, verify=False)
    try:
        tokenizer = tokenizer_from_dict(config["tokenizer"])
        model = build_model(config["model"].get("kind", ""), config["model"].get("config"))
        _training_schedule(model, config.get("train"))
    except (MDMError, TypeError, KeyError, AttributeError) as e:  # a damaged but parseable config.json
        raise CheckpointError(
            f"checkpoint {path}: cannot rebuild the model/tokenizer from config.json: {e}"
        ) from e
    check_tokenizer_fits(model, tokenizer, path)  # mdm.checks
    load_into(model, state, path)
    return model.to(device).eval(), tokenizer


def check_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Raise :class:`CheckpointError` unless ``state`` has exactly ``model``'s keys, shapes and dtypes
    and only finite values (``load_state_dict`` alone would cast dtypes and accept NaN silently)."""
    check_state(model, state, path)  # mdm.checks: the same check for exported folders


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """``model.load_state_dict(state)`` after :func:`check_weights`."""
    check_weights(model, state, path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:  # pragma: no cover - check_weights catches what this would
        raise CheckpointError(f"checkpoint {path}: weights do not fit the model config: {e}") from e


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
