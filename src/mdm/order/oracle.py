"""Exact order oracles of a small joint law ``p`` (a ``(V,) * L`` table of probabilities).

For Garg et al. (arXiv 2511.19152): an exact denoiser scores ``-log p(x0)`` along every order, so
the NELBO alone does not say which order is "best".  Two exact quantities do:

* the **easy-first push** (:func:`masked_losses`): at ``w = 1`` (where training starts) the
  pathwise part of ``dNELBO/dw_l`` is ``int_0^1 F_l(t) dt``, the average masked loss of position
  ``l`` (``F_l(t)``: the loss of ``l`` when masked, every other position masked w.p. ``t``).  For
  the exact denoiser ``F_l`` is a conditional entropy, and averaging over ``t ~ U(0, 1)`` gives a
  visible set ``S`` of the other ``L - 1`` positions weight ``B(L - |S|, |S| + 1)``:

      A_l = sum_{S not containing l} |S|! (L - 1 - |S|)! / L! * [H(X_{S+l}) - H(X_S)].    (eq. EF)

  Pushing ``w_l`` down in proportion to ``A_l`` decodes the easy positions first
  (:func:`easy_first_order`);
* the **order-1 NELBO** of an order ``sigma`` (:func:`order1_nelbo`): the chain-rule loss of the
  best denoiser that sees only the previously decoded token,

      N1(sigma) = H(X_{sigma_0}) + sum_{j >= 1} H(X_{sigma_j} | X_{sigma_{j-1}})  >=  H(X),  (eq. N1)

  equal to ``H(X)`` iff ``X`` is Markov along ``sigma``: a measure of how simple an order's
  conditionals are, whose minimisers (:func:`best_orders`, by enumerating all ``L!`` orders) are the
  orders a small model should prefer.
"""

from __future__ import annotations

import itertools
import math

import torch

from mdm.errors import ConfigError
from mdm.order.plackett_luce import kendall_tau, order_log_prob

__all__ = ["subset_entropies", "masked_losses", "easy_first_order", "order1_nelbo", "best_orders",
           "expected_order1_nelbo", "tau_to_nearest", "chance_tau", "order_oracles"]


def _check(p: torch.Tensor) -> torch.Tensor:
    if not isinstance(p, torch.Tensor) or p.dim() < 2 or len(set(p.shape)) != 1:
        raise ConfigError("p must be a (V,) * L tensor of probabilities, L >= 2")
    if (p < 0).any() or abs(float(p.sum()) - 1.0) > 1e-9:
        raise ConfigError(f"p must be non-negative and sum to 1, sums to {float(p.sum())}")
    return p.double()


def _entropy(p: torch.Tensor) -> float:
    return float(-(p * p.clamp_min(1e-300).log()).sum())


def subset_entropies(p: torch.Tensor) -> torch.Tensor:
    """``H[mask]``: the entropy in nats of the marginal of the positions in bitmask ``mask``, ``[2^L]``.

    Each marginal is summed from one with one position more (levels of decreasing size)."""
    p = _check(p)
    length = p.dim()
    full = (1 << length) - 1
    h = torch.zeros(1 << length, dtype=torch.float64)
    level = {full: p}  # mask -> marginal, axes the positions in the mask, ascending
    h[full] = _entropy(p)
    for size in range(length - 1, 0, -1):
        nxt = {}
        for mask in (m for m in range(1 << length) if bin(m).count("1") == size):
            k = next(i for i in range(length) if not mask >> i & 1)
            sup = level[mask | 1 << k]
            nxt[mask] = sup.sum(bin(mask & ((1 << k) - 1)).count("1"))
            h[mask] = _entropy(nxt[mask])
        level = nxt
    return h


def masked_losses(p: torch.Tensor, entropies: torch.Tensor | None = None) -> torch.Tensor:
    """(eq. EF): each position's exact masked loss averaged over t ~ U(0, 1) at ``w = 1`` (nats, ``[L]``)."""
    length = p.dim()
    h = subset_entropies(p) if entropies is None else entropies
    out = torch.zeros(length, dtype=torch.float64)
    for mask in range((1 << length) - 1):  # every visible set that leaves a position out
        size = bin(mask).count("1")
        weight = math.factorial(size) * math.factorial(length - 1 - size) / math.factorial(length)
        for pos in range(length):
            if not mask >> pos & 1:
                out[pos] += weight * (h[mask | 1 << pos] - h[mask])
    return out


