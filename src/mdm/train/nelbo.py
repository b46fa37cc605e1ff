"""The NELBO objectives: ``loss.kind: nelbo`` (MDLM / MD4's masked-diffusion NELBO,
:func:`mdm.losses.diffusion_loss`) and ``loss.kind: bd3lm`` (the same loss on a block-causal model:
the block diffusion NELBO of BD3-LM, whose equation is in :mod:`mdm.models.block_causal`).

Their section's keys (:class:`NelboOptions`): ``schedule`` -- a :func:`mdm.schedules.from_spec` spec;
``time_sampler`` -- a name in :data:`TIME_SAMPLERS` (uniform, antithetic, stratified, ppots) drawing
``t`` on ``[t_eps, 1 - t_eps]``; ``mask_sampler`` -- one in :data:`MASK_SAMPLERS` (bernoulli, mirror,
mirror-independent); ``normalize`` (tokens or sequence); ``masked_logits_only``; ``weight_clamp`` > 0
caps the importance weights (biased; 0 = off).  P-POTS (Jia et al., arXiv 2511.18159) is fitted before
step 1 on ``ppots_examples`` training examples x ``ppots_masks`` masks at ``ppots_grid`` times,
``ppots_restarts`` L-BFGS-B starts (:meth:`mdm.variance.PPOTS.calibrate`); the fit is the objective's
checkpoint state (a resumed run samples the same p(t)) and is also written to ``ppots.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdm.errors import ConfigError, ScheduleError
from mdm.losses import diffusion_loss
from mdm.masking import (
    AntitheticTime,
    BernoulliMask,
    ClampedWeights,
    MirrorIndependentMask,
    MirrorMask,
    StratifiedTime,
    UniformTime,
)
from mdm.protocol import is_time_conditioned
from mdm.registry import Registry
from mdm.schedules import from_spec
from mdm.tasks.base import collate
from mdm.train.config_checks import check_range
from mdm.train.objective import OBJECTIVES, Objective
from mdm.variance import PPOTS

__all__ = ["TIME_SAMPLERS", "MASK_SAMPLERS", "SamplerOptions", "NelboOptions", "Nelbo", "BD3LM",
           "PPOTS_FILE"]

# Add your own sampler here and name it in the config (loss.time_sampler / loss.mask_sampler).
TIME_SAMPLERS: Registry[Any] = Registry("loss.time_sampler", ConfigError, entries={
    "uniform": UniformTime, "antithetic": AntitheticTime, "stratified": StratifiedTime, "ppots": PPOTS,
})
MASK_SAMPLERS: Registry[Any] = Registry("loss.mask_sampler", ConfigError, entries={
    "bernoulli": BernoulliMask, "mirror": MirrorMask, "mirror-independent": MirrorIndependentMask,
})
PPOTS_FILE = "ppots.json"
NORMALIZE = ("tokens", "sequence")


@dataclass
class SamplerOptions:
    """How a NELBO estimate draws its times and masks (shared by the NELBO objectives)."""

    time_sampler: str = "antithetic"
    t_eps: float = 1e-3
    mask_sampler: str = "bernoulli"
    normalize: str = "tokens"
    masked_logits_only: bool = True
    weight_clamp: float = 0.0
    ppots_grid: int = 70
    ppots_examples: int = 12
    ppots_masks: int = 12
    ppots_restarts: int = 20


@dataclass
class NelboOptions(SamplerOptions):
    """The NELBO's section: the sampler options and the ``schedule`` it trains with."""

    schedule: str = "linear"


def check_sampler_options(o: SamplerOptions) -> None:
    if o.normalize not in NORMALIZE:
        raise ConfigError(f"loss.normalize must be one of {list(NORMALIZE)}, got {o.normalize!r}")
    for key in ("ppots_grid", "ppots_examples", "ppots_masks", "ppots_restarts"):
        if getattr(o, key) < 1:
            raise ConfigError(f"loss.{key} must be >= 1, got {getattr(o, key)}")
    if not (o.weight_clamp >= 0 and math.isfinite(o.weight_clamp)):
        raise ConfigError(f"loss.weight_clamp must be >= 0 (0 = off), got {o.weight_clamp}")
    check_range("loss.t_eps", o.t_eps, "[0, 1)")


class Nelbo(Objective):
    """The masked-diffusion NELBO (:func:`mdm.losses.diffusion_loss`); validation reports it in
    nats and bits per token (and per character for text)."""

    Config = NelboOptions

    @classmethod
    def check(cls, config, train_config) -> None:
        if getattr(train_config.model, "block_size", None) is not None:
            raise ConfigError("a block-causal model (model.block_size set) trains with loss.kind: bd3lm")
        cls.check_options(config)

    @staticmethod
    def check_options(config) -> None:
        check_sampler_options(config)
        try:
            from_spec(config.schedule)
        except ScheduleError as e:
            raise ConfigError(f"loss.schedule: {e} (or loss.kind: learned-order)") from e

    def prepare_model(self, model, seq_len: int) -> None:
        # a time-conditioned model carries the schedule it trains with (DESIGN.md, Denoiser protocol)
        if is_time_conditioned(model):
            model.schedule = from_spec(self.config.schedule)

    def training_schedule(self, model):
        return from_spec(self.config.schedule)

    def base_time_sampler(self, model):
        return TIME_SAMPLERS.get(self.config.time_sampler)(eps=self.config.t_eps)

    def bind(self, model) -> None:
        c = self.config
        sampler = self.base_time_sampler(model)
        self.time_sampler = ClampedWeights(sampler, c.weight_clamp) if c.weight_clamp > 0 else sampler
        self.schedule = self.training_schedule(model)
        self.mask_sampler = MASK_SAMPLERS.get(c.mask_sampler)()

    def _nelbo(self, model, batch, generator, normalize: str):
        return diffusion_loss(
            model, batch["input_ids"], schedule=self.schedule, eligible=batch["eligible"],
            attention_mask=batch.get("attention_mask"), time_sampler=self.time_sampler,
            mask_sampler=self.mask_sampler, normalize=normalize, generator=generator,
            masked_logits_only=self.config.masked_logits_only,
        )

    def loss(self, model, batch, generator):
        return self._nelbo(model, batch, generator, self.config.normalize)

    def val_loss(self, model, batch, generator):
        return self._nelbo(model, batch, generator, "tokens")

    def val_row(self, nats: float, bundle) -> dict[str, float]:
        row = {"val_nelbo_nats_per_token": nats, "val_bits_per_token": nats / math.log(2)}
        if bundle.chars_per_token:
            row["val_bits_per_char"] = nats / math.log(2) / bundle.chars_per_token
        return row

    def val_summary(self, row) -> str:
        s = f"NELBO {row['val_bits_per_token']:.4f} bits/token"
        return s + (f", {row['val_bits_per_char']:.4f} bits/char" if "val_bits_per_char" in row else "")

    # --- P-POTS: fitted with the model before step 1, kept in the checkpoint ----------------------

    def _calibratable(self):
        inner = getattr(self.time_sampler, "sampler", self.time_sampler)
        return inner if hasattr(inner, "calibrate") else None

    def calibrate(self, model, bundle, state: dict | None, device, out: Path | None) -> None:
        inner = self._calibratable()
        if inner is None:
            return
        if state is not None:
            inner.load_state_dict(state)
            return
        c = self.config
        n = min(c.ppots_examples, len(bundle.train))
        batch = collate([bundle.train[i] for i in range(n)])
        was_training = model.training
        model.eval()
        inner.calibrate(model, batch["input_ids"].to(device), eligible=batch["eligible"].to(device),
                        grid=c.ppots_grid, n_examples=n, n_masks=c.ppots_masks,
                        seed=self.train_config.seed, restarts=c.ppots_restarts, schedule=self.schedule)
        model.train(was_training)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / PPOTS_FILE).write_text(json.dumps(inner.state_dict(), indent=1), encoding="utf-8")

    def state_dict(self) -> dict | None:
        inner = self._calibratable()
        return None if inner is None else inner.state_dict()


class BD3LM(Nelbo):
    """Block diffusion (Arriola et al., BD3-LM): the NELBO of a block-causal model, which
    :func:`~mdm.losses.diffusion_loss` computes with the two-stream pass (each block conditioned on
    the clean blocks before it); needs ``model.block_size``."""

    @classmethod
    def check(cls, config, train_config) -> None:
        if getattr(train_config.model, "block_size", None) is None:
            raise ConfigError("loss.kind: bd3lm needs a block-causal model: set model.block_size")
        cls.check_options(config)


OBJECTIVES.register("nelbo", Nelbo)
OBJECTIVES.register("bd3lm", BD3LM)
