"""The variance-reduction switch of the ELBO estimate inside the RL objective, on exact oracles.

Toy: the tabular policy of test_rl_likelihood.py (V = 2, L = 4, prompt 1, completion 3).  The mean and
variance of every ELBO setting are known exactly (:func:`mdm.rl.tabular.exact_elbo_variance`, sums over
the 2^3 masks / 4^3 MIRROR mask pairs, integrated over t).  Monte-Carlo checks: fixed seeds, M
estimates per sequence, tolerance 4.5 standard errors of the sample variance (from the fourth moment)."""

from __future__ import annotations

import math

import pytest
import torch

from mdm.errors import ConfigError
from mdm.rl.likelihood import Elbo, OneStep
from mdm.rl.surrogates import sandwich_objective
from mdm.rl.tabular import TabularPolicy, exact_elbo, exact_elbo_variance
from mdm.rl.variance import ELBO_SETTINGS, gradient_spread, rows_per_sequence, spg_half_loss

P = 1
SEQS = torch.tensor([[0, 1, 1, 0], [1, 0, 1, 0], [1, 1, 0, 0]])


@pytest.fixture(scope="module")
def policy():
    return TabularPolicy(2, 4, scale=2.0, seed=3)


def _exact(policy, est: Elbo, t_eps: float):
    return [exact_elbo_variance(policy, s, P, draws=est.draws, time_sampler=est.time_sampler,
                                mask_sampler=est.mask_sampler, t_eps=t_eps) for s in SEQS]


def test_the_exact_mean_is_the_elbo(policy):
    # at t_eps = 1e-3 the truncated time integral misses < 0.01 nats
    for name, est in ELBO_SETTINGS.items():
        for (mean, _), s in zip(_exact(policy, est, 1e-3), SEQS):
            assert mean == pytest.approx(float(exact_elbo(policy, s, P).detach()), abs=0.01), name


@pytest.mark.parametrize("name", ["uniform x2", "antithetic x2", "mirror x1", "antithetic+mirror x2"])
def test_the_estimator_has_the_exact_variance(policy, name):
    # t_eps = 0.05 bounds the estimate's fourth moment, so M = 6000 pins its sample variance (about 4%)
    e = ELBO_SETTINGS[name]
    est = Elbo(draws=e.draws, time_sampler=e.time_sampler, mask_sampler=e.mask_sampler, t_eps=0.05)
    m = 6000
    with torch.no_grad():
        d = est(policy, SEQS.repeat(m, 1), P, torch.Generator().manual_seed(11)).sequence()
    d = d.view(m, 3).double()
    c = d - d.mean(0)
    var = c.pow(2).mean(0)
    se_var = ((c.pow(4).mean(0) - var**2) / m).sqrt()
    exact = _exact(policy, est, 0.05)
    for i, (mean, v) in enumerate(exact):
        assert abs(float(var[i]) - v) < 4.5 * float(se_var[i]), (name, i, float(var[i]), v)
        assert abs(float(d[:, i].mean()) - mean) < 4.5 * math.sqrt(v / m), (name, i)


@pytest.mark.parametrize("t_eps", [1e-3, 0.05])
def test_the_switch_lowers_the_exact_variance_at_equal_rows(policy, t_eps):
    var = {name: [v for _, v in _exact(policy, est, t_eps)] for name, est in ELBO_SETTINGS.items()}
    rows = {name: rows_per_sequence(est) for name, est in ELBO_SETTINGS.items()}
    for on, off in [("antithetic x2", "uniform x2"), ("mirror x1", "uniform x2"),
                    ("antithetic x4", "uniform x4"), ("stratified x4", "uniform x4"),
                    ("antithetic+mirror x2", "uniform x4")]:
        assert rows[on] == rows[off]
        assert all(a < b for a, b in zip(var[on], var[off])), (on, off, var[on], var[off])
    # ... but by little on this toy: the 1/t weight of rarely masked tokens dominates (rl.md)
    assert all(a > 0.9 * b for a, b in zip(var["antithetic x2"], var["uniform x2"]))
    print(t_eps, {k: [round(x, 3) for x in v] for k, v in var.items()})


