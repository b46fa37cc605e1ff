"""Load any mdm artifact -> ``(model, tokenizer)``: a training checkpoint, an exported HF folder, an
AP-MDM checkpoint.  ``mdm.load`` is :func:`load`; nothing here imports the trainer.

A checkpoint is a directory (written by :func:`mdm.train.checkpoint.save`)::

    config.json          format tag, model kind (its family) + config + the schedule it carries,
                         tokenizer, training config, step, and the size and SHA-256 of every other file
    model.safetensors    the trained weights
    ema.safetensors      the EMA of the weights (only when the run keeps one)
    trainer_state.pt     optimizer, LR scheduler, every RNG state, data position, step

:func:`load` reads config.json once, checks sizes and checksums before it builds anything (a missing,
truncated or corrupted file raises :class:`~mdm.errors.CheckpointError` and no model is returned),
and returns the EMA weights when the checkpoint has them (pass ``ema=False`` for the raw weights).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from mdm.checks import check_config_hash, check_state, check_tokenizer_fits
from mdm.errors import CheckpointError, ConfigError, MDMError
from mdm.models.families import build
from mdm.protocol import capability, is_time_conditioned
from mdm.tokenizers import Tokenizer, tokenizer_from_dict

__all__ = ["load", "training_data", "read_config", "load_weights", "is_checkpoint", "check_weights",
           "load_into", "build_model", "carried_schedule", "attach_schedule", "config_hash",
           "FORMAT", "VERSION", "CONFIG", "MODEL", "EMA", "STATE"]

FORMAT = "mdm-checkpoint"
VERSION = 1
CONFIG, MODEL, EMA, STATE = "config.json", "model.safetensors", "ema.safetensors", "trainer_state.pt"
PER_POSITION = "per_position"  # config.json's entry for a learned per-position schedule


def is_checkpoint(path: str | Path) -> bool:
    return (Path(path) / CONFIG).is_file()


def build_model(kind: str, config: dict) -> torch.nn.Module:
    """A freshly initialised model of ``kind`` from its config dict (CheckpointError if unknown)."""
    try:
        return build(kind, config)
    except ConfigError as e:
        if "unknown model family" not in str(e):
            raise
        raise CheckpointError(f"unknown model kind {kind!r} in checkpoint: {e}") from None


# --- the schedule a model carries (DESIGN.md, Denoiser protocol) ----------------------------------------


def carried_schedule(model: torch.nn.Module) -> str | dict | None:
    """What config.json records of the schedule ``model`` carries: ``{"per_position": L}`` for a
    learned per-position schedule (its values are in the weights), a spec for a time-conditioned
    model's ``schedule``, else None."""
    from mdm.schedules import to_spec

    order = getattr(model, "order_schedule", None)
    if order is not None:
        return {PER_POSITION: int(order.length)}
    schedule = capability(model, "schedule")
    return to_spec(schedule) if schedule is not None else None


def attach_schedule(model: torch.nn.Module, entry: str | dict | None, init: float = 1.0) -> None:
    """Give ``model`` the schedule ``entry`` (as :func:`carried_schedule` writes it) describes."""
    if isinstance(entry, dict):
        from mdm.order.schedule import PerPositionSchedule

        model.order_schedule = PerPositionSchedule(int(entry[PER_POSITION]), init=init)
    elif entry is not None:
        from mdm.schedules import from_spec

        model.schedule = from_spec(entry)


def _legacy_schedule(model: torch.nn.Module, train_config: dict | None) -> str | dict | None:
    """The schedule entry of a checkpoint written before config.json recorded it: from its training
    config's ``loss.schedule`` (``per-position`` = a learned one, of length ``data.seq_len``)."""
    loss = (train_config or {}).get("loss") or {}
    spec = loss.get("schedule")
    if isinstance(spec, str) and spec.strip() == "per-position":
        return {PER_POSITION: int(train_config["data"]["seq_len"])}
    return spec if spec and is_time_conditioned(model) else None


