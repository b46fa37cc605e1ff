"""The spread of the likelihood estimate and of the policy-gradient estimate on a fixed batch: what
the variance-reduction switch (antithetic times, MIRROR masks; :mod:`mdm.masking`) inside the RL
objective is for, measured directly (issue 29).

With the rollouts, rewards and advantages held fixed, the only randomness left in an update is the
estimator's (times and masks).  For ``R`` independent estimator seeds this module reports

* per sequence ``i``: the variance over seeds of the ELBO estimate ``L_hat_i``
  (:class:`mdm.rl.likelihood.Elbo`), averaged over the batch -- :func:`estimate_spread`;
* for a loss ``f_r(theta)`` drawn with seed ``r``: the total variance of its gradient,
  ``tr Cov(g) = 1/(R-1) sum_r ||g_r - g_bar||^2``, next to ``||g_bar||^2`` -- :func:`gradient_spread`.

Settings are compared at equal compute: the same number of model rows per sequence (``draws``
times the mask sampler's copies, 2 for MIRROR), :data:`ELBO_SETTINGS`.  SPG's gradient
(:mod:`mdm.rl.surrogates`) splits into its ELBO half (non-negative advantages; the switch acts here)
and its upper-bound half (negative ones; the switch does not touch it): :func:`spg_half_loss`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from mdm.errors import ConfigError
from mdm.rl.likelihood import Elbo, LikelihoodEstimator

__all__ = ["ELBO_SETTINGS", "rows_per_sequence", "estimate_spread", "gradient_spread", "spg_half_loss"]

# name -> the ELBO estimator; each pair of lines costs the same model rows per sequence (2, then 4)
ELBO_SETTINGS: dict[str, Elbo] = {
    "uniform x2": Elbo(draws=2, time_sampler="uniform", mask_sampler="bernoulli"),
    "antithetic x2": Elbo(draws=2, time_sampler="antithetic", mask_sampler="bernoulli"),
    "mirror x1": Elbo(draws=1, time_sampler="uniform", mask_sampler="mirror"),
    "uniform x4": Elbo(draws=4, time_sampler="uniform", mask_sampler="bernoulli"),
    "antithetic x4": Elbo(draws=4, time_sampler="antithetic", mask_sampler="bernoulli"),
    "stratified x4": Elbo(draws=4, time_sampler="stratified", mask_sampler="bernoulli"),
    "antithetic+mirror x2": Elbo(draws=2, time_sampler="antithetic", mask_sampler="mirror"),
}


def rows_per_sequence(est: Elbo) -> int:
    """Model rows one sequence costs: ``draws`` times 2 for a MIRROR pair, else ``draws``."""
    return est.draws * (2 if est.mask_sampler.startswith("mirror") else 1)


def _seeded(seed: int, r: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + r)


def estimate_spread(
    estimator: LikelihoodEstimator,
    model,
    tokens: torch.Tensor,
    prompt_len: int,
    repeats: int,
    *,
    seed: int = 0,
    eligible: torch.Tensor | None = None,
) -> dict[str, float]:
    """``repeats`` estimates of each sequence's log-likelihood (``[R, N]``, one estimator seed per
    repeat): ``mean`` (of the estimates), ``var`` (per-sequence variance over repeats, averaged over
    the sequences) and ``var_se`` (its standard error over the sequences)."""
    if repeats < 2:
        raise ConfigError(f"repeats must be >= 2 to measure a variance, got {repeats}")
    with torch.no_grad():
        draws = torch.stack([
            estimator(model, tokens, prompt_len, _seeded(seed, r), eligible=eligible).sequence().double()
            for r in range(repeats)
        ])
    var = draws.var(0)
    return {"mean": float(draws.mean()), "var": float(var.mean()),
            "var_se": float(var.std() / len(var) ** 0.5) if len(var) > 1 else 0.0}


def gradient_spread(
    loss: Callable[[torch.Generator], torch.Tensor],
    params: Sequence[torch.nn.Parameter],
    repeats: int,
    *,
    seed: int = 0,
) -> dict[str, float]:
    """The gradient of ``loss(generator)`` for ``repeats`` estimator seeds: ``trace_var`` (``tr Cov``,
    module docstring), ``mean_sq_norm`` (``||g_bar||^2``) and ``snr`` (their ratio, mean over trace)."""
    if repeats < 2:
        raise ConfigError(f"repeats must be >= 2 to measure a variance, got {repeats}")
    params = list(params)
    grads = []
    for r in range(repeats):
        g = torch.autograd.grad(loss(_seeded(seed, r)), params, allow_unused=True)
        grads.append(torch.cat([
            (gi if gi is not None else torch.zeros_like(p)).reshape(-1).double() for gi, p in zip(g, params)
        ]))
    stack = torch.stack(grads)
    mean = stack.mean(0)
    trace = float(((stack - mean) ** 2).sum(1).sum() / (repeats - 1))
    sq = float((mean**2).sum())
    return {"trace_var": trace, "mean_sq_norm": sq, "snr": sq / trace if trace > 0 else float("inf")}


def spg_half_loss(
    estimator: LikelihoodEstimator,
    model,
    tokens: torch.Tensor,
    prompt_len: int,
    adv: torch.Tensor,
    *,
    positive: bool,
) -> Callable[[torch.Generator], torch.Tensor]:
    """One half of minus SPG's surrogate (:func:`mdm.rl.surrogates.sandwich_objective`): the
    non-negative-advantage rows scored by ``estimator`` (``positive``; the ELBO in SPG) or the
    negative ones (the upper bound), divided by all ``N`` rows as in the full surrogate."""
    rows = adv >= 0 if positive else adv < 0
    if not bool(rows.any()):
        raise ConfigError("no rows with that sign of advantage in the batch: draw another batch")
    x, a = tokens[rows], adv[rows].float()
    n_tok = (x.shape[1] - prompt_len)

    def loss(generator: torch.Generator) -> torch.Tensor:
        est = estimator(model, x, prompt_len, generator).sequence().float()
        return -(a * est).sum() / (n_tok * len(tokens))

    return loss
