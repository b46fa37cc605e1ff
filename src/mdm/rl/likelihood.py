"""Estimates of a completion's log-likelihood under an MDM policy, the quantity every RL method for
MDMs has to replace (a sequence's log-likelihood is intractable).  The equations, in one place:

Notation: prompt ``q`` (positions ``< P``, never masked during generation), completion ``o`` (the
scored positions ``>= P``, ``C`` of them), ``R_sigma = prod_i p(o_{sigma_i} | q, o_{sigma_<i})`` the
probability of ``o`` along the generation order ``sigma``; the policy's likelihood is
``log p(o | q) = log E_sigma[R_sigma]`` (:mod:`mdm.rl.tabular` computes all of these exactly).

(a) :class:`OneStep` -- d1's estimate (Zhao et al., "d1: Scaling Reasoning in Diffusion LLMs via RL",
    arXiv 2504.12216, Sec. 3.2): mask the whole completion and each prompt token independently with
    probability ``p_mask`` (their 0.15), one forward pass, and take the per-token log-probabilities

        log pi(o_k | q') ,  q' = q with the random prompt mask,   per completion token k.

    A mean-field estimate: no bound, its bias against ``log p`` is whatever it is (measured in
    ``tests/rl/test_rl_likelihood.py``).

(b) :class:`Elbo` -- the masked-diffusion ELBO ``E_sigma[log R_sigma] <= log p(o | q)`` estimated by
    :func:`mdm.losses.diffusion_loss` (``-per_sample``, the continuous-time NELBO whose expectation
    for a time-independent denoiser is exactly the any-order ELBO) over ``K`` draws per sequence,
    with any time sampler (uniform, antithetic, stratified: drawn *per sequence* by
    :class:`PerSequenceTime`, so each sequence's ``K`` draws are themselves antithetic / stratified
    and each sequence's estimate stays unbiased) and any mask sampler (Bernoulli, MIRROR).

(c) :class:`RenyiUpper` -- an upper bound for the bound-based policy gradient (SPG, Wang et al.,
    "SPG: Sandwiched Policy Gradient for Masked Diffusion Language Models", arXiv 2510.09541, which
    minimises an evidence *upper* bound on negative-advantage sequences).  The bound implemented here
    is our own derivation in SPG's family (a Renyi / power-mean bound, the variational Renyi bound of
    Li & Turner, arXiv 1602.02311, with ``alpha = 1 - beta <= 0``) over the generation order:

        U_beta(o | q) = (1 / beta) log E_sigma[R_sigma^beta]  >=  log E_sigma[R_sigma] = log p(o | q)

    for every ``beta >= 1`` (the power mean ``(E R^beta)^(1/beta)`` grows with ``beta``); ``beta = 1``
    is ``log p`` itself, ``beta -> inf`` the best order.  It is *not* SPG's exact EUBO.  Estimated with
    ``K`` uniformly random orders, each scored with one batched forward of its ``C`` partial states:

        U_hat = (1 / beta) (logsumexp_k(beta log R_{sigma_k}) - log K).

    Caveat (measured in the tests): the log of a Monte-Carlo mean is biased low, so ``E[U_hat]`` rises
    with ``K`` from the ELBO (``K = 1``) to ``U_beta``; it is an upper bound in expectation only once
    ``K`` is large enough for the model at hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from mdm.errors import ConfigError
from mdm.losses import diffusion_loss, log_prob_of, masked_logits
from mdm.masking import (
    AntitheticTime,
    BernoulliMask,
    MirrorIndependentMask,
    MirrorMask,
    StratifiedTime,
    UniformTime,
)
from mdm.protocol import denoiser_ids, is_time_conditioned, model_time
from mdm.registry import Registry
from mdm.schedules import Linear

__all__ = [
    "Estimate",
    "LikelihoodEstimator",
    "OneStep",
    "Elbo",
    "RenyiUpper",
    "PerSequenceTime",
    "LIKELIHOODS",
    "completion_mask",
]

TIMES: Registry[Any] = Registry(
    "likelihood time_sampler",
    ConfigError,
    entries={"uniform": UniformTime, "antithetic": AntitheticTime, "stratified": StratifiedTime},
)
MASKS: Registry[Any] = Registry(
    "likelihood mask_sampler",
    ConfigError,
    entries={"bernoulli": BernoulliMask, "mirror": MirrorMask, "mirror-independent": MirrorIndependentMask},
)


@dataclass
class Estimate:
    """``logp [N, T]``: per-token estimates (``T = L - P``; :class:`OneStep`) or one per sequence
    (``T = 1``); ``mask [N, T]``: which entries count; ``entropy``: mean predictive entropy at the
    scored positions (nats, detached) when the estimator sees one distribution per token."""

    logp: torch.Tensor
    mask: torch.Tensor
    entropy: torch.Tensor | None = None

    def sequence(self) -> torch.Tensor:
        """The sequence-level estimate ``[N]`` (sum over tokens)."""
        return (self.logp * self.mask).sum(1)


class LikelihoodEstimator(Protocol):
    def __call__(
        self,
        model,
        tokens: torch.Tensor,
        prompt_len: int,
        generator: torch.Generator,
        *,
        eligible: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> Estimate: ...


def completion_mask(tokens: torch.Tensor, prompt_len: int, eligible: torch.Tensor | None) -> torch.Tensor:
    """The scored positions: ``eligible`` (bool ``[N, L]``) or every position ``>= prompt_len``."""
    if not 0 <= prompt_len < tokens.shape[1]:
        raise ConfigError(f"prompt_len must be in [0, {tokens.shape[1]}), got {prompt_len}")
    if eligible is None:
        eligible = torch.zeros_like(tokens, dtype=torch.bool)
        eligible[:, prompt_len:] = True
    elif bool(eligible[:, :prompt_len].any()):
        raise ConfigError("eligible marks a prompt position: only completion positions are scored")
    return eligible


def _rand(shape, generator: torch.Generator, device) -> torch.Tensor:
    return torch.rand(shape, generator=generator, dtype=torch.float64, device=generator.device).to(device)


@dataclass(frozen=True)
class OneStep:
    """d1's one-step per-token estimate with a randomly masked prompt (module docstring, (a))."""

    p_mask: float = 0.15

    def __post_init__(self):
        if not 0.0 <= self.p_mask < 1.0:
            raise ConfigError(f"p_mask must be in [0, 1), got {self.p_mask}")

    def __call__(
        self, model, tokens, prompt_len, generator, *, eligible=None, attention_mask=None
    ) -> Estimate:
        _, mask_id = denoiser_ids(model)
        scored = completion_mask(tokens, prompt_len, eligible)
        hide = torch.zeros_like(scored)
        hide[:, :prompt_len] = _rand((len(tokens), prompt_len), generator, tokens.device) < self.p_mask
        hide |= scored
        t = (
            model_time(model, torch.ones(len(tokens), dtype=torch.float64, device=tokens.device))
            if is_time_conditioned(model)
            else None
        )
        logits = masked_logits(
            model, tokens.masked_fill(hide, mask_id), scored, attention_mask=attention_mask, t=t, clean=tokens
        )
        lp = log_prob_of(logits, tokens[scored], mask_id)
        logp = torch.zeros(scored.shape, dtype=lp.dtype, device=lp.device).masked_scatter(scored, lp)
        with torch.no_grad():
            sl = logits.detach().float()
            sl[:, mask_id] = float("-inf")
            p = sl.softmax(-1)
            ent = -(p * sl.log_softmax(-1).nan_to_num(neginf=0.0)).sum(-1).mean()
        return Estimate(logp[:, prompt_len:], scored[:, prompt_len:], ent)


