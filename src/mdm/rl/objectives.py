"""The RL objectives of the trainer: ``loss.kind: diffu-grpo`` and ``loss.kind: spg``.

* ``diffu-grpo`` -- d1's diffu-GRPO (Zhao et al., arXiv 2504.12216): group-normalised advantages, the
  clipped ratio of per-token log-likelihood estimates (``likelihood: one-step``, d1's randomly masked
  prompt with ``p_mask``; or ``elbo`` / ``upper``, sequence-level), the k3 KL to the frozen reference
  (``kl_beta``), ``inner_updates`` (mu) updates per rollout batch, each with its own estimate seed
  shared by the current, old and reference policies.
* ``spg`` -- the sandwiched policy gradient (SPG, Wang et al., arXiv 2510.09541): the ELBO for
  non-negative advantages and an upper bound for negative ones.  We pick SPG over wd1 because mdm's
  ELBO machinery (antithetic / stratified times, MIRROR masks, K draws) is exactly its lower half, and
  the exact oracle can check both bounds' signs.  Its upper bound is our Renyi power-mean bound
  (:mod:`mdm.rl.likelihood`, (c)), not SPG's own EUBO.

The equations are in :mod:`mdm.rl.surrogates`; the shared machinery (SFT start, reference, buffer,
logs, validation by greedy-rollout reward) in :mod:`mdm.rl.policy`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mdm.errors import ConfigError
from mdm.rl.likelihood import LIKELIHOODS, Elbo, OneStep, RenyiUpper
from mdm.rl.policy import RLBase, RLOptions, RLOutput
from mdm.rl.surrogates import grpo_objective, sandwich_objective
from mdm.train.objective import OBJECTIVES

__all__ = ["EstimatorOptions", "GRPOOptions", "SPGOptions", "DiffuGRPO", "SPG", "build_estimator"]


@dataclass
class EstimatorOptions:
    """How log-likelihoods are estimated: ``p_mask`` (one-step); ``elbo_draws``, ``time_sampler``
    (uniform / antithetic / stratified, per sequence), ``mask_sampler`` (bernoulli / mirror /
    mirror-independent), ``t_eps`` (ELBO); ``upper_beta`` >= 1, ``upper_draws`` orders (upper bound)."""

    p_mask: float = 0.15
    elbo_draws: int = 2
    time_sampler: str = "antithetic"
    mask_sampler: str = "bernoulli"
    t_eps: float = 1e-3
    upper_beta: float = 1.5
    upper_draws: int = 4


def build_estimator(name: str, o: EstimatorOptions):
    """The estimator ``name`` (``one-step``, ``elbo``, ``upper``) with the options of ``o``."""
    cls = LIKELIHOODS.get(name)
    if cls is OneStep:
        return OneStep(p_mask=o.p_mask)
    if cls is Elbo:
        return Elbo(
            draws=o.elbo_draws, time_sampler=o.time_sampler, mask_sampler=o.mask_sampler, t_eps=o.t_eps
        )
    return RenyiUpper(beta=o.upper_beta, draws=o.upper_draws)


def _on(buffer: dict, device):
    ro = buffer["rollout"]
    return ro["tokens"].to(device), ro["prompt_len"], ro["eligible"].to(device), buffer["adv"].to(device)


@dataclass
class GRPOOptions(RLOptions, EstimatorOptions):
    clip_eps: float = 0.2
    kl_beta: float = 0.04
    likelihood: str = "one-step"


class DiffuGRPO(RLBase):
    """diffu-GRPO (module docstring); ``J`` is :func:`mdm.rl.surrogates.grpo_objective`."""

    Config = GRPOOptions

    @classmethod
    def check(cls, config, train_config) -> None:
        super().check(config, train_config)
        if not 0 < config.clip_eps < 1 or config.kl_beta < 0:
            raise ConfigError("loss.clip_eps must be in (0, 1) and loss.kl_beta >= 0")
        build_estimator(config.likelihood, config)

    def bind(self, model) -> None:
        super().bind(model)
        self.estimator = build_estimator(self.config.likelihood, self.config)

    def prepare_updates(self, ro, adv, seeds):
        old, ref = [], []
        for s in seeds:
            args = (ro.tokens, ro.prompt_len)
            old.append(
                self.estimator(
                    self.policy, *args, self.seeded(s, ro.tokens.device), eligible=ro.eligible
                ).logp.detach()
            )
            if self.config.kl_beta > 0:
                ref.append(
                    self.estimator(
                        self.reference, *args, self.seeded(s, ro.tokens.device), eligible=ro.eligible
                    ).logp.detach()
                )
        return {"old": old, "ref": ref or None}

    def update_loss(self, model, buffer, j):
        tokens, p, eligible, adv = _on(buffer, self.device)
        est = self.estimator(
            model, tokens, p, self.seeded(buffer["seeds"][j], tokens.device), eligible=eligible
        )
        ref = None if buffer["ref"] is None else buffer["ref"][j].to(tokens.device)
        obj, per_seq, kl = grpo_objective(
            est.logp,
            buffer["old"][j].to(tokens.device),
            adv,
            est.mask,
            clip_eps=self.config.clip_eps,
            ref=ref,
            kl_beta=self.config.kl_beta,
        )
        if kl is not None:
            self.stats["kl"] = float(kl.detach())
        if est.entropy is not None:
            self.stats["entropy"] = float(est.entropy)
        return RLOutput(-obj, -per_seq.detach(), torch.tensor(len(tokens), device=tokens.device))


@dataclass
class SPGOptions(RLOptions, EstimatorOptions):
    pass


class SPG(RLBase):
    """The sandwiched policy gradient (module docstring); ``S`` is
    :func:`mdm.rl.surrogates.sandwich_objective`."""

    Config = SPGOptions

    @classmethod
    def check(cls, config, train_config) -> None:
        super().check(config, train_config)
        build_estimator("elbo", config)
        build_estimator("upper", config)

    def bind(self, model) -> None:
        super().bind(model)
        self.lower = build_estimator("elbo", self.config)
        self.upper = build_estimator("upper", self.config)

    def update_loss(self, model, buffer, j):
        device = self.device
        tokens, p, eligible, adv = _on(buffer, device)
        g = self.seeded(buffer["seeds"][j], tokens.device)
        pos = adv >= 0
        lower = torch.zeros(len(tokens), dtype=torch.float32, device=device)
        upper = torch.zeros_like(lower)
        if bool(pos.any()):
            lower = lower.masked_scatter(
                pos, self.lower(model, tokens[pos], p, g, eligible=eligible[pos]).sequence().float()
            )
        if bool((~pos).any()):
            upper = upper.masked_scatter(
                ~pos, self.upper(model, tokens[~pos], p, g, eligible=eligible[~pos]).sequence().float()
            )
        obj, per_seq = sandwich_objective(lower, upper, adv, eligible.sum(1))
        return RLOutput(-obj, -per_seq.detach(), torch.tensor(len(tokens), device=device))


OBJECTIVES.register("diffu-grpo", DiffuGRPO)
OBJECTIVES.register("spg", SPG)
