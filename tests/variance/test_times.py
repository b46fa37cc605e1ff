import math

import pytest
import torch

import mdm
from mdm.variance import AntitheticTime, BernoulliMask, StratifiedTime, UniformTime

SAMPLERS = [UniformTime, AntitheticTime, StratifiedTime]


def _pooled(sampler, batch, calls, seed):
    g = torch.Generator().manual_seed(seed)
    draws = [sampler(batch, generator=g) for _ in range(calls)]
    return torch.cat([t for t, _ in draws]), torch.cat([w for _, w in draws])


def _ks_uniform(x, lo, hi):
    """Kolmogorov-Smirnov distance between the sample x and U[lo, hi]."""
    x = ((x.double() - lo) / (hi - lo)).sort().values
    n = x.numel()
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return max((i / n - x).max().item(), (x - (i - 1) / n).max().item())


@pytest.mark.parametrize("cls", SAMPLERS)
@pytest.mark.parametrize("eps", [0.0, 1e-3])
def test_marginal_of_t_is_uniform(cls, eps):
    # n = 20,010 pooled draws (batches of 23, odd to leave one antithetic row unpaired); the 1% KS
    # critical value is 1.63 / sqrt(n) = 0.0115.  A stratified sampler without its jitter, or t in
    # [0, 1] instead of [eps, 1 - eps] for eps = 0.1, would exceed it.
    t, w = _pooled(cls(eps=eps), 23, 870, seed=0)
    assert _ks_uniform(t, eps, 1 - eps) < 1.63 / math.sqrt(t.numel())
    assert (t >= eps).all() and (t <= 1 - eps).all()
    assert (w == 1).all()


def test_ks_check_detects_a_wrong_range():
    t, _ = _pooled(UniformTime(eps=0.0), 23, 870, seed=0)
    assert _ks_uniform(t, 0.1, 0.9) > 1.63 / math.sqrt(t.numel())


@pytest.mark.parametrize("cls", SAMPLERS)
def test_interface_dtype_and_determinism(cls):
    sampler = cls(dtype=torch.float64)
    t, w = sampler(7, generator=torch.Generator().manual_seed(1))
    assert t.shape == w.shape == (7,) and t.dtype == w.dtype == torch.float64
    t2, _ = sampler(7, generator=torch.Generator().manual_seed(1))
    t3, _ = sampler(7, generator=torch.Generator().manual_seed(2))
    assert torch.equal(t, t2) and not torch.equal(t, t3)
    t32, _ = cls()(7, generator=torch.Generator().manual_seed(1))
    assert t32.dtype == torch.float32 and t32.device.type == "cpu"


@pytest.mark.parametrize("batch", [1, 2, 9, 64])
def test_antithetic_pairs_sum_to_one(batch):
    t, _ = AntitheticTime(dtype=torch.float64)(batch, generator=torch.Generator().manual_seed(3))
    half = math.ceil(batch / 2)
    paired = batch - half
    torch.testing.assert_close(t[:paired] + t[half:], torch.ones(paired, dtype=torch.float64),
                               rtol=0, atol=1e-15)


@pytest.mark.parametrize("batch", [1, 5, 64])
def test_stratified_has_one_sample_per_stratum(batch):
    eps = 1e-3
    for seed in range(20):
        sampler = StratifiedTime(eps=eps, dtype=torch.float64)
        t, _ = sampler(batch, generator=torch.Generator().manual_seed(seed))
        u = (t - eps) / (1 - 2 * eps)
        stratum = torch.floor(u * batch + 1e-9).long().clamp(max=batch - 1)
        assert torch.equal(stratum, torch.arange(batch))


def test_stratified_and_antithetic_reduce_the_variance_of_a_batch_mean():
    # batch mean of the increasing f(t) = t^2 over 2,000 batches of 16: both correlated samplers
    # cut the variance of the mean at least 4x (stratified: ~B^2 x; antithetic: ~15x for t^2).
    def var_of_mean(sampler):
        g = torch.Generator().manual_seed(4)
        means = torch.stack([(sampler(16, generator=g)[0].double() ** 2).mean() for _ in range(2000)])
        return means.var().item()

    base = var_of_mean(UniformTime())
    assert var_of_mean(StratifiedTime()) < base / 4
    assert var_of_mean(AntitheticTime()) < base / 4


def test_bernoulli_mask_rate_and_determinism():
    # n = 20,000 rows; each column's rate within 4 standard errors of its probability.
    p = torch.tensor([0.0, 0.2, 0.5, 0.99, 1.0]).repeat(20_000, 1)
    masked = BernoulliMask()(p, generator=torch.Generator().manual_seed(5))
    assert masked.dtype == torch.bool and masked.shape == p.shape
    rate = masked.double().mean(0)
    p0 = p[0].double()
    assert ((rate - p0).abs() <= 4 * (p0 * (1 - p0) / 20_000).sqrt()).all()
    again = BernoulliMask()(p, generator=torch.Generator().manual_seed(5))
    assert torch.equal(masked, again)


@pytest.mark.parametrize("make", [lambda: UniformTime(eps=-0.1), lambda: StratifiedTime(eps=0.5),
                                  lambda: AntitheticTime()(0), lambda: UniformTime()(2.0)])
def test_bad_settings_raise(make):
    with pytest.raises(mdm.ConfigError):
        make()
