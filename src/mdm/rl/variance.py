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

import math
from collections.abc import Callable, Sequence

import torch

from mdm.errors import ConfigError
from mdm.rl.likelihood import Elbo, LikelihoodEstimator

__all__ = [
    "ELBO_SETTINGS",
    "rows_per_sequence",
    "estimate_spread",
    "gradient_spread",
    "spg_half_loss",
    "mask_costs",
    "exact_elbo_moments",
    "time_share",
]

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


# --- the exact mean and variance of the ELBO estimate (linear schedule, time-independent denoiser) ---
#
# One draw of the estimate is -f with f(t, M) = g(M) / t, t = eps + (1 - 2 eps) u (u uniform), M the
# masked completion positions (each independently with probability t), g(M) = -sum_{l in M} log
# p(o_l | o with M masked).  With m1(t) = E[f | t], m2(t) = E[f^2 | t], mu = E_t m1, V = E_t m2 - mu^2,
# C_a = E_t[m1(t) m1(1 - t)] - mu^2 (an antithetic pair) and, for a MIRROR pair (one uniform per token:
# copy 1 masks U < t, copy 2 masks U > 1 - t), q(t) = E[((f_1 + f_2) / 2)^2 | t] and V_m = E_t q - mu^2:
#
#   uniform x K      V / K                      antithetic x K (K/2 pairs)   (V + C_a) / K
#   mirror x 1       V_m                        antithetic + mirror x K      (V_m + C_a) / K
#   stratified x K   (1/K^2) sum_k [E_k m2 - (E_k m1)^2]     (E_k: t within stratum k of u)
#
# g is known for all 2^C masks (C completion tokens: one model row each), so each line is a sum of
# polynomials in t and 1/t, integrated by Gauss-Legendre on geometric panels (the 1/t near t = eps).


def mask_costs(model, tokens: torch.Tensor, prompt_len: int) -> torch.Tensor:
    """``g(M)`` for every subset ``M`` of the completion (module comment): ``[N, 2^C]``, subset
    ``j`` masking completion position ``i`` iff bit ``C - 1 - i`` of ``j`` is set (``itertools.product``
    order).  One model row per subset and sequence; the model must not be time-conditioned."""
    import itertools

    from mdm.losses import log_prob_of, masked_logits
    from mdm.protocol import denoiser_ids, is_time_conditioned

    if is_time_conditioned(model):
        raise ConfigError("exact ELBO moments need a time-independent denoiser (g(M) must not depend on t)")
    _, mask_id = denoiser_ids(model)
    n, length = tokens.shape
    c = length - prompt_len
    if not 1 <= c <= 10:
        raise ConfigError(f"exact ELBO moments enumerate 2^C masks: need 1 <= C <= 10, got C = {c}")
    subsets = torch.tensor(list(itertools.product((0, 1), repeat=c)), dtype=torch.bool)  # [S, C]
    hide = torch.zeros(len(subsets), length, dtype=torch.bool)
    hide[:, prompt_len:] = subsets
    hide = hide.unsqueeze(0).expand(n, -1, -1).reshape(-1, length).to(tokens.device)
    x = tokens.repeat_interleave(len(subsets), 0)
    costs = torch.zeros(len(x), dtype=torch.float64, device=tokens.device)
    if bool(hide.any()):
        logits = masked_logits(model, x.masked_fill(hide, mask_id), hide, clean=x)
        lp = log_prob_of(logits, x[hide], mask_id).double()
        rows = torch.arange(len(x), device=tokens.device).unsqueeze(1).expand_as(hide)[hide]
        costs = costs.index_add(0, rows, -lp)
    return costs.view(n, len(subsets))