# --- reading ---------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def config_hash(config: dict) -> str:
    """SHA-256 of config.json's content without its own hash field (canonical JSON, so it is checkable)."""
    body = {k: v for k, v in config.items() if k != "config_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _parse(path: Path) -> Any:
    cfg_file = path / CONFIG
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a directory")
    if not cfg_file.is_file():
        raise CheckpointError(f"{path} is not a checkpoint: {CONFIG} is missing")
    try:
        return json.loads(cfg_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{cfg_file} is truncated or corrupted (not valid JSON): {e}") from e


def _check(path: Path, config: Any, verify: bool) -> dict[str, Any]:
    cfg_file = path / CONFIG
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
        check_config_hash(config, cfg_file, config_hash(config))  # mdm.checks: a missing hash is refused
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


def read_config(path: str | Path, *, verify: bool = True) -> dict[str, Any]:
    """The checkpoint's config.json, after checking that every listed file is present and intact."""
    path = Path(path)
    return _check(path, _parse(path), verify)


def _weights(path: Path, config: dict, name: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if name not in config["files"]:
        raise CheckpointError(f"checkpoint {path} has no {name}")
    try:
        return load_file(str(path / name))
    except Exception as e:  # safetensors raises SafetensorError / OSError on damage
        raise CheckpointError(f"could not read {path / name}: {e}") from e


def load_weights(path: str | Path, *, ema: bool = False, verify: bool = True) -> dict[str, torch.Tensor]:
    """The model (or EMA) state dict of a checkpoint, read with safetensors (no pickle)."""
    path = Path(path)
    return _weights(path, read_config(path, verify=verify), EMA if ema else MODEL)


def load(
    path: str | Path, *, ema: bool = True, device: str | torch.device = "cpu", verify: bool = True
) -> tuple[torch.nn.Module, Tokenizer]:
    """``(model, tokenizer)`` from a checkpoint directory or a folder written by ``mdm export``; the
    model is in eval mode on ``device``.

    The EMA weights are returned when the checkpoint has them and ``ema`` is True (the default);
    otherwise the raw trained weights.  A time-conditioned model gets ``schedule`` (the one it
    trained with), a learned-order model its per-position ``order_schedule``.  Any damage raises
    :class:`CheckpointError` before a model is built.
    """
    from mdm.models.hf.export import is_export_config, load_export

    path = Path(path)
    parsed = _parse(path)
    if is_export_config(parsed):
        return load_export(path, device=device, config=parsed)
    config = _check(path, parsed, verify)
    state = _weights(path, config, EMA if ema and EMA in config["files"] else MODEL)
    try:
        tokenizer = tokenizer_from_dict(config["tokenizer"])
        model = build_model(config["model"].get("kind", ""), config["model"].get("config"))
        carried = config["model"]["schedule"] if "schedule" in config["model"] else \
            _legacy_schedule(model, config.get("train"))
        attach_schedule(model, carried)
    except CheckpointError:
        raise
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


def training_data(train_config: dict, **options: Any):
    """The dataset (train / validation splits + tokenizer, a :class:`~mdm.tasks.base.DataBundle`) a
    run trained on, rebuilt from its training config dict (``data`` section and ``seed``, as
    config.json saves it); ``options`` are added to the task's."""
    from mdm.tasks.base import build_task

    try:
        data, seed = train_config["data"], train_config["seed"]
        task, seq_len = data["task"], data["seq_len"]
        opts = {key: data[key] for key in _TEXT_KEYS} if task == "text" else {}
        opts.update(data.get("options") or {})
    except (KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"the training config does not say how its data was built ({e!r})") from None
    return build_task(task, seq_len=seq_len, seed=seed, **opts, **options)


_TEXT_KEYS = ("corpus", "tokenizer", "val_fraction", "max_chars")  # the text task's own data keys
