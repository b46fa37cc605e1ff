"""A tabular masked-diffusion policy whose sequence likelihood is exact: the RL test oracle.

:class:`TabularPolicy` keeps one free logit vector for every (partially masked state, position) of
sequences of length ``L`` over ``V`` clean tokens -- ``(V + 1)^L x L x (V + 1)`` parameters, so
``L <= 4``, ``V <= 3`` -- and is a Denoiser (``vocab_size = V + 1``, ``mask_id = V``).  Its
conditionals need not be consistent with any joint, which is exactly the situation of a trained MDM,
so its likelihood is defined (and computed here, by enumeration) as that of the model's generative
process with a uniformly random order, one token per step (the any-order view of the MDM likelihood,
Hoogeboom et al., ARDM, arXiv 2110.02037; Ou et al., RADD, arXiv 2406.03736):

    R_sigma(o | q) = prod_i p_theta(o_{sigma_i} | q, o_{sigma_<i}, rest masked)
    log p(o | q)   = log E_sigma[R_sigma]                       (sigma uniform over the C! orders)
    ELBO(o | q)    = E_sigma[log R_sigma]                        <= log p            (Jensen)
    U_beta(o | q)  = (1 / beta) log E_sigma[R_sigma^beta]        >= log p for beta >= 1 (power means)

for a prompt ``q`` (positions ``< P``, never masked) and completion ``o`` (``C = L - P`` positions).
The one-step estimate of d1 (:mod:`mdm.rl.likelihood`) is also available exactly (its expectation over
prompt masks).  Everything is a differentiable function of the table, in float64: the gradient tests
differentiate it (autograd and central finite differences).
"""

from __future__ import annotations

import itertools
import math

import torch

from mdm.errors import ConfigError

__all__ = [
    "TabularPolicy",
    "orders",
    "exact_log_ratios",
    "exact_log_prob",
    "exact_elbo",
    "exact_upper",
    "exact_one_step",
    "exact_elbo_variance",
]