@dataclass(frozen=True)
class PerSequenceTime:
    """Wrap a time sampler so the ``K`` rows of each sequence (row ``k * B + b`` is draw ``k`` of
    sequence ``b``, the layout of ``x.repeat(K, 1)``) are one call of the sampler: antithetic pairs and
    strata then hold within each sequence, so each sequence's mean is unbiased on its own."""

    sampler: Any
    copies: int

    def __call__(self, batch_size: int, *, generator=None, device=None):
        if batch_size % self.copies:
            raise ConfigError(f"batch {batch_size} is not a multiple of the {self.copies} draws per sequence")
        draws = [
            self.sampler(self.copies, generator=generator, device=device)
            for _ in range(batch_size // self.copies)
        ]
        t = torch.stack([d[0] for d in draws], 1).reshape(-1)  # [K, B] -> row k * B + b
        w = torch.stack([d[1] for d in draws], 1).reshape(-1)
        return t, w


@dataclass(frozen=True)
class Elbo:
    """The ELBO by :func:`mdm.losses.diffusion_loss` over ``draws`` draws per sequence (module
    docstring, (b)); ``T = 1``."""

    draws: int = 2
    time_sampler: str = "antithetic"
    mask_sampler: str = "bernoulli"
    t_eps: float = 1e-3
    schedule: Any = field(default_factory=Linear)

    def __post_init__(self):
        if self.draws < 1:
            raise ConfigError(f"elbo draws must be >= 1, got {self.draws}")
        TIMES.get(self.time_sampler)
        MASKS.get(self.mask_sampler)

    def __call__(
        self, model, tokens, prompt_len, generator, *, eligible=None, attention_mask=None
    ) -> Estimate:
        scored = completion_mask(tokens, prompt_len, eligible)
        k, n = self.draws, len(tokens)
        times = PerSequenceTime(TIMES.get(self.time_sampler)(eps=self.t_eps), k)
        out = diffusion_loss(
            model,
            tokens.repeat(k, 1),
            schedule=self.schedule,
            eligible=scored.repeat(k, 1),
            attention_mask=None if attention_mask is None else attention_mask.repeat(k, 1),
            time_sampler=times,
            mask_sampler=MASKS.get(self.mask_sampler)(),
            normalize="tokens",
            generator=generator,
        )
        elbo = -out.per_sample.view(k, n).mean(0)
        return Estimate(elbo.unsqueeze(1), torch.ones(n, 1, dtype=torch.bool, device=tokens.device))


def order_log_ratios(model, tokens, scored, draws: int, generator, attention_mask=None) -> torch.Tensor:
    """``log R_sigma`` for ``draws`` uniformly random orders per sequence: ``[draws, N]``; each order's
    ``C`` partial states go through the model in one batched call."""
    _, mask_id = denoiser_ids(model)
    n, length = tokens.shape
    rows = draws * n
    x = tokens.repeat(draws, 1)
    sc = scored.repeat(draws, 1)
    keys = _rand((rows, length), generator, tokens.device).masked_fill(~sc, float("inf"))
    ranks = keys.argsort(1).argsort(1)  # scored positions get ranks 0..C_i-1
    c_max = int(scored.sum(1).max())
    count = sc.sum(1, keepdim=True)
    steps = torch.arange(c_max, device=tokens.device).view(-1, 1, 1)
    hidden = sc.unsqueeze(0) & (ranks.unsqueeze(0) >= steps)  # [C, rows, L]
    target = sc.unsqueeze(0) & (ranks.unsqueeze(0) == steps)
    xt = x.unsqueeze(0).masked_fill(hidden, mask_id).reshape(-1, length)
    tgt = target.reshape(-1, length)
    t = None
    if is_time_conditioned(model):
        frac = ((count.view(1, -1) - steps.view(-1, 1)).clamp(min=0) / count.view(1, -1)).reshape(-1)
        t = model_time(model, frac.double())
    am = None if attention_mask is None else attention_mask.repeat(draws, 1).repeat(c_max, 1)
    logits = masked_logits(model, xt, tgt, attention_mask=am, t=t, clean=x.repeat(c_max, 1))
    lp = log_prob_of(logits, x.repeat(c_max, 1)[tgt], mask_id)
    row_of = (torch.arange(c_max * rows, device=tokens.device) % rows).unsqueeze(1).expand_as(tgt)[tgt]
    total = torch.zeros(rows, dtype=lp.dtype, device=lp.device).index_add(0, row_of, lp)
    return total.view(draws, n)


@dataclass(frozen=True)
class RenyiUpper:
    """The power-mean upper bound ``U_beta`` from ``draws`` random orders (module docstring, (c))."""

    beta: float = 1.5
    draws: int = 4

    def __post_init__(self):
        if not (self.beta >= 1.0 and math.isfinite(self.beta)):
            raise ConfigError(f"the upper bound needs beta >= 1, got {self.beta}")
        if self.draws < 1:
            raise ConfigError(f"upper-bound draws must be >= 1, got {self.draws}")

    def __call__(
        self, model, tokens, prompt_len, generator, *, eligible=None, attention_mask=None
    ) -> Estimate:
        scored = completion_mask(tokens, prompt_len, eligible)
        r = order_log_ratios(model, tokens, scored, self.draws, generator, attention_mask)
        upper = (torch.logsumexp(self.beta * r, 0) - math.log(self.draws)) / self.beta
        return Estimate(
            upper.unsqueeze(1), torch.ones(len(tokens), 1, dtype=torch.bool, device=tokens.device)
        )


LIKELIHOODS: Registry[Any] = Registry(
    "likelihood", ConfigError, entries={"one-step": OneStep, "elbo": Elbo, "upper": RenyiUpper}
)
