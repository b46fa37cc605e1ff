"""Value checks of a :class:`~mdm.train.config.TrainConfig` (types are checked while building it).

Every number gets a range (NaN and inf fail all of them), every string key its choices, and the loss
section its schedule and order options, so a bad config fails before anything is written.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mdm.errors import ConfigError, ScheduleError
from mdm.limits import check_train_sizes
from mdm.schedules import from_spec
from mdm.train.families import MODEL_FAMILIES
from mdm.train.precision import PRECISIONS

if TYPE_CHECKING:
    from mdm.train.config import TrainConfig

__all__ = ["check_range", "validate"]


_CHOICES = {
    "precision": PRECISIONS,
    "distributed": ("ddp", "fsdp"),
    "device": ("auto", "cpu", "cuda"),
    "loss.normalize": ("tokens", "sequence"),
}


def validate(cfg: TrainConfig) -> None:
    """Raise :class:`~mdm.errors.ConfigError` for a value out of range, an unknown choice, a bad
    schedule spec or family, naming the key."""
    for key, choices in _CHOICES.items():
        value = _get(cfg, key)
        if value not in choices:
            raise ConfigError(f"{key} must be one of {list(choices)}, got {value!r}")
    positive = ("batch_size", "grad_accum", "max_steps", "eval_batches", "eval_samples", "log_every",
                "data.seq_len", "max_nonfinite_steps", "loss.ppots_grid", "loss.ppots_examples",
                "loss.ppots_masks", "loss.ppots_restarts")
    for key in positive:
        if _get(cfg, key) < 1:
            raise ConfigError(f"{key} must be >= 1, got {_get(cfg, key)}")
    for key in ("eval_every", "save_every", "optim.warmup_steps", "loss.weight_clamp"):
        if _get(cfg, key) < 0:
            raise ConfigError(f"{key} must be >= 0 (0 = off), got {_get(cfg, key)}")
    if not 0.0 <= cfg.ema < 1.0:
        raise ConfigError(f"ema is a decay in [0, 1) (0 = off), got {cfg.ema}")
    if cfg.optim.lr <= 0 or cfg.optim.grad_clip < 0 or not 0 <= cfg.optim.min_lr_ratio <= 1:
        raise ConfigError("optim needs lr > 0, grad_clip >= 0 and min_lr_ratio in [0, 1]")
    for key, interval in _RANGES.items():
        check_range(key, _get(cfg, key), interval)
    for key in ("stop_after", "threads", "data.max_chars"):
        if _get(cfg, key) is not None and _get(cfg, key) < 1:
            raise ConfigError(f"{key} must be >= 1 or null, got {_get(cfg, key)}")
    from mdm.order.train import check_loss_config, is_per_position

    try:
        if not is_per_position(cfg.loss.schedule):
            from_spec(cfg.loss.schedule)
    except ScheduleError as e:
        raise ConfigError(f"loss.schedule: {e} (or per-position)") from e
    check_loss_config(cfg.loss, bool(getattr(cfg.model, "time_conditioned", False)))
    MODEL_FAMILIES.get(cfg.model.family)  # unknown family: ConfigError naming the known ones
    check_train_sizes(cfg)  # mdm.limits: int64, threads, memory


# Intervals of the float keys (beyond the checks above); NaN and inf fail every one of them.
_RANGES = {
    "optim.lr": "(0, inf)", "optim.grad_clip": "[0, inf)", "optim.beta1": "[0, 1)", "optim.beta2": "[0, 1)",
    "optim.eps": "[0, inf)", "optim.weight_decay": "[0, inf)", "loss.t_eps": "[0, 1)",
    "data.val_fraction": "(0, 1)",
}


def check_range(key: str, value: float, interval: str) -> None:
    """Raise unless ``value`` is a finite number in ``interval``, written like ``"[0, 1)"``."""
    lo, hi = (float(x) for x in interval[1:-1].split(","))
    ok = value >= lo if interval[0] == "[" else value > lo
    if not (math.isfinite(value) and ok and (value <= hi if interval[-1] == "]" else value < hi)):
        raise ConfigError(f"{key} must be a number in {interval}, got {value}")


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj
