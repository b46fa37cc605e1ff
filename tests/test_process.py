import math

import pytest
import torch

import mdm
from mdm.process import forward_mask, mask_probs, nelbo_weight, reveal_probability, sample_mask
from mdm.schedules import BetaEnergy, Cosine, Linear, LogLinear, Polynomial

MASK = 9


class PerPositionPolynomial:
    """A per-position schedule alpha_l(t) = 1 - t**w_l (learned-order paper), duck-typed."""

    def __init__(self, w):
        self.w = torch.as_tensor(w, dtype=torch.float64)

    def alpha(self, t):
        return 1 - t ** self.w

    def weight(self, t):
        return self.w / t.expand(-1, self.w.shape[0])


def test_mask_probs_are_one_minus_alpha_on_eligible_positions():
    t = torch.tensor([0.1, 0.5, 0.93], dtype=torch.float64)
    eligible = torch.tensor([[True, True, False, True], [False, True, True, True], [True] * 4])
    for schedule in (Linear(), Cosine(), Polynomial(2.0), LogLinear(0.1), BetaEnergy(0.9, 0.3)):
        p = mask_probs(schedule, t, eligible)
        assert p.shape == (3, 4) and p.dtype == torch.float64
        expected = (1 - schedule.alpha(t)).unsqueeze(1).expand(3, 4)
        torch.testing.assert_close(p[eligible], expected[eligible], rtol=0, atol=1e-15)
        assert (p[~eligible] == 0).all()


def test_mask_probs_accept_a_per_position_schedule():
    schedule = PerPositionPolynomial([0.5, 1.0, 2.0, 4.0])
    t = torch.tensor([0.25, 0.81], dtype=torch.float64)
    eligible = torch.tensor([[True, True, True, False], [True] * 4])
    p = mask_probs(schedule, t, eligible)
    expected = t.unsqueeze(1) ** schedule.w
    expected[0, 3] = 0
    torch.testing.assert_close(p, expected, rtol=0, atol=1e-15)
    torch.testing.assert_close(nelbo_weight(schedule, t, (2, 4)), schedule.w / t.unsqueeze(1))


def test_nelbo_weight_broadcasts_the_schedule_weight():
    t = torch.tensor([0.2, 0.6])
    w = nelbo_weight(Cosine(), t, (2, 5))
    assert w.shape == (2, 5)
    torch.testing.assert_close(w, Cosine().weight(t).unsqueeze(1).expand(2, 5))


def test_forward_mask_empirical_rate_matches_per_position_probabilities():
    # n = 20,000 draws of each of 12 positions; every rate within 4 binomial standard errors.
    p = torch.tensor([[0.0, 0.05, 0.3, 0.5, 0.77, 1.0], [0.9, 0.1, 0.0, 0.45, 0.6, 0.2]], dtype=torch.float64)
    n = 20_000
    probs = p.repeat(n, 1)
    x0 = torch.arange(6).repeat(2 * n, 1)
    xt, masked = forward_mask(x0, probs, MASK, generator=torch.Generator().manual_seed(0))
    rate = masked.view(n, 2, 6).double().mean(0)
    se = (p * (1 - p) / n).sqrt()
    assert ((rate - p).abs() <= 4 * se).all(), (rate, p)
    assert (rate[p == 0] == 0).all() and (rate[p == 1] == 1).all()
    # masked positions hold the mask id, the others keep x0
    assert (xt[masked] == MASK).all() and (xt[~masked] == x0[~masked]).all()


def test_forward_mask_is_independent_across_positions():
    # P(both of two p = 0.5 positions masked) = 0.25 within 4 standard errors (n = 20,000).
    n = 20_000
    _, masked = forward_mask(torch.zeros(n, 2, dtype=torch.long), torch.full((n, 2), 0.5), MASK,
                             generator=torch.Generator().manual_seed(1))
    both = masked.all(1).double().mean().item()
    assert abs(both - 0.25) <= 4 * (0.25 * 0.75 / n) ** 0.5


def test_ineligible_positions_are_never_masked():
    eligible = torch.zeros(64, 16, dtype=torch.bool)
    eligible[:, 5:13] = True  # prompt 0..4, padding 13..15
    x0 = torch.randint(0, 9, (64, 16), generator=torch.Generator().manual_seed(2))
    p = mask_probs(Linear(), torch.ones(64), eligible)  # t = 1: every eligible position masked
    xt, masked = forward_mask(x0, p, MASK, generator=torch.Generator().manual_seed(3))
    assert (masked == eligible).all()
    assert (xt[:, :5] == x0[:, :5]).all() and (xt[:, 13:] == x0[:, 13:]).all()