def _nodes(lo: float, hi: float, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Quadrature nodes and weights for ``dt`` on ``[lo, hi]`` (geometric panels near the ends)."""
    import numpy

    x, w = numpy.polynomial.legendre.leggauss(12)
    edges = {lo, hi, 0.5} | {eps * 1.3**k for k in range(60)} | {1 - eps * 1.3**k for k in range(60)}
    edges = sorted(e for e in edges if lo <= e <= hi)
    ts, ws = [], []
    for a, b in zip(edges[:-1], edges[1:]):
        ts.append((b - a) / 2 * x + (a + b) / 2)
        ws.append((b - a) / 2 * w)
    return torch.tensor(numpy.concatenate(ts), dtype=torch.float64), torch.tensor(numpy.concatenate(ws))


def _moments(costs: torch.Tensor, c: int, t: torch.Tensor):
    """``m1(t)``, ``m2(t)`` and the MIRROR pair's ``q(t)`` at the nodes ``t [T]``: ``[N, T]`` each for
    costs ``[N, 2^C]``."""
    import itertools

    subsets = list(itertools.product((0, 1), repeat=c))
    index = {m: j for j, m in enumerate(subsets)}
    t = t.unsqueeze(0)
    m1 = torch.zeros(len(costs), t.shape[1], dtype=torch.float64)
    m2 = torch.zeros_like(m1)
    for m, j in index.items():
        k = sum(m)
        p = t**k * (1 - t) ** (c - k)
        g = costs[:, j : j + 1]
        m1 += p * g / t
        m2 += p * (g / t) ** 2
    # per token (copy 1, copy 2): P(1,0) = P(0,1) = min(t, 1-t), P(0,0) = max(0, 1-2t), P(1,1) = max(0, 2t-1)
    joint = {(1, 0): torch.minimum(t, 1 - t), (0, 1): torch.minimum(t, 1 - t),
             (0, 0): (1 - 2 * t).clamp(min=0), (1, 1): (2 * t - 1).clamp(min=0)}
    q = torch.zeros_like(m1)
    for pairs in itertools.product(joint, repeat=c):
        p = torch.ones_like(t)
        for ab in pairs:
            p = p * joint[ab]
        a = index[tuple(ab[0] for ab in pairs)]
        b = index[tuple(ab[1] for ab in pairs)]
        q += p * ((costs[:, a : a + 1] + costs[:, b : b + 1]) / (2 * t)) ** 2
    return m1, m2, q


def time_share(costs: torch.Tensor, t_eps: float = 1e-3) -> torch.Tensor:
    """``Var_t(m1(t)) / V`` per sequence (``costs [N, 2^C]``): the share of one draw's variance that
    comes from the time ``t`` (the part antithetic or stratified times can remove); the rest,
    ``E_t Var(f | t)``, is the masks' (module comment)."""
    c = int(round(math.log2(costs.shape[1])))
    t, w = _nodes(t_eps, 1 - t_eps, t_eps)
    w = w / (1 - 2 * t_eps)
    m1, m2, _ = _moments(costs.double().cpu(), c, t)
    mu = (w * m1).sum(1)
    return ((w * m1**2).sum(1) - mu**2) / ((w * m2).sum(1) - mu**2)


def exact_elbo_moments(costs: torch.Tensor, *, draws: int, time_sampler: str, mask_sampler: str,
                       t_eps: float = 1e-3):
    """``(mean, variance)`` of :class:`mdm.rl.likelihood.Elbo`'s estimate (linear schedule) for
    sequences whose mask costs (:func:`mask_costs`) are ``costs`` -- the table in the comment above;
    ``time_sampler`` uniform / antithetic / stratified, ``mask_sampler`` bernoulli / mirror.  Floats for
    one sequence (``costs [2^C]``), float64 tensors ``[N]`` for ``costs [N, 2^C]``."""
    if costs.dim() == 1:
        mean, var = exact_elbo_moments(costs.unsqueeze(0), draws=draws, time_sampler=time_sampler,
                                       mask_sampler=mask_sampler, t_eps=t_eps)
        return float(mean[0]), float(var[0])
    c = int(round(math.log2(costs.shape[1])))
    if costs.dim() != 2 or 2**c != costs.shape[1]:
        raise ConfigError(f"costs must be [N, 2^C] (mask_costs), got {tuple(costs.shape)}")
    costs = costs.double().cpu()
    lo, hi = t_eps, 1 - t_eps
    span = hi - lo
    t, w = _nodes(lo, hi, t_eps)
    w = w / span  # the density of t
    m1, m2, q = _moments(costs, c, t)
    mu = (w * m1).sum(1)
    v = (w * m2).sum(1) - mu**2
    c_a = (w * m1 * _moments(costs, c, 1 - t)[0]).sum(1) - mu**2  # t -> 1 - t: onto itself
    v_m = (w * q).sum(1) - mu**2
    if mask_sampler == "bernoulli" and time_sampler == "uniform":
        var = v / draws
    elif mask_sampler == "bernoulli" and time_sampler == "antithetic" and draws % 2 == 0:
        var = (v + c_a) / draws
    elif mask_sampler == "mirror" and time_sampler == "uniform" and draws == 1:
        var = v_m
    elif mask_sampler == "mirror" and time_sampler == "antithetic" and draws % 2 == 0:
        var = (v_m + c_a) / draws
    elif mask_sampler == "bernoulli" and time_sampler == "stratified":
        var = torch.zeros_like(mu)
        for k in range(draws):
            a, b = lo + span * k / draws, lo + span * (k + 1) / draws
            tk, wk = _nodes(a, b, t_eps)
            wk = wk / (b - a)
            n1, n2, _ = _moments(costs, c, tk)
            var += (wk * n2).sum(1) - (wk * n1).sum(1) ** 2
        var /= draws**2
    else:
        raise ConfigError(f"no exact variance for {draws} x {time_sampler} times with {mask_sampler} masks")
    return -mu, var
