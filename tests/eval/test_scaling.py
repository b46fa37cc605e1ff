"""``mdm.eval.scaling``: thresholds on a step grid and the exponent of a planted power law.

The doubling search and the interpolation are checked on an error exactly linear in log N (so the
interpolated N* is exact).  Power laws ``cost = c · size^a``, closed forms: without noise each
seed's slope is its planted exponent exactly, so the estimate is their mean (to 1e-12) and, with
one exponent for all seeds, the interval collapses onto it.  With multiplicative noise (log-normal,
sigma 0.2, 20 seeds, seed fixed) the 95% CI must cover the planted exponent and be narrower than 0.2.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from mdm.errors import StatsError
from mdm.eval.scaling import fewest_steps, loglog_slope, power_law_exponent, steps_needed
from mdm.eval.stats import summarize

SIZES = [16, 64, 256, 1024, 4096]


def test_loglog_slope_of_exact_power_laws():
    assert loglog_slope(SIZES, [3 * n**0.7 for n in SIZES]) == pytest.approx(0.7, abs=1e-12)
    assert loglog_slope(SIZES, [5.0] * 5) == pytest.approx(0.0, abs=1e-12)
    assert loglog_slope([16, 64], [4, 8]) == pytest.approx(0.5)
    assert loglog_slope(SIZES, [1, 2, None, 4, 5]) is None
    assert loglog_slope([16], [4]) is None


def test_one_planted_exponent_is_recovered_exactly():
    costs = [[c * n**0.7 for n in SIZES] for c in (1.0, 2.5, 9.0)]
    est, censored = power_law_exponent(SIZES, costs)
    assert censored == 0 and est.n == 3
    assert est.mean == pytest.approx(0.7, abs=1e-12)
    assert est.lo == pytest.approx(0.7, abs=1e-12) and est.hi == pytest.approx(0.7, abs=1e-12)


def test_the_estimate_is_the_mean_of_per_seed_exponents_and_its_bootstrap():
    planted = [0.1, 0.3, 0.5, 0.7, 0.9]
    costs = [[(i + 1) * n**a for n in SIZES] for i, a in enumerate(planted)]
    est, _ = power_law_exponent(SIZES, costs, seed=3)
    want = summarize(planted, seed=3)
    assert est.mean == pytest.approx(0.5, abs=1e-12)
    assert (est.lo, est.hi) == pytest.approx((want.lo, want.hi), abs=1e-12)
    assert est.se == pytest.approx(want.se, abs=1e-12)


def test_noisy_power_law_ci_covers_the_planted_exponent():
    rng = np.random.default_rng(0)
    costs = [[2.0 * n**0.4 * math.exp(rng.normal(0, 0.2)) for n in SIZES] for _ in range(20)]
    est, _ = power_law_exponent(SIZES, costs)
    assert est.lo < 0.4 < est.hi and est.hi - est.lo < 0.2, est


def test_censored_seeds_are_counted_not_guessed():
    costs = [[n**1.0 for n in SIZES], [n**1.0 for n in SIZES[:-1]] + [math.inf], [None] * 5]
    est, censored = power_law_exponent(SIZES, costs)
    assert censored == 2 and est.n == 1 and est.mean == pytest.approx(1.0)
    with pytest.raises(StatsError, match="no seed reached"):
        power_law_exponent(SIZES, [[None] * 5])
    with pytest.raises(StatsError, match="one cost per size"):
        power_law_exponent(SIZES, [[1.0, 2.0]])


def test_steps_needed_interpolates_in_log_steps():
    steps = [1, 2, 4, 8]
    # Crosses 0.1 between N=4 (0.2) and N=8 (0.05): two thirds of the way in log N.
    assert steps_needed(steps, [1.0, 0.5, 0.2, 0.05], 0.1) == pytest.approx(4 * 2 ** (2 / 3))
    assert steps_needed(steps, [0.05, 0.5, 0.2, 0.01], 0.1) == 1.0  # met at the first point
    assert steps_needed(steps, [1.0, 0.5, 0.2, 0.15], 0.1) is None  # never met
    assert steps_needed(steps, [math.nan, math.nan, 0.05, 0.01], 0.1) == 4.0  # NaN never meets
    assert steps_needed(steps, [1.0, 0.2, 0.05, 0.01], 0.2) == 2.0  # equality meets


def test_steps_needed_is_cost_to_threshold_of_minus_the_error():
    """One rule: on curves without NaN, steps_needed is cost_to_threshold(log_cost=True) of -error
    (None where that is inf), to the last bit; 200 random decreasing and noisy curves."""
    from mdm.eval.frontier import cost_to_threshold

    rng = random.Random(0)
    steps = [1, 2, 4, 8, 16, 32]
    for _ in range(200):
        errors = [rng.random() for _ in steps]
        target = rng.random()
        cost = cost_to_threshold(steps, [-e for e in errors], -target, log_cost=True)
        assert steps_needed(steps, errors, target) == (None if math.isinf(cost) else cost)


def _linear_in_log(n: int) -> float:
    return 1.0 - math.log2(n) / 10  # crosses 0.65 at log2 N = 3.5 exactly


@pytest.mark.parametrize("start", [1, 8, 1024])
def test_fewest_steps_brackets_and_interpolates_in_log_steps(start):
    calls = []
    n_star, errors = fewest_steps(lambda n: calls.append(n) or _linear_in_log(n), 0.65, start, 4096)
    assert n_star == pytest.approx(2**3.5, rel=1e-12)
    assert set(errors) >= {8, 16} and len(calls) == len(set(calls))  # never evaluates N twice
    assert all(n in errors for n in (2**k for k in range(3, int(math.log2(start)) + 1)))


def test_fewest_steps_on_the_grid_and_beyond_it():
    assert fewest_steps(_linear_in_log, 0.6, 4, 4096)[0] == pytest.approx(16.0)  # met exactly at N = 16
    assert fewest_steps(_linear_in_log, 2.0, 64, 4096)[0] == 1.0  # met at N = 1
    n_star, errors = fewest_steps(_linear_in_log, -1.0, 64, 256)
    assert n_star is None and max(errors) == 256  # never met within max_steps
