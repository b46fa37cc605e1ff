"""Decoding orders of per-position schedules: Plackett--Luce with weights ``w``.

Under ``alpha_l(t) = 1 - t^{w_l}`` (Garg et al., arXiv 2511.19152) position ``l`` is masked at
time ``t`` iff its masking time ``T_l < t``, and ``P(T_l <= t) = t^{w_l}``.  The reverse process
reveals positions in DESCENDING masking time.  Since ``-log T_l ~ Exponential(rate w_l)``, the
order is an exponential race: position ``i`` comes first with probability ``w_i / sum(w)``, and
given the first ``j`` positions the rest follow the same law on what is left -- Plackett--Luce
with weights ``w``:

    P(sigma) = prod_j  w_{sigma_j} / sum_{k >= j} w_{sigma_k}.          (:func:`order_log_prob`)
"""

from __future__ import annotations

import torch

from mdm.errors import SamplingError
from mdm.order.schedule import check_weights

__all__ = ["masking_times", "sample_order", "order_log_prob", "decode_ranks", "kendall_tau",
           "step_probabilities"]


def masking_times(w: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``log t_l`` with ``t_l = alpha_l^{-1}(u_l) = (1 - u_l)^{1 / w_l}``, in float64 (``u [..., L]``).

    Returned as a logarithm: ``log1p(-u) / w`` keeps distinct times distinct where ``t`` itself
    would underflow for small ``w``."""
    return torch.log1p(-u.to(torch.float64)) / w.to(device=u.device, dtype=torch.float64)


def sample_order(w, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` decoding orders, LongTensor ``[n, L]``: each row a permutation, first decoded first.

    Drawn as the paper describes: ``u_l ~ U(0, 1)``, ``t_l = alpha_l^{-1}(u_l)``, positions sorted
    by descending ``t_l`` -- a Plackett--Luce draw with weights ``w`` (module docstring).
    """
    w = check_weights(w)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise SamplingError(f"n (how many orders) must be an int >= 1, got {n!r}")
    device = generator.device if generator is not None else torch.device("cpu")
    u = torch.rand(n, w.numel(), generator=generator, dtype=torch.float64, device=device)
    return masking_times(w, u).argsort(dim=-1, descending=True, stable=True)


def decode_ranks(orders: torch.Tensor) -> torch.Tensor:
    """The inverse permutations: ``ranks[r, l]`` is the step (0-based) at which position ``l`` is decoded."""
    ar = torch.arange(orders.shape[-1], device=orders.device).expand_as(orders)
    return torch.empty_like(orders).scatter_(-1, orders, ar)


def order_log_prob(w: torch.Tensor, orders: torch.Tensor) -> torch.Tensor:
    """Plackett--Luce ``log P(sigma)`` of each row of ``orders [n, L]`` (differentiable in ``w``)."""
    if not isinstance(w, torch.Tensor) or w.dim() != 1:
        raise SamplingError("w must be a 1-D tensor of positive weights")
    lw = w.log()[orders]  # [n, L] in decoding order
    # log sum_{k >= j} w_{sigma_k}: a reversed log-cumsum-exp
    tail = lw.flip(-1).logcumsumexp(-1).flip(-1)
    return (lw - tail).sum(-1)


def kendall_tau(scores: torch.Tensor, order: torch.Tensor) -> float:
    """Kendall tau-b between the positions ranked by ``scores`` (smaller first; ties kept) and the
    reference ``order`` (``order[j]``: the position that comes ``j``-th).  The Plackett--Luce mode
    of weights ``w`` is ``scores = -w``; NaN when every score is tied."""
    from scipy.stats import kendalltau

    return float(kendalltau(scores.detach().double().cpu().numpy(), order.argsort().cpu().numpy()).statistic)


def step_probabilities(w, n: int = 4000, seed: int = 0) -> torch.Tensor:
    """``P[l, j]``: the probability that position ``l`` is decoded at step ``j`` under PL(``w``),
    estimated from ``n`` orders drawn with ``seed``: float64 ``[L, L]``, rows sum to 1."""
    ranks = decode_ranks(sample_order(w, n, generator=torch.Generator().manual_seed(seed)))
    length = ranks.shape[1]
    return torch.stack([torch.bincount(ranks[:, p], minlength=length) for p in range(length)]).double() / n
