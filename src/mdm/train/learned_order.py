"""The ``learned-order`` objective: the NELBO under a learnable per-position schedule (Garg, Kohli,
Sarawagi, arXiv 2511.19152), ``loss: {kind: learned-order}`` in the YAML (configs written before
``loss.kind`` say ``loss.schedule: per-position``; :func:`mdm.train.objective.upgrade_config` maps them).

The schedule (:class:`~mdm.order.PerPositionSchedule`, starting at ``w = init``) is attached to the
model as the submodule ``order_schedule``, so its ``theta`` is in every checkpoint's weights (resume is
exact) and in the EMA, and :func:`mdm.load` rebuilds it.  It trains in its own optimizer group at
learning rate ``lr`` (default ``optim.lr``), without weight decay.  The loss is
:func:`mdm.order.rloo.order_loss`: ``draws`` (t, mask) draws per example and the RLOO score-function
term for ``w`` (``estimator: rloo``; ``pathwise`` drops it, to measure what that bias does).  Its times
come from :class:`mdm.order.times.PowerTime` (``times: power``, unbiased with finite variance for every
``w``); ``shared`` keeps the NELBO's ``time_sampler`` on ``[t_eps, 1 - t_eps]``, which under-scores
small ``w``.  Validation reports the NELBO under the current schedule; the log rows carry ``order_w``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mdm.errors import ConfigError
from mdm.loading import attach_schedule
from mdm.order.rloo import ESTIMATORS, order_loss
from mdm.order.times import PowerTime
from mdm.train.nelbo import Nelbo, SamplerOptions, check_sampler_options
from mdm.train.objective import OBJECTIVES

__all__ = ["LearnedOrderOptions", "LearnedOrder", "ORDER_TIMES"]

ORDER_TIMES = ("power", "shared")


@dataclass
class LearnedOrderOptions(SamplerOptions):
    """The sampler options of the NELBO plus the schedule's own."""

    init: float = 1.0
    draws: int = 4
    estimator: str = "rloo"
    lr: float | None = None
    times: str = "power"


class LearnedOrder(Nelbo):
    """:class:`~mdm.train.nelbo.Nelbo` with the model's learned per-position schedule, the RLOO order
    loss and its own parameter group."""

    Config = LearnedOrderOptions

    @classmethod
    def check(cls, config, train_config) -> None:
        check_sampler_options(config)
        if getattr(train_config.model, "time_conditioned", False):
            raise ConfigError("loss.kind: learned-order needs model.time_conditioned: false (one t does "
                              "not name a masking level when every position has its own schedule)")
        if config.draws < 2:
            raise ConfigError(f"loss.draws must be >= 2 (RLOO leaves one out), got {config.draws}")
        if config.estimator not in ESTIMATORS:
            raise ConfigError(f"loss.estimator must be one of {list(ESTIMATORS)}, got {config.estimator!r}")
        if config.times not in ORDER_TIMES:
            raise ConfigError(f"loss.times must be one of {list(ORDER_TIMES)}, got {config.times!r}")
        if not config.init > 0 or (config.lr is not None and not config.lr > 0):
            raise ConfigError("loss.init and loss.lr must be > 0")

    def prepare_model(self, model, seq_len: int) -> None:
        attach_schedule(model, {"per_position": seq_len}, init=float(self.config.init))

    def training_schedule(self, model):
        return model.order_schedule

    def base_time_sampler(self, model):
        if self.config.times == "shared":
            return super().base_time_sampler(model)
        return PowerTime(model.order_schedule)

    def param_groups(self, model) -> list[dict[str, Any]]:
        group = {"params": list(model.order_schedule.parameters()), "weight_decay": 0.0}
        if self.config.lr is not None:
            group["lr"] = self.config.lr
        return [group]

    def loss(self, model, batch, generator):
        return order_loss(
            model, batch["input_ids"], self.schedule, draws=self.config.draws,
            estimator=self.config.estimator, eligible=batch["eligible"],
            attention_mask=batch.get("attention_mask"), time_sampler=self.time_sampler,
            mask_sampler=self.mask_sampler, normalize=self.config.normalize, generator=generator,
            masked_logits_only=self.config.masked_logits_only,
        )

    def log_fields(self, model) -> dict[str, Any]:
        return {"order_w": [round(float(v), 5) for v in model.order_schedule.w.detach()]}


OBJECTIVES.register("learned-order", LearnedOrder)
