"""Training with a learnable per-position schedule: ``loss.schedule: per-position`` in the YAML.

The schedule (:class:`~mdm.order.PerPositionSchedule`) is attached to the model as the submodule
``order_schedule``, so its ``theta`` is in the optimizer, in every checkpoint's weights (resume is
exact) and in the EMA, and :func:`mdm.load` rebuilds it from the stored training config.  The
loss is :func:`mdm.order.rloo.order_loss`: ``loss.order_draws`` (t, mask) draws per example and
the RLOO score-function term for ``w`` (``loss.order_estimator: rloo``; ``pathwise`` drops it, to
measure what that bias does).  Its times come from :class:`mdm.order.times.PowerTime`
(``loss.order_times: power``, unbiased with finite variance for every ``w``); ``shared`` keeps the
trainer's ``loss.time_sampler`` on ``[t_eps, 1 - t_eps]``, which under-scores small ``w``.
"""

from __future__ import annotations

import functools

import torch

from mdm.errors import ConfigError
from mdm.losses import diffusion_loss
from mdm.order.rloo import ESTIMATORS, order_loss
from mdm.order.schedule import PerPositionSchedule
from mdm.order.times import PowerTime

__all__ = ["PER_POSITION", "is_per_position", "check_loss_config", "attach", "training_schedule",
           "training_loss", "training_time_sampler", "log_fields"]

PER_POSITION = "per-position"
ORDER_TIMES = ("power", "shared")


def is_per_position(spec) -> bool:
    return isinstance(spec, str) and spec.strip() == PER_POSITION


def check_loss_config(loss, time_conditioned: bool) -> None:
    """Raise :class:`ConfigError` for order options that cannot work."""
    if not is_per_position(loss.schedule):
        return
    if time_conditioned:
        raise ConfigError("loss.schedule: per-position needs model.time_conditioned: false (one t does "
                          "not name a masking level when every position has its own schedule)")
    if loss.order_draws < 2:
        raise ConfigError(f"loss.order_draws must be >= 2 (RLOO leaves one out), got {loss.order_draws}")
    if loss.order_estimator not in ESTIMATORS:
        raise ConfigError(f"loss.order_estimator must be one of {list(ESTIMATORS)}, "
                          f"got {loss.order_estimator!r}")
    if loss.order_times not in ORDER_TIMES:
        raise ConfigError(f"loss.order_times must be one of {list(ORDER_TIMES)}, got {loss.order_times!r}")
    if loss.order_init <= 0 or (loss.order_lr is not None and loss.order_lr <= 0):
        raise ConfigError("loss.order_init and loss.order_lr must be > 0")


def attach(model: torch.nn.Module, loss: dict | object, length: int) -> None:
    """Give ``model`` its ``order_schedule`` when the loss config asks for ``per-position``."""
    get = loss.get if isinstance(loss, dict) else functools.partial(getattr, loss)
    if not is_per_position(get("schedule", None)):
        return
    model.order_schedule = PerPositionSchedule(length, init=float(get("order_init", 1.0)))
    # read by mdm.train.optim.build_optimizer: the schedule's own learning rate
    model.order_schedule.lr = get("order_lr", None)


def training_schedule(model, default):
    """The schedule the loss uses: the model's ``order_schedule`` if it has one, else ``default``."""
    return getattr(model, "order_schedule", None) or default


def training_time_sampler(model, loss_cfg, default):
    """:class:`PowerTime` on the model's per-position schedule (``loss.order_times: power``), else
    ``default`` (the trainer's ``loss.time_sampler``)."""
    sched = getattr(model, "order_schedule", None)
    if sched is None or loss_cfg.order_times == "shared":
        return default
    return PowerTime(sched)


def training_loss(loss_cfg):
    """:func:`mdm.losses.diffusion_loss`, or the RLOO order loss for a per-position schedule."""
    if not is_per_position(loss_cfg.schedule):
        return diffusion_loss
    return functools.partial(order_loss, draws=loss_cfg.order_draws, estimator=loss_cfg.order_estimator)


def log_fields(model) -> dict:
    """Extra numbers for the training log: the current ``w`` (for plots of w over training)."""
    sched = getattr(model, "order_schedule", None)
    return {} if sched is None else {"order_w": [round(float(v), 5) for v in sched.w.detach()]}
