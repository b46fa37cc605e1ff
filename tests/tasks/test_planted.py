"""The planted-order family: an exact, normalised likelihood whose samples follow it."""

from __future__ import annotations

import pytest
import torch

from mdm.errors import MDMError
from mdm.sampling.exact import all_sequences
from mdm.tasks.base import build_task
from mdm.tasks.planted import PlantedOrder


def test_log_prob_is_normalised_and_entropy_exact():
    p = PlantedOrder.random(vocab=4, length=4, noise=0.1, seed=2)
    x = all_sequences(4, 4)
    lp = p.log_prob(x)
    assert abs(float(lp.exp().sum()) - 1.0) < 1e-12
    assert abs(float(-(lp.exp() * lp).sum()) - p.entropy()) < 1e-9


def test_samples_follow_the_law_and_the_rules():
    p = PlantedOrder.random(vocab=4, length=3, noise=0.1, seed=0)
    n = 60_000
    x = p.sample(n, torch.Generator().manual_seed(0))
    codes = x @ (4 ** torch.arange(2, -1, -1))
    freq = torch.bincount(codes, minlength=64).double() / n
    exact = p.log_prob(all_sequences(4, 3)).exp()
    assert ((freq - exact).abs() <= 5 * (exact * (1 - exact) / n).sqrt() + 1e-12).all()
    assert abs(float(p.follows_rule(x).double().mean()) - (0.9 + 0.1 * 2 / 4)) < 0.01


def test_task_builds_and_rejects_bad_options():
    bundle = build_task("planted-order", seq_len=6, seed=1, n_train=32, n_val=8)
    assert bundle.train.input_ids.shape == (32, 6) and int(bundle.train.input_ids.max()) < 8
    with pytest.raises(MDMError, match="power of two"):
        build_task("planted-order", seq_len=6, vocab=6)
    with pytest.raises(MDMError):
        build_task("planted-order", seq_len=6, noise=1.5)


@pytest.mark.parametrize("kw", [{"start": "uniform"}, {"circular": True}])
def test_variants_sample_their_exact_law(kw):
    """The stationary and circular registers: samples follow ``probabilities()`` (every cell within
    5 binomial SE, n = 60,000), which is normalised and gives ``log_prob`` and ``entropy``."""
    p = PlantedOrder.random(vocab=4, length=3, noise=0.1, seed=0, **kw)
    table = p.probabilities()
    x = all_sequences(4, 3)
    exact = table[tuple(x.T)]
    assert abs(float(exact.sum()) - 1.0) < 1e-12
    assert torch.allclose(p.log_prob(x), exact.log())
    assert abs(p.entropy() + float((exact * exact.log()).sum())) < 1e-12
    n = 60_000
    codes = p.sample(n, torch.Generator().manual_seed(0)) @ (4 ** torch.arange(2, -1, -1))
    freq = torch.bincount(codes, minlength=64).double() / n
    assert ((freq - exact).abs() <= 5 * (exact * (1 - exact) / n).sqrt() + 1e-12).all()


def test_circular_law_is_invariant_under_rotating_pi_and_zero_start_table_matches_log_prob():
    p = PlantedOrder.random(vocab=4, length=4, noise=0.1, seed=2, circular=True)
    x = all_sequences(4, 4)
    rotated = x.clone()
    rotated[:, p.perm] = x[:, p.perm.roll(1)]  # every token moves one step along pi
    assert torch.allclose(p.log_prob(rotated), p.log_prob(x))
    plain = PlantedOrder.random(vocab=4, length=4, noise=0.1, seed=2)
    assert torch.allclose(plain.probabilities()[tuple(x.T)].log(), plain.log_prob(x))
    with pytest.raises(MDMError, match="start"):
        PlantedOrder.random(vocab=4, length=4, start="middle")
