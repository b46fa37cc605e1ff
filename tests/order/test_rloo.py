"""The RLOO gradient estimator: its mean is the gradient of the exact expected loss (finite
differences on an enumerable toy); the pathwise part alone is biased."""

from __future__ import annotations

import pytest
import torch

from mdm.errors import MDMError
from mdm.order import PerPositionSchedule, expected_order_loss, gradient_stats, order_loss
from mdm.variance import UniformTime


def _fd_gradient(den, x0, theta, h=1e-4):
    grad = torch.zeros_like(theta)
    for i in range(theta.numel()):
        e = torch.zeros_like(theta)
        e[i] = h
        up = expected_order_loss(den, x0, torch.nn.functional.softplus(theta + e)).sum()
        down = expected_order_loss(den, x0, torch.nn.functional.softplus(theta - e)).sum()
        grad[i] = (up - down) / (2 * h)
    return grad


def test_rloo_mean_matches_finite_difference_gradient(make_table):
    den = make_table(vocab=2, length=3, seed=2, scale=1.0)
    x0 = torch.tensor([[0, 1, 1]])
    # w > 1: the continuous-time estimator's variance is finite (weight w/t, mask prob t^w)
    sched = PerPositionSchedule(3, init=torch.tensor([1.5, 2.0, 3.0], dtype=torch.float64))
    sched.theta.data = sched.theta.data.double()
    fd = _fd_gradient(den, x0, sched.theta.detach())
    rows = x0.repeat(4000, 1)  # 4000 copies x 4 draws per batch estimate, 16 estimates
    stats = gradient_stats(den, rows, sched, draws=4, repeats=16, generator=torch.Generator().manual_seed(0),
                           time_sampler=UniformTime(eps=0.0, dtype=torch.float64))
    rloo, se = stats.rloo_mean / 4000, (stats.rloo_var / 16).sqrt() / 4000
    assert ((rloo - fd).abs() <= 5 * se + 1e-3).all(), (rloo, fd, se)
    path = stats.pathwise_mean / 4000
    assert (path - fd).abs().max() > 10 * se.max()  # the score term is not negligible here


def test_order_loss_value_is_the_nelbo_and_its_gradient_has_the_score(make_table):
    den = make_table(vocab=2, length=3, seed=2)
    x0 = torch.tensor([[0, 1, 1], [1, 1, 0]])
    sched = PerPositionSchedule(3, init=torch.tensor([1.5, 2.0, 3.0]))
    kw = dict(draws=3, time_sampler=UniformTime(eps=0.0))
    a = order_loss(den, x0, sched, estimator="rloo", generator=torch.Generator().manual_seed(0), **kw)
    b = order_loss(den, x0, sched, estimator="pathwise", generator=torch.Generator().manual_seed(0), **kw)
    assert torch.allclose(a.loss, b.loss) and torch.allclose(a.per_sample, b.per_sample)
    ga = torch.autograd.grad(a.loss, sched.theta)[0]
    gb = torch.autograd.grad(b.loss, sched.theta)[0]
    assert not torch.allclose(ga, gb)


def test_bad_input_raises(make_table):
    den = make_table(vocab=2, length=3)
    x0 = torch.tensor([[0, 1, 1]])
    with pytest.raises(MDMError, match="draws"):
        order_loss(den, x0, PerPositionSchedule(3), draws=1)
    with pytest.raises(MDMError, match="estimator"):
        order_loss(den, x0, PerPositionSchedule(3), estimator="reinforce")
