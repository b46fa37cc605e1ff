"""Value checks of a :class:`~mdm.train.config.TrainConfig` (types are checked while building it).

Every number gets a range (NaN and inf fail all of them), every string key its choices; the model
section is checked by its family's config class and the loss section by its objective
(:meth:`mdm.train.objective.Objective.check`), so a bad config fails before anything is written.
This module does not import :mod:`mdm.train.config` (which calls it).
"""

from __future__ import annotations

import math
from typing import Any

from mdm.errors import ConfigError
from mdm.limits import check_train_sizes
from mdm.models.families import MODEL_FAMILIES
from mdm.train.families import check_model_section
from mdm.train.objective import OBJECTIVES
from mdm.train.precision import PRECISIONS
from mdm.train.threads import check_threads_setting

__all__ = ["check_range", "validate"]


_CHOICES = {
    "precision": PRECISIONS,
    "distributed": ("ddp", "fsdp"),
    "device": ("auto", "cpu", "cuda"),
}


def validate(cfg: Any) -> None:
    """Raise :class:`~mdm.errors.ConfigError` for a value out of range, an unknown choice, a bad
    schedule spec or family, naming the key."""
    for key, choices in _CHOICES.items():
        value = _get(cfg, key)
        if value not in choices:
            raise ConfigError(f"{key} must be one of {list(choices)}, got {value!r}")
    positive = ("batch_size", "grad_accum", "max_steps", "eval_batches", "eval_samples", "log_every",
                "data.seq_len", "max_nonfinite_steps")
    for key in positive:
        if _get(cfg, key) < 1:
            raise ConfigError(f"{key} must be >= 1, got {_get(cfg, key)}")
    for key in ("eval_every", "save_every", "optim.warmup_steps"):
        if _get(cfg, key) < 0:
            raise ConfigError(f"{key} must be >= 0 (0 = off), got {_get(cfg, key)}")
    if not 0.0 <= cfg.ema < 1.0:
        raise ConfigError(f"ema is a decay in [0, 1) (0 = off), got {cfg.ema}")
    if cfg.optim.lr <= 0 or cfg.optim.grad_clip < 0 or not 0 <= cfg.optim.min_lr_ratio <= 1:
        raise ConfigError("optim needs lr > 0, grad_clip >= 0 and min_lr_ratio in [0, 1]")
    for key, interval in _RANGES.items():
        check_range(key, _get(cfg, key), interval)
    check_threads_setting(cfg.threads)  # an integer >= 1, auto or null
    for key in ("stop_after", "data.max_chars"):
        if _get(cfg, key) is not None and _get(cfg, key) < 1:
            raise ConfigError(f"{key} must be >= 1 or null, got {_get(cfg, key)}")
    family = MODEL_FAMILIES.get(cfg.model.family)  # unknown family: ConfigError naming the known ones
    check_model_section(cfg.model, cfg.data.seq_len)
    if family.objective != "nelbo" and cfg.loss.kind != family.objective:
        raise ConfigError(f"a {cfg.model.family} model trains with loss.kind: {family.objective}, "
                          f"not {cfg.loss.kind!r}")
    OBJECTIVES.get(cfg.loss.kind).check(cfg.loss, cfg)
    check_train_sizes(cfg)  # mdm.limits: int64, threads, memory


# Intervals of the float keys (beyond the checks above); NaN and inf fail every one of them.
_RANGES = {
    "optim.lr": "(0, inf)", "optim.grad_clip": "[0, inf)", "optim.beta1": "[0, 1)", "optim.beta2": "[0, 1)",
    "optim.eps": "[0, inf)", "optim.weight_decay": "[0, inf)",
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