class TabularPolicy(torch.nn.Module):
    """A Denoiser with a free logit table over every partially masked state (module docstring)."""

    def __init__(self, vocab: int, length: int, *, scale: float = 1.0, seed: int = 0) -> None:
        super().__init__()
        if not (2 <= vocab <= 3 and 1 <= length <= 4):
            raise ConfigError(
                f"TabularPolicy needs 2 <= vocab <= 3 and 1 <= length <= 4, got {vocab}, {length}"
            )
        self.V, self.L = vocab, length
        self.vocab_size, self.mask_id = vocab + 1, vocab
        g = torch.Generator().manual_seed(seed)
        table = scale * torch.randn(
            (vocab + 1) ** length, length, vocab + 1, generator=g, dtype=torch.float64
        )
        self.table = torch.nn.Parameter(table)
        self.register_buffer("powers", (vocab + 1) ** torch.arange(length))

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.table[(x * self.powers).sum(-1)]

    def log_cond(self, x: torch.Tensor, pos: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """``log p(x_pos = value | x)`` under SUBS (the mask logit excluded), ``[B]``."""
        logits = self.forward(x)[torch.arange(len(x)), pos][:, : self.V]
        return logits.log_softmax(-1).gather(1, value.unsqueeze(1)).squeeze(1)


def orders(c: int) -> list[tuple[int, ...]]:
    """Every order of ``c`` completion positions (``c!`` of them)."""
    return list(itertools.permutations(range(c)))


def exact_log_ratios(policy: TabularPolicy, seq: torch.Tensor, prompt_len: int) -> torch.Tensor:
    """``log R_sigma`` for every order ``sigma``: ``[C!]`` (module docstring)."""
    seq = torch.as_tensor(seq, dtype=torch.long)
    c = policy.L - prompt_len
    out = []
    for sigma in orders(c):
        x = seq.clone()
        x[prompt_len:] = policy.mask_id
        total = torch.zeros((), dtype=torch.float64)
        for i in sigma:
            pos = prompt_len + i
            total = total + policy.log_cond(x.unsqueeze(0), torch.tensor([pos]), seq[pos : pos + 1])[0]
            x = x.clone()
            x[pos] = seq[pos]
        out.append(total)
    return torch.stack(out)


def exact_log_prob(policy: TabularPolicy, seq, prompt_len: int) -> torch.Tensor:
    """``log p(o | q) = log E_sigma[R_sigma]``."""
    r = exact_log_ratios(policy, seq, prompt_len)
    return torch.logsumexp(r, 0) - math.log(len(r))


def exact_elbo(policy: TabularPolicy, seq, prompt_len: int) -> torch.Tensor:
    """``E_sigma[log R_sigma]``: the ELBO (equals ``log p`` iff all orders agree)."""
    return exact_log_ratios(policy, seq, prompt_len).mean()


def exact_upper(policy: TabularPolicy, seq, prompt_len: int, beta: float) -> torch.Tensor:
    """``U_beta = (1/beta) log E_sigma[R_sigma^beta]`` (>= ``log p`` for ``beta >= 1``)."""
    r = exact_log_ratios(policy, seq, prompt_len)
    return (torch.logsumexp(beta * r, 0) - math.log(len(r))) / beta


def exact_one_step(
    policy: TabularPolicy, seq, prompt_len: int, p_mask: float, ref_prompt_mask: tuple[int, ...] | None = None
) -> torch.Tensor:
    """The expectation over prompt masks (each prompt token masked w.p. ``p_mask``) of d1's one-step
    estimate ``sum_l log p(o_l | masked prompt, completion all masked)``.  ``ref_prompt_mask``: that
    one mask only (no expectation)."""
    seq = torch.as_tensor(seq, dtype=torch.long)
    total = torch.zeros((), dtype=torch.float64)
    masks = [ref_prompt_mask] if ref_prompt_mask is not None else itertools.product((0, 1), repeat=prompt_len)
    for m in masks:
        w = 1.0 if ref_prompt_mask is not None else math.prod(p_mask if b else 1 - p_mask for b in m)
        x = seq.clone()
        x[prompt_len:] = policy.mask_id
        for j, b in enumerate(m):
            if b:
                x[j] = policy.mask_id
        logits = policy.forward(x.unsqueeze(0))[0, prompt_len:, : policy.V].log_softmax(-1)
        total = total + w * logits.gather(1, seq[prompt_len:].unsqueeze(1)).sum()
    return total


# --- the exact variance of the ELBO estimators (mdm.rl.likelihood.Elbo, linear schedule) ---------------
#
# One draw of the estimator is -f with f(t, M) = g(M) / t, t = eps + (1 - 2 eps) u (u uniform), M the
# masked completion positions (each independently with probability t), g(M) = -sum_{l in M} log
# p(o_l | o with M masked).  With m1(t) = E[f | t], m2(t) = E[f^2 | t], mu = E_t m1, V = E_t m2 - mu^2,
# C_a = E_t[m1(t) m1(1 - t)] - mu^2 (an antithetic pair) and, for a MIRROR pair (one uniform per token:
# copy 1 masks U < t, copy 2 masks U > 1 - t), q(t) = E[((f_1 + f_2) / 2)^2 | t] and V_m = E_t q - mu^2:
#
#   uniform x K      V / K                      antithetic x K (K/2 pairs)   (V + C_a) / K
#   mirror x 1       V_m                        antithetic + mirror x K      (V_m + C_a) / K
#   stratified x K   (1/K^2) sum_k [E_k m2 - (E_k m1)^2]     (E_k: t within stratum k of u)
#
# Each is a sum over the 2^C masks (4^C mask pairs) of polynomials in t and 1/t, integrated by
# Gauss-Legendre on geometric panels (the 1/t near t = eps).


def _mask_costs(policy: TabularPolicy, seq, prompt_len: int) -> dict[tuple[int, ...], float]:
    seq = torch.as_tensor(seq, dtype=torch.long)
    c = policy.L - prompt_len
    out = {}
    for m in itertools.product((0, 1), repeat=c):
        x = seq.clone()
        pos = [prompt_len + i for i, b in enumerate(m) if b]
        x[pos] = policy.mask_id
        total = 0.0
        for p in pos:
            total -= float(policy.log_cond(x.unsqueeze(0), torch.tensor([p]), seq[p : p + 1])[0])
        out[m] = total
    return out


def _nodes(lo: float, hi: float, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Quadrature nodes and weights for dt on [lo, hi] (geometric panels away from t = eps)."""
    import numpy

    x, w = numpy.polynomial.legendre.leggauss(12)
    edges = {lo, hi, 0.5} | {eps * 1.3**k for k in range(60)} | {1 - eps * 1.3**k for k in range(60)}
    edges = sorted(e for e in edges if lo <= e <= hi)
    ts, ws = [], []
    for a, b in zip(edges[:-1], edges[1:]):
        ts.append((b - a) / 2 * x + (a + b) / 2)
        ws.append((b - a) / 2 * w)
    return torch.tensor(numpy.concatenate(ts), dtype=torch.float64), torch.tensor(numpy.concatenate(ws))


def _moments(costs: dict, t: torch.Tensor):
    """``m1(t)``, ``m2(t)`` and the MIRROR pair's ``q(t)`` at the nodes ``t``."""
    m1 = torch.zeros_like(t)
    m2 = torch.zeros_like(t)
    for m, g in costs.items():
        k = sum(m)
        p = t**k * (1 - t) ** (len(m) - k)
        m1 += p * g / t
        m2 += p * (g / t) ** 2
    # per token (copy 1, copy 2): P(1,0) = P(0,1) = min(t, 1-t), P(0,0) = max(0, 1-2t), P(1,1) = max(0, 2t-1)
    joint = {(1, 0): torch.minimum(t, 1 - t), (0, 1): torch.minimum(t, 1 - t),
             (0, 0): (1 - 2 * t).clamp(min=0), (1, 1): (2 * t - 1).clamp(min=0)}
    q = torch.zeros_like(t)
    c = len(next(iter(costs)))
    for pairs in itertools.product(joint, repeat=c):
        p = torch.ones_like(t)
        for ab in pairs:
            p = p * joint[ab]
        a = tuple(ab[0] for ab in pairs)
        b = tuple(ab[1] for ab in pairs)
        q += p * ((costs[a] + costs[b]) / (2 * t)) ** 2
    return m1, m2, q


def exact_elbo_variance(
    policy: TabularPolicy, seq, prompt_len: int, *, draws: int, time_sampler: str, mask_sampler: str,
    t_eps: float = 1e-3,
) -> tuple[float, float]:
    """``(mean, variance)`` of :class:`mdm.rl.likelihood.Elbo`'s estimate of ``seq`` with the linear
    schedule, exactly (the block comment above); ``time_sampler`` uniform / antithetic / stratified,
    ``mask_sampler`` bernoulli / mirror (mirror with uniform or antithetic times)."""
    lo, hi = t_eps, 1 - t_eps
    span = hi - lo
    costs = _mask_costs(policy, seq, prompt_len)
    t, w = _nodes(lo, hi, t_eps)
    w = w / span  # the density of t
    m1, m2, q = _moments(costs, t)
    mu = float((w * m1).sum())
    v = float((w * m2).sum()) - mu**2
    m1_flip = _moments(costs, 1 - t)[0]  # t -> 1 - t maps [eps, 1 - eps] onto itself
    c_a = float((w * m1 * m1_flip).sum()) - mu**2
    v_m = float((w * q).sum()) - mu**2
    if mask_sampler == "bernoulli" and time_sampler == "uniform":
        var = v / draws
    elif mask_sampler == "bernoulli" and time_sampler == "antithetic" and draws % 2 == 0:
        var = (v + c_a) / draws
    elif mask_sampler == "mirror" and time_sampler == "uniform" and draws == 1:
        var = v_m
    elif mask_sampler == "mirror" and time_sampler == "antithetic" and draws % 2 == 0:
        var = (v_m + c_a) / draws
    elif mask_sampler == "bernoulli" and time_sampler == "stratified":
        var = 0.0
        for k in range(draws):
            a, b = lo + span * k / draws, lo + span * (k + 1) / draws
            tk, wk = _nodes(a, b, t_eps)
            wk = wk / (b - a)
            n1, n2, _ = _moments(costs, tk)
            var += float((wk * n2).sum()) - float((wk * n1).sum()) ** 2
        var /= draws**2
    else:
        raise ConfigError(f"no exact variance for {draws} x {time_sampler} times with {mask_sampler} masks")
    return -mu, var
