"""The exact order oracles against brute force on tiny registers (every sequence, every order)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from mdm.errors import MDMError
from mdm.languages import Enumerated
from mdm.order.oracle import (
    best_orders,
    chance_tau,
    easy_first_order,
    expected_order1_nelbo,
    masked_losses,
    order1_nelbo,
    subset_entropies,
    tau_to_nearest,
)
from mdm.order.plackett_luce import order_log_prob
from mdm.sampling.exact import all_sequences
from mdm.tasks.planted import PlantedOrder


def _marginal_entropy(p: torch.Tensor, positions) -> float:
    """H(X_S) by summing p over every sequence into a dict keyed by the visible tokens."""
    seqs = all_sequences(p.shape[0], p.dim())
    probs = p[tuple(seqs.T)]
    acc: dict = {}
    for x, q in zip(seqs.tolist(), probs.tolist()):
        key = tuple(x[i] for i in positions)
        acc[key] = acc.get(key, 0.0) + q
    return -sum(q * math.log(q) for q in acc.values() if q > 0)


@pytest.mark.parametrize("kw", [{}, {"start": "uniform"}, {"circular": True}])
def test_subset_entropies_match_enumeration(kw):
    p = PlantedOrder.random(4, 4, 0.1, seed=1, **kw).probabilities()
    h = subset_entropies(p)
    for mask in range(16):
        positions = [i for i in range(4) if mask >> i & 1]
        assert float(h[mask]) == pytest.approx(_marginal_entropy(p, positions), abs=1e-12)


def test_masked_losses_match_the_exact_denoisers_loss_integrated_over_t():
    """(eq. EF) against its definition: the exact denoiser's expected loss of a masked position,
    others masked w.p. t, integrated over t by 20-point Gauss-Legendre (exact: a polynomial in t).
    A random joint law over {0, 1, 2}^4 (a Markov chain's losses hide wrong subset weights)."""
    p = torch.rand(3, 3, 3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) ** 4
    p /= p.sum()
    seqs = all_sequences(3, 4)
    probs = p[tuple(seqs.T)]
    denoiser = Enumerated(seqs, probs).denoiser()
    nodes, weights = np.polynomial.legendre.leggauss(20)
    ts, ws = (nodes + 1) / 2, weights / 2
    for pos in range(4):
        others = [i for i in range(4) if i != pos]
        loss_by_visible = {}
        for k in range(4):
            for visible in itertools.combinations(others, k):
                x = seqs.clone()
                x[:, [i for i in range(4) if i not in visible]] = denoiser.mask_id
                logp = denoiser(x).log_softmax(-1)[torch.arange(len(seqs)), pos, seqs[:, pos]]
                loss_by_visible[visible] = float(-(probs * logp.double()).sum())
        integral = sum(w * sum(t ** (3 - len(v)) * (1 - t) ** len(v) * loss
                               for v, loss in loss_by_visible.items()) for t, w in zip(ts, ws))
        assert float(masked_losses(p)[pos]) == pytest.approx(integral, abs=1e-9)


def _order1_by_enumeration(p: torch.Tensor, order) -> float:
    """H(X_first) + sum H(X_next | X_prev) with each conditional entropy summed from the joint."""
    total = _marginal_entropy(p, [order[0]])
    for a, b in zip(order, order[1:]):
        total += _marginal_entropy(p, sorted([a, b])) - _marginal_entropy(p, [a])
    return total


def test_order1_nelbo_and_the_best_orders_by_brute_force():
    """Noise-free registers: the stationary one is Markov along pi and its reverse only (order-1 NELBO =
    H = log V + (L - 1) log 2); the circular one's best orders are its 2L rotations and reflections."""
    length = 5
    stationary = PlantedOrder.random(4, length, 0.0, seed=3, start="uniform")
    p = stationary.probabilities()
    h = subset_entropies(p)
    orders = torch.tensor(list(itertools.permutations(range(length))))
    for order in orders[::7]:
        brute = _order1_by_enumeration(p, order.tolist())
        assert float(order1_nelbo(h, order[None])) == pytest.approx(brute, abs=1e-9)
    best, found = best_orders(h)
    assert best == pytest.approx(math.log(4) + (length - 1) * math.log(2), abs=1e-9)
    chains = {tuple(stationary.perm.tolist()), tuple(stationary.perm.flip(0).tolist())}
    assert {tuple(o) for o in found.tolist()} == chains
    circular = PlantedOrder.random(4, length, 0.0, seed=3, circular=True)
    _, found = best_orders(subset_entropies(circular.probabilities()))
    rotations = {tuple(circular.perm.roll(s).tolist()) for s in range(length)}
    assert {tuple(o) for o in found.tolist()} == rotations | {tuple(reversed(o)) for o in rotations}


def test_expected_order1_nelbo_is_the_plackett_luce_average():
    h = subset_entropies(PlantedOrder.random(4, 4, 0.1, seed=0).probabilities())
    w = torch.tensor([0.3, 2.0, 1.0, 0.7], dtype=torch.float64)
    orders = torch.tensor(list(itertools.permutations(range(4))))
    direct = sum(float(order_log_prob(w, o[None]).exp()) * float(order1_nelbo(h, o[None])) for o in orders)
    assert expected_order1_nelbo(h, w) == pytest.approx(direct, abs=1e-12)


def test_easy_first_and_the_three_registers():
    """The planted register's easy-first order puts pi(0) first; the circular one's losses all tie (no
    order); the stationary one's ends are its hardest positions."""
    planted = PlantedOrder.random(4, 6, 0.05, seed=4)
    assert int(easy_first_order(masked_losses(planted.probabilities()))[0]) == int(planted.perm[0])
    circular = masked_losses(PlantedOrder.random(4, 6, 0.05, seed=4, circular=True).probabilities())
    assert easy_first_order(circular) is None
    stationary = PlantedOrder.random(4, 6, 0.05, seed=4, start="uniform")
    losses = masked_losses(stationary.probabilities())
    ends = {int(stationary.perm[0]), int(stationary.perm[-1])}
    assert set(losses.argsort(descending=True)[:2].tolist()) == ends


def test_tau_to_nearest_and_chance_tau():
    orders = torch.tensor([[0, 1, 2, 3], [3, 2, 1, 0]])
    assert tau_to_nearest(torch.tensor([3.0, 2.0, 1.0, 0.0]), orders) == pytest.approx(1.0)
    assert math.isnan(tau_to_nearest(torch.ones(4), orders))
    # exact chance level: the mean over all 24 orders of max(tau, -tau) = E|tau|
    taus = [tau_to_nearest(torch.tensor(o, dtype=torch.float64).argsort().double(), orders)
            for o in itertools.permutations(range(4))]
    # n = 20,000 draws of |tau| (sd < 0.35): the mean within 4 SE of the enumeration
    exact = sum(taus) / len(taus)
    assert chance_tau(orders, n=20_000) == pytest.approx(exact, abs=4 * 0.35 / math.sqrt(20_000))


def test_bad_tables_raise():
    with pytest.raises(MDMError, match="sum to 1"):
        subset_entropies(torch.full((2, 2), 0.3))
    with pytest.raises(MDMError, match="tensor"):
        subset_entropies(torch.ones(2, 3) / 6)