def test_same_seed_same_output_and_supplied_uniforms():
    p = torch.rand(8, 32, generator=torch.Generator().manual_seed(4))
    x0 = torch.zeros(8, 32, dtype=torch.long)
    a = forward_mask(x0, p, MASK, generator=torch.Generator().manual_seed(5))
    b = forward_mask(x0, p, MASK, generator=torch.Generator().manual_seed(5))
    c = forward_mask(x0, p, MASK, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])
    u = torch.rand(8, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    _, masked = forward_mask(x0, p, MASK, uniforms=u)
    assert torch.equal(masked, u < p.double())
    # MIRROR-style reuse: the complementary uniforms mask exactly where U > 1 - p
    assert torch.equal(sample_mask(p, uniforms=1 - u), u > 1 - p.double())


def test_reveal_probability_linear_closed_form():
    assert reveal_probability(Linear(), 0.8, 0.6) == pytest.approx(0.25, abs=1e-15)
    assert reveal_probability(Linear(), 0.5, 0.5) == 0.0
    assert reveal_probability(Linear(), 0.3, 0.0) == 1.0
    t = torch.tensor([1.0, 0.5, 0.25])
    torch.testing.assert_close(reveal_probability(Linear(), t, t / 2), torch.full((3,), 0.5))


@pytest.mark.parametrize(
    "schedule", [Linear(), Cosine(), Polynomial(3.0), LogLinear(0.1), BetaEnergy(0.9, 0.3)], ids=repr
)
def test_reveal_probability_composes(schedule):
    # staying masked t -> s -> r has the probability of staying masked t -> r: the reverse steps
    # of any grid reproduce the forward marginals.
    t, s, r = 0.9, 0.55, 0.2
    stay = (1 - reveal_probability(schedule, t, s)) * (1 - reveal_probability(schedule, s, r))
    assert stay == pytest.approx(1 - reveal_probability(schedule, t, r), abs=1e-12)
    assert stay == pytest.approx((1 - schedule.alpha(r)) / (1 - schedule.alpha(t)), abs=1e-12)
    assert reveal_probability(schedule, t, 0.0) == 1.0


def _beta_closed_form(a, b, t, s):
    from scipy.special import betainc

    def masked(u):  # 1 - alpha(u) = cos^2(pi/2 I_{1-u}(a, b))
        return math.cos(0.5 * math.pi * betainc(a, b, 1.0 - u)) ** 2

    return 1.0 - masked(s) / masked(t)


CLOSED_FORMS = [  # (schedule, (alpha(s) - alpha(t)) / (1 - alpha(t)) written out by hand)
    (Linear(), lambda t, s: (t - s) / t),
    (Cosine(), lambda t, s: 1 - math.sin(math.pi * s / 2) / math.sin(math.pi * t / 2)),
    (Polynomial(3.0), lambda t, s: 1 - (s / t) ** 3),
    (Polynomial(0.5), lambda t, s: 1 - math.sqrt(s / t)),
    (LogLinear(0.1), lambda t, s: (t - s) / t),  # 1 - alpha = (1 - eps) t: eps cancels
    (BetaEnergy(0.9, 0.3), lambda t, s: _beta_closed_form(0.9, 0.3, t, s)),
    (BetaEnergy(1.0, 1.0), lambda t, s: 1 - (math.sin(math.pi * s / 2) / math.sin(math.pi * t / 2)) ** 2),
]


@pytest.mark.parametrize("schedule, closed_form", CLOSED_FORMS, ids=[repr(s) for s, _ in CLOSED_FORMS])
def test_reveal_probability_closed_form_for_every_family(schedule, closed_form):
    for t, s in [(1.0, 0.75), (0.9, 0.5), (0.5, 0.1), (0.3, 0.29), (0.75, 0.0)]:
        assert reveal_probability(schedule, t, s) == pytest.approx(closed_form(t, s), abs=1e-12)


def test_reveal_probability_where_nothing_can_be_masked_is_one():
    assert reveal_probability(Polynomial(2.0), 0.0, 0.0) == 1.0


def test_bad_inputs_raise_mdm_errors():
    eligible = torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(mdm.TokenError, match="one time per row"):
        mask_probs(Linear(), torch.tensor([0.5]), eligible)
    with pytest.raises(mdm.TokenError, match="floating-point"):
        mask_probs(Linear(), torch.tensor([1, 0]), eligible)
    with pytest.raises(mdm.TokenError, match="bool tensor"):
        mask_probs(Linear(), torch.tensor([0.5, 0.5]), eligible.long())
    with pytest.raises(mdm.TokenError, match="shape of x0"):
        forward_mask(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 4), MASK)
    with pytest.raises(mdm.TokenError, match="torch.long"):
        forward_mask(torch.zeros(2, 3), torch.zeros(2, 3), MASK)
    with pytest.raises(mdm.TokenError, match="uniforms"):
        forward_mask(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3), MASK, uniforms=torch.zeros(3))
    with pytest.raises(mdm.TokenError, match="s <= t"):
        reveal_probability(Linear(), 0.2, 0.5)
