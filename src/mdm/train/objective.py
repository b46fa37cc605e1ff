"""The training objective: one seam between the trainer and what it minimises.

An :class:`Objective` owns its loss, the parameters it adds to the model (and their optimizer group),
its calibration before step 1 (P-POTS fitting), its validation metric, its log fields and its
checkpoint state.  A training config names one in ``loss.kind``; the rest of the ``loss`` section is
that objective's own typed ``Config``.  The trainer (:mod:`mdm.train.loop`), validation and the CLI
only call these methods.  Built in:

* ``nelbo`` -- the masked-diffusion NELBO with its time / mask samplers (:mod:`mdm.train.nelbo`);
* ``bd3lm`` -- the block diffusion NELBO of a block-causal model (:mod:`mdm.train.nelbo`);
* ``learned-order`` -- the NELBO under a learned per-position schedule (:mod:`mdm.train.learned_order`);
* ``ap-mdm`` -- AP-MDM's loss on solver transitions (:mod:`mdm.train.anyprocess`);
* ``diffu-grpo``, ``spg`` -- RL fine-tuning on verifiable rewards (:mod:`mdm.rl.objectives`).

Add your own with one class and one registration, no edit to the trainer::

    @dataclass
    class MyOptions:
        weight: float = 1.0

    class Mine(Objective):
        Config = MyOptions
        def loss(self, model, batch, generator): ...   # -> .loss, .per_sample, .num_eligible

    OBJECTIVES.register("mine", Mine)                  # loss: {kind: mine, weight: 2.0}

Configs written before ``loss.kind`` existed are mapped in :func:`upgrade_config` (the one place).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import torch

from mdm.errors import ConfigError
from mdm.registry import Registry

__all__ = ["Objective", "OBJECTIVES", "objective_for", "loss_section_class", "upgrade_config"]


class Objective:
    """One training objective.  ``config``: its ``loss`` section; ``train_config``: the whole
    :class:`~mdm.train.config.TrainConfig`.  Override :meth:`loss`; the rest has defaults."""

    Config: ClassVar[type]  # dataclass of the loss section's keys (``kind`` is added)

    def __init__(self, config, train_config) -> None:
        self.config, self.train_config = config, train_config

    @classmethod
    def check(cls, config, train_config) -> None:
        """Raise :class:`ConfigError` for values (or a model) this objective cannot train with."""

    def prepare_model(self, model: torch.nn.Module, seq_len: int) -> None:
        """Attach what the model carries for this objective (a schedule, extra parameters)."""

    def bind(self, model: torch.nn.Module) -> None:
        """Build what the loss needs from the model about to be trained (before wrapping)."""

    def param_groups(self, model: torch.nn.Module) -> list[dict[str, Any]]:
        """Optimizer groups of the parameters this objective added (``{"params": [...], "lr": ...}``);
        every other parameter goes into the trainer's own groups."""
        return []

    def calibrate(self, model, bundle, state: dict | None, device, out: Path | None) -> None:
        """Before step 1: fit what must be fitted with the model (``state``: this objective's
        checkpoint state on resume, to load instead).  ``out``: the run folder (main process)."""

    def state_dict(self) -> dict | None:
        """What a checkpoint keeps of this objective (restored through :meth:`calibrate`)."""
        return None

    def loss(self, model, batch: dict[str, torch.Tensor], generator: torch.Generator):
        """``output`` with ``loss`` (scalar to minimise), ``per_sample`` [B] and ``num_eligible``."""
        raise NotImplementedError

    def val_loss(self, model, batch: dict[str, torch.Tensor], generator: torch.Generator):
        """The validation loss on ``batch`` (default: the training loss)."""
        return self.loss(model, batch, generator)

    def val_row(self, nats: float, bundle) -> dict[str, float]:
        """Validation metrics from the summed ``per_sample`` over the summed ``num_eligible``."""
        return {"val_loss_per_position": nats}

    def log_fields(self, model: torch.nn.Module) -> dict[str, Any]:
        """Extra numbers for each training log row."""
        return {}

    def val_summary(self, row: dict[str, Any]) -> str:
        """The validation numbers of ``row`` (from :meth:`val_row`) for a person, e.g. in ``mdm train``'s
        last line."""
        return ", ".join(f"{k[len('val_'):]} {v:.4f}" for k, v in row.items()
                         if k.startswith("val_") and isinstance(v, float))


