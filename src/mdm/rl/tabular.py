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



def exact_elbo_variance(
    policy: TabularPolicy, seq, prompt_len: int, *, draws: int, time_sampler: str, mask_sampler: str,
    t_eps: float = 1e-3,
) -> tuple[float, float]:
    """``(mean, variance)`` of :class:`mdm.rl.likelihood.Elbo`'s estimate of ``seq`` (linear schedule),
    exactly: :func:`mdm.rl.variance.exact_elbo_moments` over the policy's ``2^C`` masked states."""
    from mdm.rl.variance import exact_elbo_moments, mask_costs

    seq = torch.as_tensor(seq, dtype=torch.long).unsqueeze(0)
    with torch.no_grad():
        costs = mask_costs(policy, seq, prompt_len)[0]
    return exact_elbo_moments(costs, draws=draws, time_sampler=time_sampler, mask_sampler=mask_sampler,
                              t_eps=t_eps)