def test_gradient_spread_is_the_sample_covariance_trace():
    # loss_r(theta) = theta . z_r, z_r ~ N(0, I) from the r-th generator: g_r = z_r exactly
    theta = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    zs = []

    def loss(g):
        z = torch.randn(5, generator=g, dtype=torch.float64) + torch.arange(5.0, dtype=torch.float64)
        zs.append(z)
        return (theta * z).sum()

    got = gradient_spread(loss, [theta], 40, seed=3)
    z = torch.stack(zs)
    assert got["trace_var"] == pytest.approx(float(z.var(0).sum()), rel=1e-12)
    assert got["mean_sq_norm"] == pytest.approx(float((z.mean(0) ** 2).sum()), rel=1e-12)
    assert got["trace_var"] == pytest.approx(5.0, rel=0.5)  # 40 draws of tr I = 5
    with pytest.raises(ConfigError):
        gradient_spread(loss, [theta], 1)


def test_the_two_halves_add_up_to_minus_the_sandwich(policy):
    # a deterministic estimator (one-step, no prompt mask) so both sides see the same numbers
    est = OneStep(p_mask=0.0)
    adv = torch.tensor([0.7, -1.2, 0.0])
    g = torch.Generator().manual_seed(0)
    total = (spg_half_loss(est, policy, SEQS, P, adv, positive=True)(g)
             + spg_half_loss(est, policy, SEQS, P, adv, positive=False)(g))
    b = est(policy, SEQS, P, g).sequence()
    want = -sandwich_objective(b, b, adv, torch.full((3,), 3))[0]
    assert float(total) == pytest.approx(float(want), rel=1e-6)  # float32, as in SPG
    with pytest.raises(ConfigError):
        spg_half_loss(est, policy, SEQS, P, torch.ones(3), positive=False)


def test_exact_moments_match_the_estimator_on_a_transformer():
    # mask_costs through the output-mask path of a (random, time-independent) transformer: the code's
    # Monte-Carlo mean and variance (M = 6000, t_eps = 0.05) agree with the exact ones (4.5 SE)
    from mdm.models.transformer import TransformerConfig, TransformerDenoiser
    from mdm.rl.variance import exact_elbo_moments, mask_costs

    torch.manual_seed(0)
    model = TransformerDenoiser(
        TransformerConfig(vocab_size=6, mask_id=5, d_model=16, n_layers=1, n_heads=2, max_len=6)
    ).eval()
    x = torch.tensor([[0, 1, 2, 3, 4, 0], [4, 4, 3, 2, 1, 0]])
    with torch.no_grad():
        costs = mask_costs(model, x, 2)
    assert costs.shape == (2, 16) and (costs[:, 0] == 0).all() and (costs[:, 1:] > 0).all()
    m = 6000
    for name in ("uniform x2", "mirror x1"):
        e = ELBO_SETTINGS[name]
        est = Elbo(draws=e.draws, time_sampler=e.time_sampler, mask_sampler=e.mask_sampler, t_eps=0.05)
        with torch.no_grad():
            d = est(model, x.repeat(m, 1), 2, torch.Generator().manual_seed(5)).sequence().view(m, 2).double()
        mean, var = exact_elbo_moments(costs, draws=e.draws, time_sampler=e.time_sampler,
                                       mask_sampler=e.mask_sampler, t_eps=0.05)
        c = d - d.mean(0)
        sv = c.pow(2).mean(0)
        se_var = ((c.pow(4).mean(0) - sv**2) / m).sqrt()
        assert ((sv - var).abs() < 4.5 * se_var).all(), (name, sv, var)
        assert ((d.mean(0) - mean).abs() < 4.5 * (var / m).sqrt()).all(), (name, d.mean(0), mean)


def test_time_share_bounds_what_antithetic_times_can_remove(policy):
    # one draw's variance V = Var_t m1 + E_t Var(f | t); an antithetic pair keeps the mask part in full,
    # so (V + C_a) / 2 >= (1 - share) V / 2 -- and on this toy the time part is about 1% of V
    from mdm.rl.variance import mask_costs, time_share

    with torch.no_grad():
        costs = mask_costs(policy, SEQS, P)
    share = time_share(costs)
    assert ((share > 0) & (share < 0.02)).all(), share
    for s, sh in zip(SEQS, share):
        _, one = exact_elbo_variance(policy, s, P, draws=1, time_sampler="uniform", mask_sampler="bernoulli")
        _, anti = exact_elbo_variance(policy, s, P, draws=2, time_sampler="antithetic",
                                      mask_sampler="bernoulli")
        assert anti >= (1 - float(sh)) * one / 2 - 1e-9
