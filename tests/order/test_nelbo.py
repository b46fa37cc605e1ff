"""multivariate_nelbo: exact for an exact denoiser at any w, unbiased for an inconsistent one, an
upper bound on the entropy for a wrong one."""

from __future__ import annotations

import pytest
import torch

import mdm
from mdm.errors import MDMError
from mdm.order import PerPositionSchedule, expected_order_loss, multivariate_nelbo
from mdm.sampling.exact import all_sequences

W1 = torch.tensor([0.3, 1.0, 4.0, 1.5], dtype=torch.float64)
W2 = torch.tensor([5.0, 0.5, 0.5, 2.0], dtype=torch.float64)


@pytest.mark.parametrize("w", [W1, W2])
def test_exact_denoiser_gives_minus_log_p_for_every_w(language, w):
    x = all_sequences(2, 4)
    nelbo = multivariate_nelbo(language.denoiser(), x, w, samples=8, seed=0)
    assert torch.allclose(nelbo, -language.log_prob(x), atol=1e-9)  # every order's chain rule is exact


def test_model_nelbo_uses_the_models_own_schedule(language):
    """``model_nelbo``: ``w = 1`` without an ``order_schedule``, its learned ``w`` with one."""
    from mdm.order import model_nelbo

    x = all_sequences(2, 4)
    den = language.denoiser()
    exact = float(-language.log_prob(x).mean())
    assert model_nelbo(den, x, samples=4, seed=0) == pytest.approx(exact, abs=1e-9)

    class Scheduled:  # an inconsistent denoiser that carries a schedule: its NELBO depends on w
        def __init__(self, table, w):
            self.table, self.order_schedule = table, PerPositionSchedule(4, init=w)
            self.vocab_size, self.mask_id = table.vocab_size, table.mask_id

        def __call__(self, x, attention_mask=None):
            return self.table(x)

    from tests.order.conftest import TableDenoiser

    table = TableDenoiser(vocab=2, length=4, seed=5)
    got = model_nelbo(Scheduled(table, W1), x, samples=4, seed=1)
    assert got == pytest.approx(float(multivariate_nelbo(table, x, W1, samples=4, seed=1).mean()), abs=1e-9)
    assert got != pytest.approx(model_nelbo(table, x, samples=4, seed=1), abs=1e-3)


def test_unbiased_for_an_inconsistent_denoiser_at_two_w(make_table):
    den = make_table(vocab=2, length=3, seed=4)
    x = all_sequences(2, 3)
    w_a, w_b = W1[:3], W2[:3]
    exact_a, exact_b = expected_order_loss(den, x, w_a), expected_order_loss(den, x, w_b)
    assert (exact_a - exact_b).abs().max() > 0.1  # the orders matter for this denoiser
    n = 4000  # orders per sequence; tolerance 5 standard errors of the mean
    for w, exact in ((w_a, exact_a), (w_b, exact_b)):
        draws = torch.stack([multivariate_nelbo(den, x, w, samples=n // 10, seed=s) for s in range(10)])
        se = draws.std(0) / 10**0.5
        assert ((draws.mean(0) - exact).abs() <= 5 * se + 1e-9).all(), (draws.mean(0), exact)


def test_wrong_denoiser_exceeds_the_entropy(language):
    x = all_sequences(2, 4)
    p = language.log_prob(x).exp()
    entropy = float(-(p * p.log()).sum())
    other = mdm.languages.Enumerated(x, torch.full((16,), 1 / 16, dtype=torch.float64))  # uniform
    for den, bigger in ((language.denoiser(), False), (other.denoiser(), True)):
        value = float((p * multivariate_nelbo(den, x, W1, samples=16, seed=0)).sum())
        assert (value > entropy + 0.05) if bigger else abs(value - entropy) < 1e-9


def test_linear_weights_match_mdm_elbo(make_table):
    den = make_table(vocab=2, length=3, seed=5)
    x = all_sequences(2, 3)
    ones = torch.ones(3, dtype=torch.float64)
    exact = expected_order_loss(den, x, ones)
    assert torch.allclose(mdm.elbo(den, x, samples=6000, seed=0), exact, atol=0.1)
    assert torch.allclose(multivariate_nelbo(den, x, PerPositionSchedule(3), samples=6000, seed=0), exact,
                          atol=0.1)


def test_bad_input_raises(language):
    x = all_sequences(2, 4)
    den = language.denoiser()
    with pytest.raises(MDMError, match="L = 4"):
        multivariate_nelbo(den, x, torch.ones(3))
    with pytest.raises(MDMError, match="> 0"):
        multivariate_nelbo(den, x, torch.tensor([1.0, 1.0, 0.0, 1.0]))
    with pytest.raises(MDMError, match="samples"):
        multivariate_nelbo(den, x, torch.ones(4), samples=0)
    with pytest.raises(MDMError, match="mask"):
        multivariate_nelbo(den, torch.full((1, 4), den.mask_id), torch.ones(4))