def easy_first_order(losses: torch.Tensor, atol: float = 1e-9) -> torch.Tensor | None:
    """Positions by ascending average masked loss (easy first), or None when all are tied within ``atol``."""
    if float(losses.max() - losses.min()) <= atol:
        return None
    return losses.argsort(stable=True)


def order1_nelbo(entropies: torch.Tensor, orders: torch.Tensor) -> torch.Tensor:
    """(eq. N1) of each row of ``orders [n, L]`` from :func:`subset_entropies`: float64 ``[n]`` nats."""
    single = entropies[1 << orders]  # [n, L]
    pair = entropies[(1 << orders[:, 1:]) | (1 << orders[:, :-1])]
    return single[:, 0] + (pair - single[:, :-1]).sum(1)


def _all_orders(length: int) -> torch.Tensor:
    if length > 9:
        raise ConfigError(f"enumerating L! orders needs L <= 9, got {length}")
    return torch.tensor(list(itertools.permutations(range(length))), dtype=torch.long)


def best_orders(entropies: torch.Tensor, atol: float = 1e-9) -> tuple[float, torch.Tensor]:
    """The smallest (eq. N1) over all ``L!`` orders and every order that attains it (``[m, L]``)."""
    length = int(entropies.numel()).bit_length() - 1
    orders = _all_orders(length)
    n1 = order1_nelbo(entropies, orders)
    best = float(n1.min())
    return best, orders[n1 <= best + atol]


def expected_order1_nelbo(entropies: torch.Tensor, w: torch.Tensor) -> float:
    """(eq. N1) averaged over ``sigma ~ Plackett--Luce(w)``, exactly (all ``L!`` orders)."""
    orders = _all_orders(w.numel())
    probs = order_log_prob(w.double(), orders).exp()
    return float((probs * order1_nelbo(entropies, orders)).sum())


def tau_to_nearest(scores: torch.Tensor, orders: torch.Tensor) -> float:
    """The largest :func:`~mdm.order.kendall_tau` of ``scores`` (smaller first) against any row of
    ``orders``: agreement with the nearest of several equally good orders (NaN if all scores tie)."""
    taus = [kendall_tau(scores, order) for order in orders]
    return max((t for t in taus if not math.isnan(t)), default=float("nan"))


def chance_tau(orders: torch.Tensor, n: int = 2000, seed: int = 0) -> float:
    """The mean :func:`tau_to_nearest` of ``n`` uniformly random orders (seeded): what taking the
    largest tau over the rows of ``orders`` gives by chance."""
    length = orders.shape[1]
    ranks = torch.rand(n, length, generator=torch.Generator().manual_seed(seed)).argsort(1).argsort(1)

    def signs(r):  # [m, L, L]: sign(rank_i - rank_j)
        return (r.unsqueeze(-1) - r.unsqueeze(-2)).sign().double()

    tau = torch.einsum("nij,kij->nk", signs(ranks), signs(orders.argsort(1))) / (length * (length - 1))
    return float(tau.max(1).values.mean())


def order_oracles(p: torch.Tensor, reference: torch.Tensor) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """Every oracle above for the law ``p`` and a reference order (e.g. a planted one), as plain data:
    entropy, masked losses, the best orders and their order-1 NELBO, the reference's and uniform orders'
    order-1 NELBO, the easy-first push's tau to the nearest best order and that tau's chance level.
    Returns ``(data, subset entropies, best orders)``."""
    h = subset_entropies(p)
    losses = masked_losses(p, h)
    best, orders = best_orders(h)
    return {"entropy": float(h[-1]), "masked_loss": losses.tolist(), "order1_best": best,
            "best_orders": orders.tolist(), "chance_tau": chance_tau(orders),
            "order1_planted": float(order1_nelbo(h, reference[None])),
            "order1_uniform": expected_order1_nelbo(h, torch.ones(p.dim(), dtype=torch.float64)),
            "tau_easy_first": tau_to_nearest(losses.round(decimals=9), orders)}, h, orders
