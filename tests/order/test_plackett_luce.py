"""sample_order is Plackett--Luce(w): first-position and pairwise frequencies, direction, errors."""

from __future__ import annotations

import itertools

import pytest
import torch

from mdm.errors import MDMError
from mdm.order import decode_ranks, order_log_prob, sample_order

W = torch.tensor([0.3, 1.0, 2.5, 0.7, 4.0], dtype=torch.float64)
N = 200_000


def test_first_position_and_pairwise_frequencies():
    orders = sample_order(W, N, generator=torch.Generator().manual_seed(0))
    assert orders.shape == (N, 5)
    assert (orders.sort(1).values == torch.arange(5)).all()  # every row a permutation
    first = torch.bincount(orders[:, 0], minlength=5).double() / N
    expect = W / W.sum()
    se = (expect * (1 - expect) / N).sqrt()
    assert ((first - expect).abs() <= 5 * se).all(), (first, expect)  # 5 standard errors
    ranks = decode_ranks(orders)
    for i, j in itertools.combinations(range(5), 2):
        freq = float((ranks[:, i] < ranks[:, j]).double().mean())
        p = float(W[i] / (W[i] + W[j]))
        assert abs(freq - p) <= 5 * (p * (1 - p) / N) ** 0.5, (i, j, freq, p)


def test_larger_weight_is_decoded_earlier():
    orders = sample_order(torch.tensor([1e-3, 1e3]), 100, generator=torch.Generator().manual_seed(1))
    assert (orders[:, 0] == 1).all()


def test_order_log_prob_is_a_distribution_over_permutations():
    perms = torch.tensor(list(itertools.permutations(range(4))))
    w = W[:4]
    total = order_log_prob(w, perms).exp().sum()
    assert abs(float(total) - 1.0) < 1e-12
    # and matches the empirical law of sample_order on a few permutations
    orders = sample_order(w, N, generator=torch.Generator().manual_seed(2))
    for perm in perms[:5]:
        p = float(order_log_prob(w, perm.unsqueeze(0)).exp())
        freq = float((orders == perm).all(1).double().mean())
        assert abs(freq - p) <= 5 * (p * (1 - p) / N) ** 0.5


@pytest.mark.parametrize("w", [torch.tensor([1.0, 0.0]), torch.tensor([1.0, -2.0]),
                               torch.tensor([1.0, float("nan")]), torch.tensor([]), torch.ones(2, 2)])
def test_bad_weights_raise(w):
    with pytest.raises(MDMError, match="w"):
        sample_order(w, 3)


def test_bad_n_raises():
    with pytest.raises(MDMError, match="n"):
        sample_order(torch.ones(3), 0)


def test_kendall_tau_of_weights_against_an_order():
    from mdm.order import kendall_tau

    order = torch.tensor([2, 0, 3, 1])  # position 2 first
    w = torch.tensor([3.0, 1.0, 4.0, 2.0])  # descending w: 2, 0, 3, 1
    assert kendall_tau(-w, order) == pytest.approx(1.0)
    assert kendall_tau(w, order) == pytest.approx(-1.0)
    # one discordant pair of 6 (positions 3 and 1 swapped): (5 - 1) / 6
    assert kendall_tau(-torch.tensor([3.0, 2.0, 4.0, 1.0]), order) == pytest.approx(4 / 6)


def test_step_probabilities_of_a_near_deterministic_order():
    from mdm.order import step_probabilities

    w = torch.tensor([1.0, 1e4, 1e-4], dtype=torch.float64)  # decoded 1, 0, 2 almost surely
    p = step_probabilities(w, n=500, seed=0)
    assert torch.allclose(p.sum(1), torch.ones(3, dtype=torch.float64)) and torch.allclose(p.sum(0), p.sum(1))
    assert p[1, 0] == 1.0 and p[0, 1] == 1.0 and p[2, 2] == 1.0
