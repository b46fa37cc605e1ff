"""PowerTime, the per-position time sampler: unbiased for the NELBO integral where U[eps, 1 - eps]
is not, with the finite variance its docstring derives, and unbiased RLOO gradients at small w."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.integrate import quad

from mdm.errors import MDMError
from mdm.order import PerPositionSchedule, expected_order_loss, gradient_stats
from mdm.order.times import PowerTime
from mdm.variance import AntitheticTime, UniformTime

W = torch.tensor([0.05, 0.3, 2.0], dtype=torch.float64)
N = 1_000_000


def _schedule(w):
    sched = PerPositionSchedule(len(w), init=w)
    sched.theta.data = sched.theta.data.double()
    return sched


def _f(t):  # F_l(t) = 1 + t for every position
    return 1.0 + t


def _draws(sampler, seed=0):
    """One draw per sample of sum_l importance * (w_l / t) * 1[l masked] * F_l(t): float64 [N]."""
    g = torch.Generator().manual_seed(seed)
    t, imp = sampler(N, generator=g)
    t, imp = t.double().unsqueeze(1), imp.double().unsqueeze(1)
    masked = torch.rand(N, len(W), generator=g, dtype=torch.float64) < t**W
    return (imp * W / t * masked * _f(t)).sum(1)


def _exact_mean():  # int_0^1 sum_l w_l t^{w_l - 1} (1 + t) dt
    return float(sum(1.0 + w / (w + 1.0) for w in W.tolist()))


def _exact_variance(c):
    """Var of one draw with t = u^{1/c}: masked w.p. u^{w/c}, weight (w/c)/u (module docstring)."""
    w = [x / c for x in W.tolist()]

    def second(u):
        f = 1.0 + u ** (1.0 / c)
        diag = sum(a * a * u ** (a - 2.0) * f * f for a in w)
        cross = sum(a * b * u ** (a + b - 2.0) * f * f
                    for i, a in enumerate(w) for j, b in enumerate(w) if i != j)
        return diag + cross

    return quad(second, 0.0, 1.0, limit=400, points=[1e-6, 1e-3])[0] - _exact_mean() ** 2


def test_power_time_is_unbiased_where_truncated_uniform_is_not():
    exact = _exact_mean()
    x = _draws(PowerTime(_schedule(W)))
    se = float(x.std()) / math.sqrt(N)
    assert abs(float(x.mean()) - exact) < 4 * se, (float(x.mean()), exact, se)
    assert se < 0.03  # n = 1e6: small enough to see the truncation bias below (0.7)
    # U[1e-3, 1 - 1e-3] drops eps^w of each masking time: 0.71 of the w = 0.05 position's mass
    y = _draws(UniformTime(eps=1e-3, dtype=torch.float64))
    se_y = float(y.std()) / math.sqrt(N)
    assert exact - float(y.mean()) > 0.5 and exact - float(y.mean()) > 20 * se_y, (float(y.mean()), exact)


def test_power_time_variance_is_the_finite_one_derived():
    sampler = PowerTime(_schedule(W))
    assert sampler.exponent() == pytest.approx(0.025)
    exact = _exact_variance(0.025)
    assert math.isfinite(exact) and exact < 1000
    var = float(_draws(sampler, seed=1).var())
    assert abs(var - exact) < 0.15 * exact, (var, exact)


def test_power_time_follows_the_current_w_and_draws_float64():
    sched = _schedule(torch.tensor([0.4, 1.0, 3.0]))
    sampler = PowerTime(sched)
    assert sampler.exponent() == pytest.approx(0.2)
    sched.theta.data[0] = 5.0  # w_0 = softplus(5) > 1: c follows the schedule
    assert sampler.exponent() == pytest.approx(0.5)
    t, imp = sampler(1000, generator=torch.Generator().manual_seed(0))
    assert t.dtype == imp.dtype == torch.float64 and bool((t > 0).all()) and bool((t <= 1).all())
    # importance weight is 1/p(t) = t^{1-c}/c where t is representable
    assert torch.allclose(imp, t ** 0.5 / 0.5)
    with pytest.raises(MDMError, match="batch_size"):
        sampler(0)


def test_tiny_times_get_weight_zero_not_nan():
    sched = _schedule(torch.tensor([0.004, 1.0]))  # c = 0.002: t = u^500 underflows for u < 0.25
    t, imp = PowerTime(sched)(10_000, generator=torch.Generator().manual_seed(0))
    assert bool((t >= 1e-300).all()) and bool(torch.isfinite(imp).all()) and bool((imp == 0).any())
    weight = sched.weight(t) * imp.unsqueeze(1)
    assert bool(torch.isfinite(weight).all())
    weight.sum().backward()
    assert bool(torch.isfinite(sched.theta.grad).all())


def test_rloo_gradient_with_power_time_matches_finite_difference_at_small_w(make_table):
    den = make_table(vocab=2, length=3, seed=2, scale=1.0)
    x0 = torch.tensor([[0, 1, 1]])
    sched = _schedule(torch.tensor([0.1, 0.5, 2.0], dtype=torch.float64))
    theta, h = sched.theta.detach(), 1e-4
    fd = torch.zeros_like(theta)
    for i in range(3):
        e = torch.zeros_like(theta)
        e[i] = h
        up = expected_order_loss(den, x0, torch.nn.functional.softplus(theta + e)).sum()
        down = expected_order_loss(den, x0, torch.nn.functional.softplus(theta - e)).sum()
        fd[i] = (up - down) / (2 * h)
    rows = x0.repeat(4000, 1)
    stats = gradient_stats(den, rows, sched, draws=4, repeats=16, generator=torch.Generator().manual_seed(0),
                           time_sampler=PowerTime(sched))
    rloo, se = stats.rloo_mean / 4000, (stats.rloo_var / 16).sqrt() / 4000
    assert ((rloo - fd).abs() <= 5 * se + 1e-3).all(), (rloo, fd, se)
    # the trainer's old times (antithetic on [1e-3, 1 - 1e-3]) overstate dN/dtheta_0: w_0 is pushed down
    old = gradient_stats(den, rows, sched, draws=4, repeats=16, generator=torch.Generator().manual_seed(0),
                         time_sampler=AntitheticTime(eps=1e-3))
    old_mean, old_se = old.rloo_mean[0] / 4000, float(old.rloo_var[0] / 16) ** 0.5 / 4000
    assert old_mean - fd[0] > 10 * max(old_se, float(se[0])), (old_mean, fd[0])
