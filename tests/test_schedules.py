import math

import pytest
import torch

import mdm
from mdm.schedules import BetaEnergy, Cosine, Linear, LogLinear, Polynomial, from_spec, to_spec, unmask_counts

ANALYTIC = [Linear(), Cosine(), Polynomial(0.5), Polynomial(1.0), Polynomial(2.0), Polynomial(3.7),
            LogLinear(), LogLinear(0.1)]
BETAS = [BetaEnergy(0.5, 0.5), BetaEnergy(1.0, 1.0), BetaEnergy(0.9, 0.3), BetaEnergy(0.3, 0.9),
         BetaEnergy(2.0, 5.0)]
ALL = ANALYTIC + BETAS
# Interior grid: several schedules have infinite slope at an end point (Polynomial(0.5), Beta with a < 1).
GRID = torch.linspace(0.02, 0.98, 49, dtype=torch.float64)


@pytest.mark.parametrize("schedule", ANALYTIC, ids=repr)
def test_dalpha_matches_autograd(schedule):
    t = GRID.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(schedule.alpha(t).sum(), t)
    torch.testing.assert_close(schedule.dalpha(GRID), grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("schedule", ALL, ids=repr)
def test_dalpha_matches_central_differences(schedule):
    # scipy's betainc is not differentiable by torch, so every schedule is also checked this way.
    h = 1e-6
    fd = (schedule.alpha(GRID + h) - schedule.alpha(GRID - h)) / (2 * h)
    torch.testing.assert_close(schedule.dalpha(GRID), fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("schedule", ALL, ids=repr)
def test_alpha_is_a_decreasing_probability_with_the_right_end_points(schedule):
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    a = schedule.alpha(t)
    assert (a >= 0).all() and (a <= 1).all()
    assert (a[1:] <= a[:-1]).all()
    assert schedule.alpha(0.0) == pytest.approx(1.0, abs=1e-15)
    expected_end = schedule.eps if isinstance(schedule, LogLinear) else 0.0
    assert schedule.alpha(1.0) == pytest.approx(expected_end, abs=1e-15)


@pytest.mark.parametrize("schedule", ALL, ids=repr)
def test_inverse_undoes_alpha(schedule):
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    a = schedule.alpha(t)
    torch.testing.assert_close(schedule.alpha(schedule.inverse(a)), a, rtol=0, atol=1e-12)
    # t itself is recoverable where alpha is not flat to double precision (Beta(2, 5) has
    # 1 - alpha(0.01) ~ 1e-20); the error in t is about 1e-16 / |alpha'(t)|.
    ok = schedule.dalpha(t).abs() > 1e-4
    assert ok.sum() > 80
    torch.testing.assert_close(schedule.inverse(a)[ok], t[ok], rtol=0, atol=1e-9)
    # floats in, floats out
    assert isinstance(schedule.inverse(schedule.alpha(0.3)), float)
    assert schedule.inverse(schedule.alpha(0.3)) == pytest.approx(0.3, abs=1e-9)


@pytest.mark.parametrize("schedule", ALL, ids=repr)
def test_weight_is_minus_dalpha_over_one_minus_alpha(schedule):
    expected = -schedule.dalpha(GRID) / (1 - schedule.alpha(GRID))
    torch.testing.assert_close(schedule.weight(GRID), expected, rtol=1e-14, atol=0)
    assert (schedule.weight(GRID) > 0).all()


def test_linear_weight_is_one_over_t():
    torch.testing.assert_close(Linear().weight(GRID), 1 / GRID, rtol=1e-14, atol=0)


def test_beta_half_half_is_exactly_linear():
    beta, lin = BetaEnergy(0.5, 0.5), Linear()
    t = torch.linspace(0, 1, 201, dtype=torch.float64)
    torch.testing.assert_close(beta.alpha(t), lin.alpha(t), rtol=0, atol=1e-9)
    torch.testing.assert_close(beta.inverse(t), lin.inverse(t), rtol=0, atol=1e-9)
    inner = t[1:-1]
    torch.testing.assert_close(beta.dalpha(inner), lin.dalpha(inner), rtol=0, atol=1e-9)


def test_beta_half_half_slope_at_the_end_points():
    # sin(pi I) * pdf is 0 * inf at tau in {0, 1}; dalpha must use the limit (-1 for the linear case).
    beta = BetaEnergy(0.5, 0.5)
    assert beta.dalpha(0.0) == pytest.approx(-1.0, abs=1e-9)
    assert beta.dalpha(1.0) == pytest.approx(-1.0, abs=1e-9)


def test_float32_tensors_stay_float32():
    t = torch.tensor([0.1, 0.5, 0.9])
    for schedule in ALL:
        for fn in (schedule.alpha, schedule.dalpha, schedule.weight, schedule.inverse):
            assert fn(t).dtype == torch.float32


def test_unmask_counts_energy_paper_values():
    # Chen et al. (arXiv 2509.13866): L = 256, 8 steps.
    assert unmask_counts(BetaEnergy(0.9, 0.3), 256, 8) == [2, 4, 9, 12, 19, 29, 47, 134]
    assert unmask_counts(BetaEnergy(1, 1), 256, 8) == [10, 27, 42, 49, 49, 42, 27, 10]
    assert unmask_counts(Linear(), 256, 8) == [32] * 8


@pytest.mark.parametrize("schedule", ALL, ids=repr)
def test_unmask_counts_sum_to_length(schedule):
    for length in (0, 1, 2, 7, 64, 256, 1000):
        for steps in (1, 2, 3, 8, 17, 300):  # includes steps > length
            counts = unmask_counts(schedule, length, steps)
            assert len(counts) == steps
            assert all(c >= 0 for c in counts)
            assert sum(counts) == length


def test_unmask_counts_follow_the_schedule():
    # cumulative revealed after i steps is round(L * alpha(1 - i/steps)) for a schedule with alpha(1) = 0
    schedule, length, steps = Cosine(), 100, 10
    counts = unmask_counts(schedule, length, steps)
    for i in range(1, steps):
        assert sum(counts[:i]) == math.floor(length * schedule.alpha(1 - i / steps) + 0.5)


def test_unmask_counts_round_exact_ties_half_up():
    # L = 2, Linear, 4 steps: L * alpha(t_i) = 0.5, 1.0, 1.5 exactly.  Half up reveals 1, 0, 1, 0;
    # Python's round (half to even) would give 0, 1, 1, 0.
    assert unmask_counts(Linear(), 2, 4) == [1, 0, 1, 0]
    assert unmask_counts(Linear(), 6, 4) == [2, 1, 2, 1]  # 1.5, 3.0, 4.5 -> 2, 3, 5


@pytest.mark.parametrize(
    "make",
    [lambda: Polynomial(0), lambda: Polynomial(-1.0), lambda: Polynomial(float("nan")),
     lambda: Polynomial(float("inf")), lambda: BetaEnergy(0, 1), lambda: BetaEnergy(1, 0),
     lambda: BetaEnergy(-0.5, 1), lambda: BetaEnergy(1, -2), lambda: LogLinear(1.0), lambda: LogLinear(-0.1),
     lambda: unmask_counts(Linear(), 10, 0), lambda: unmask_counts(Linear(), 10, -3),
     lambda: unmask_counts(Linear(), 10, 2.0), lambda: unmask_counts(Linear(), -1, 4)],
)
def test_bad_parameters_raise_schedule_error(make):
    with pytest.raises(mdm.ScheduleError) as info:
        make()
    assert isinstance(info.value, mdm.MDMError)


# --- the spec grammar: from_spec / to_spec ------------------------------------------------------------


def test_from_spec_parses_every_form():
    assert from_spec("linear") == Linear()
    assert from_spec("cosine") == Cosine()
    assert from_spec("poly:2") == Polynomial(2.0)
    assert from_spec("loglinear") == LogLinear()
    assert from_spec("loglinear:0.01") == LogLinear(0.01)
    assert from_spec("beta:0.9,0.3") == BetaEnergy(0.9, 0.3)
    assert from_spec(BetaEnergy(0.9, 0.3)) == BetaEnergy(0.9, 0.3)  # a schedule passes through
    for bad in ("beta:1", "poly", "poly:1,2", "linear:3", "beta:a,b", "poly:-1", ""):
        with pytest.raises(mdm.ScheduleError):
            from_spec(bad)


@pytest.mark.parametrize("schedule", [Linear(), Cosine(), Polynomial(2.0), Polynomial(0.5), LogLinear(),
                                      LogLinear(0.01), BetaEnergy(0.9, 0.3), BetaEnergy(1 / 3, 0.7)])
def test_to_spec_round_trips_through_from_spec(schedule):
    spec = to_spec(schedule)
    assert isinstance(spec, str) and from_spec(spec) == schedule


@pytest.mark.parametrize("spec, message", [
    ("polynomial:2", "unknown schedule 'polynomial'; known: beta, cosine, linear, loglinear, poly"),
    ("beta:1", r"takes the form beta:A,B"),
    ("poly:x", "after ':' come numbers"),
    ("foo", "unknown schedule 'foo'; known: beta, cosine, linear, loglinear, poly"),
])
def test_bad_specs_say_what_is_wrong(spec, message):
    with pytest.raises(mdm.ScheduleError, match=message):
        from_spec(spec)