OBJECTIVES: Registry[type[Objective]] = Registry("loss.kind", ConfigError, lazy={
    "nelbo": "mdm.train.nelbo", "bd3lm": "mdm.train.nelbo", "learned-order": "mdm.train.learned_order",
    "ap-mdm": "mdm.train.anyprocess", "diffu-grpo": "mdm.rl.objectives", "spg": "mdm.rl.objectives",
})
_SECTIONS: dict[tuple[str, type], type] = {}


def loss_section_class(kind: str) -> type:
    """The dataclass a ``loss`` section of ``kind`` is built into: the objective's ``Config`` plus
    ``kind``."""
    cls = OBJECTIVES.get(kind)
    options = getattr(cls, "Config", None)
    if options is None or not dataclasses.is_dataclass(options):
        raise ConfigError(f"objective {kind!r} must declare Config, a dataclass of its loss keys")
    if (kind, options) not in _SECTIONS:
        _SECTIONS[(kind, options)] = dataclasses.make_dataclass(
            f"{options.__name__}Section", [("kind", str, dataclasses.field(default=kind))], bases=(options,))
    return _SECTIONS[(kind, options)]


def objective_for(train_config) -> Objective:
    """The objective a training config names, built on its loss section."""
    return OBJECTIVES.get(train_config.loss.kind)(train_config.loss, train_config)


# --- configs written before loss.kind ------------------------------------------------------------------

_LEGACY_NELBO = ("schedule", "time_sampler", "t_eps", "mask_sampler", "normalize", "masked_logits_only",
                 "weight_clamp", "ppots_grid", "ppots_examples", "ppots_masks", "ppots_restarts")
_LEGACY_ORDER = ("order_init", "order_draws", "order_estimator", "order_lr", "order_times")


def upgrade_config(d: dict) -> dict:
    """Give a training config dict's ``loss`` section its ``kind`` when it names none -- the one place
    old configs and checkpoints are mapped:

    * ``schedule: per-position`` -> ``learned-order``, its ``order_X`` keys renamed ``X``;
    * otherwise the model family's objective (``ap-mdm`` for ``anyprocess``, whose old sections the
      trainer ignored), ``bd3lm`` for a block-causal model (``model.block_size``), else ``nelbo``;
      the ``order_*`` keys an old trainer wrote with every config are dropped.
    """
    loss = d.get("loss", {})
    if loss is None:
        loss = {}
    if not isinstance(loss, dict) or "kind" in loss:
        return d
    loss = dict(loss)
    model = d.get("model") if isinstance(d.get("model"), dict) else {}
    spec = loss.get("schedule")
    if isinstance(spec, str) and spec.strip() == "per-position":
        del loss["schedule"]
        loss = {(k[len("order_"):] if k in _LEGACY_ORDER else k): v for k, v in loss.items()}
        kind = "learned-order"
    else:
        from mdm.models.families import MODEL_FAMILIES

        loss = {k: v for k, v in loss.items() if k not in _LEGACY_ORDER}
        family = model.get("family", "transformer")
        kind = MODEL_FAMILIES.get(family).objective if isinstance(family, str) else "nelbo"
        if kind == "nelbo" and model.get("block_size") is not None:
            kind = "bd3lm"
        elif kind != "nelbo":
            loss = {k: v for k, v in loss.items() if k not in _LEGACY_NELBO}
    return {**d, "loss": {"kind": kind, **loss}}
