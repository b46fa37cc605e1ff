"""decompose() against brute force on enumerated languages with exact denoisers."""

import itertools

import numpy as np
import pytest
import torch

from mdm.errors import MDMError
from mdm.languages import Enumerated
from mdm.variance import decompose

EPS = 0.05  # keeps the 1/t tail of l light enough for a tight Monte-Carlo check


def _brute_force(lang, rows, eligible, eps=EPS, nodes=400):
    """Exact A, B, C, total: every mask enumerated, t integrated by Gauss-Legendre on [eps, 1-eps]."""
    den = lang.denoiser()
    n, length = rows.shape
    z, wq = np.polynomial.legendre.leggauss(nodes)
    t = eps + (1 - 2 * eps) * (z + 1) / 2
    wq = wq / 2  # weights of the uniform density on [eps, 1 - eps]
    g = np.zeros((n, nodes))
    s = np.zeros((n, nodes))
    for i in range(n):
        pos = [p for p in range(length) if eligible[i, p]]
        P = len(pos)
        for bits in itertools.product([0, 1], repeat=P):
            m = torch.zeros(length, dtype=torch.bool)
            m[[p for p, b in zip(pos, bits) if b]] = True
            k = int(m.sum())
            x = rows[i].masked_fill(m, den.mask_id).unsqueeze(0)
            logp = den(x)[0].log_softmax(-1)
            c = float(-logp[m, rows[i][m]].sum()) if k else 0.0
            prob = t ** k * (1 - t) ** (P - k)
            ell = c / (P * t)
            g[i] += prob * ell
            s[i] += prob * ell ** 2
    mean_x = (g * wq).sum(1)
    a = ((s - g ** 2) * wq).sum(1).mean()
    b = ((g ** 2 * wq).sum(1) - mean_x ** 2).mean()
    c = mean_x.var()
    total = (s * wq).sum(1).mean() - mean_x.mean() ** 2
    return a, b, c, total


@pytest.fixture(scope="module")
def toy():
    lang = Enumerated([[0, 1, 1, 0], [1, 0, 1, 1], [0, 0, 0, 1], [1, 1, 0, 0]], [0.4, 0.3, 0.2, 0.1])
    rows = lang.sequences.clone()
    eligible = torch.ones_like(rows, dtype=torch.bool)
    eligible[:, 0] = False  # a one-token "prompt": never masked, not counted in P
    return lang, rows, eligible


def test_each_term_matches_brute_force(toy):
    # 4 rows x 48 times x 8 masks x 8 replicates (+ 48 single draws per row per replicate); each term
    # within 4 standard errors of the exact value (4 terms: 4 SE keeps the family-wise false alarm < 1e-3).
    lang, rows, eligible = toy
    exact = _brute_force(lang, rows, eligible)
    d = decompose(lang.denoiser(), rows, eligible=eligible, n_t=48, n_masks=8, replicates=8, eps=EPS, seed=0)
    est = (d.A, d.B, d.C, d.total)
    se = (d.A_se, d.B_se, d.C_se, d.total_se)
    for name, e, m, s in zip("ABC", exact, est, se):
        assert abs(m - e) < 4 * s, (name, m, e, s)
    assert abs(est[3] - exact[3]) < 4 * se[3]
    assert min(exact[:3]) > 0.01  # every term is really there in this case


def test_terms_sum_to_total_within_3_se():
    # All 2^6 binary strings, half the mass on 000000: 12 copies of it and 12 other strings make C large
    # (~0.12 of a total ~0.39), so a total that forgot the between-row term would miss by > 3 SE.
    # n = 8 replicates x 24 rows x 32 times x 8 masks (and as many single draws for total).
    seqs = torch.tensor(list(itertools.product([0, 1], repeat=6)))
    probs = torch.full((64,), 0.5 / 63, dtype=torch.float64)
    probs[0] = 0.5
    lang = Enumerated(seqs, probs)
    rows = torch.cat([seqs[:1].repeat(12, 1), seqs[1:13]])
    d = decompose(lang.denoiser(), rows, n_t=32, n_masks=8, replicates=8, eps=EPS, seed=2)
    gap = d.A + d.B + d.C - d.total
    assert abs(gap) < 3 * (d.sum_se ** 2 + d.total_se ** 2) ** 0.5, d
    assert 0.25 * d.total < d.C


def test_one_sequence_has_no_data_noise(toy):
    lang, rows, eligible = toy
    d = decompose(lang.denoiser(), rows[:1], eligible=eligible[:1], n_t=8, n_masks=4, replicates=4, seed=0)
    assert d.C == 0.0 and d.C_se == 0.0 and d.A > 0 and d.B > 0
    a, b, c, total = d  # unpacks as (A, B, C, total)
    assert (a, b, c, total) == (d.A, d.B, d.C, d.total)
    # the same sequence repeated: C's estimate is zero up to its Monte-Carlo error
    d = decompose(lang.denoiser(), rows[:1].repeat(6, 1), eligible=eligible[:1].repeat(6, 1),
                  n_t=16, n_masks=4, replicates=8, eps=EPS, seed=1)
    assert abs(d.C) < 3 * d.C_se + 1e-12


def test_seed_reproducible_and_bad_input(toy):
    lang, rows, eligible = toy
    kw = dict(eligible=eligible, n_t=4, n_masks=2, replicates=2)
    assert decompose(lang.denoiser(), rows, seed=3, **kw) == decompose(lang.denoiser(), rows, seed=3, **kw)
    for bad in (dict(n_t=1), dict(n_masks=1), dict(replicates=1), dict(eps=0.5), dict(seed=1.5)):
        with pytest.raises(MDMError):
            decompose(lang.denoiser(), rows, **{**kw, **bad})
    with pytest.raises(MDMError):
        decompose(lang.denoiser(), rows.float())
    with pytest.raises(MDMError):
        decompose(lang.denoiser(), rows, eligible=eligible[:, :2])


class _Uniform:
    """Uniform logits over ``V`` real tokens: every masked token costs CE = log V exactly."""

    vocab_size, mask_id = 5, 4

    def __call__(self, x, attention_mask=None):
        logits = torch.zeros(*x.shape, self.vocab_size)
        logits[..., self.mask_id] = -torch.inf
        return logits


def test_estimator_variance_of_a_batch_matches_the_binomial_closed_form():
    """At a fixed t each of the P positions is masked with probability t, independently per row, and
    costs log V / t: the per-sample loss (1/P) sum is (log V)/(P t) Binomial(P, t), so the batch mean
    of B rows has variance (log V)^2 (1 - t) / (P t B).  1,500 draws: the estimate's relative SE is
    ~3.7%; tolerance 15% (seeds 0-2 gave 1.02, 0.98, 0.94 of it).  MIRROR's paired masks are far less
    noisy (0.2 of it at seed 0)."""
    from mdm.variance import BernoulliMask, MirrorMask, estimator_variance
    from mdm.variance._score import FixedTimes

    B, P, t = 8, 6, 0.4
    x0 = torch.zeros(B, P, dtype=torch.long)
    times = FixedTimes(torch.full((B,), t))
    got = estimator_variance(_Uniform(), x0, time_sampler=times, mask_sampler=BernoulliMask(), draws=1500)
    want = np.log(4) ** 2 * (1 - t) / (P * t * B)
    assert got == pytest.approx(want, rel=0.15)
    mirror = estimator_variance(_Uniform(), x0, time_sampler=times, mask_sampler=MirrorMask(), draws=200)
    assert mirror < 0.5 * want
    with pytest.raises(MDMError, match="draws"):
        estimator_variance(_Uniform(), x0, draws=1)
