"""``mdm.eval.frontier`` (re-exported by ``mdm.eval.stats``): Pareto frontiers against brute force,
bands, quality at a matched cost, cost to threshold with censoring, on hand-worked curves."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from mdm.errors import StatsError
from mdm.eval import stats
from mdm.eval.frontier import (
    FrontierBand,
    censored_median,
    cost_to_threshold,
    frontier_band,
    pareto_frontier,
    quality_at_cost,
    step_frontier,
    threshold_summary,
)


def test_stats_reexports_the_curve_functions():
    for f in (FrontierBand, cost_to_threshold, frontier_band, pareto_frontier, quality_at_cost,
              threshold_summary):
        assert getattr(stats, f.__name__) is f

# ---------------------------------------------------------------------------------------------
# Pareto frontier
# ---------------------------------------------------------------------------------------------


def _brute_force_frontier(c, q) -> list[int]:
    """Every point no other point dominates (<= cost, >= quality, one strict), by cost then index."""
    keep = [i for i in range(len(c))
            if not any(c[j] <= c[i] and q[j] >= q[i] and (c[j] < c[i] or q[j] > q[i]) for j in range(len(c)))]
    return sorted(keep, key=lambda i: (c[i], i))


def test_pareto_frontier_equals_brute_force_on_random_clouds():
    # 300 clouds of 1-25 points; half on a coarse integer grid so ties in cost and quality occur.
    rng = np.random.default_rng(0)
    for r in range(300):
        n = int(rng.integers(1, 26))
        c, q = rng.random(n), rng.random(n)
        if r % 2:
            c, q = rng.integers(0, 5, n).astype(float), rng.integers(0, 5, n).astype(float)
        got = pareto_frontier(c, q)
        assert got.tolist() == _brute_force_frontier(c, q), r
        assert np.all(np.diff(c[got]) >= 0) and np.all(np.diff(q[got]) >= 0)


def test_pareto_frontier_by_hand():
    cost = [4.0, 1.0, 2.0, 3.0, 2.0, 5.0]
    quality = [0.9, 0.5, 0.7, 0.6, 0.7, 0.9]  # 3 is dominated by 2 and 4; 5 by 0
    assert pareto_frontier(cost, quality).tolist() == [1, 2, 4, 0]
    with pytest.raises(StatsError):
        pareto_frontier([1.0, 2.0], [0.5])


# ---------------------------------------------------------------------------------------------
# bands and quality at a matched cost
# ---------------------------------------------------------------------------------------------


def test_step_frontier_is_the_best_quality_at_or_below_each_cost():
    cost, quality = [2.0, 1.0, 3.0, 2.5], [0.6, 0.4, 0.5, 0.9]
    grid = [0.5, 1.0, 2.0, 2.4, 2.5, 9.0]
    brute = [max([q for c, q in zip(cost, quality) if c <= g], default=np.nan) for g in grid]
    np.testing.assert_array_equal(step_frontier(cost, quality, grid), brute)


def test_frontier_band_point_curve_is_the_step_frontier():
    costs = np.array([3.0, 1.0, 2.0])
    correct = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [0, 1, 1, 1]], dtype=float)  # means .75 .25 .75
    band = frontier_band(costs, correct, grid=[0.5, 1.0, 1.9, 2.0, 10.0], n_boot=500)
    assert isinstance(band, FrontierBand)
    np.testing.assert_allclose(band.quality, [np.nan, 0.25, 0.25, 0.75, 0.75])
    assert np.isnan(band.lo[0]) and np.isnan(band.hi[0])
    ok = ~np.isnan(band.quality)
    assert np.all(band.lo[ok] <= band.quality[ok]) and np.all(band.quality[ok] <= band.hi[ok])
    assert band.to_dict()["grid"] == [0.5, 1.0, 1.9, 2.0, 10.0]


def test_frontier_band_of_one_setting_is_the_binomial_interval():
    # One setting, 2,000 items at 70% correct: the band is the bootstrap CI of a proportion, whose
    # half-width is 1.96 sqrt(p (1 - p) / n) = 0.0201 to within 10% (2,000 resamples).
    correct = (np.random.default_rng(1).random((1, 2000)) < 0.7).astype(float)
    band = frontier_band([1.0], correct, grid=[1.0])
    p = correct.mean()
    assert (band.hi[0] - band.lo[0]) / 2 == pytest.approx(1.96 * math.sqrt(p * (1 - p) / 2000), rel=0.10)


def test_frontier_band_resamples_the_same_items_for_every_setting():
    # Setting 1 costs more and scores exactly like setting 0 on every item: on every resample the
    # best reachable at cost 2 is the same number as at cost 1.  Resampling settings separately
    # would let the max of two independent means push the band at cost 2 upward.
    row = (np.random.default_rng(2).random(300) < 0.5).astype(float)
    band = frontier_band([1.0, 2.0], np.stack([row, row]), grid=[1.0, 2.0], n_boot=1000)
    assert band.lo[0] == band.lo[1] and band.hi[0] == band.hi[1]
    # Per-item costs constant within a setting give the same band as per-setting costs.
    per_item = frontier_band(np.array([[1.0] * 300, [2.0] * 300]), np.stack([row, 1 - row]),
                             grid=[1.0, 2.0], n_boot=1000)
    flat = frontier_band([1.0, 2.0], np.stack([row, 1 - row]), grid=[1.0, 2.0], n_boot=1000)
    np.testing.assert_allclose(per_item.lo, flat.lo)
    np.testing.assert_allclose(per_item.hi, flat.hi)
    with pytest.raises(StatsError, match="shape"):
        frontier_band([1.0, 2.0, 3.0], np.stack([row, row]), grid=[1.0])


def test_quality_at_cost_interpolates_along_the_frontier():
    cost = [10.0, 20.0, 40.0, 30.0]
    quality = [0.50, 0.70, 0.90, 0.60]  # (30, 0.60) is dominated by (20, 0.70): ignored
    assert quality_at_cost(cost, quality, 15.0) == pytest.approx(0.60)
    assert quality_at_cost(cost, quality, 30.0) == pytest.approx(0.80)  # not 0.60
    assert quality_at_cost(cost, quality, 35.0) == pytest.approx(0.85)
    assert quality_at_cost(cost, quality, 20.0) == pytest.approx(0.70)
    assert quality_at_cost(cost, quality, 100.0) == pytest.approx(0.90)  # flat beyond the last
    assert math.isnan(quality_at_cost(cost, quality, 5.0))  # cheaper than anything measured
    np.testing.assert_allclose(quality_at_cost(cost, quality, [15.0, 35.0]), [0.60, 0.85])


# ---------------------------------------------------------------------------------------------
# cost to threshold, censoring
# ---------------------------------------------------------------------------------------------


def test_cost_to_threshold_on_hand_worked_curves():
    steps = [0.0, 100.0, 200.0, 300.0]
    # Crosses 0.5 between 100 (0.2) and 200 (0.6): three quarters of the way.
    assert cost_to_threshold(steps, [0.05, 0.2, 0.6, 0.8], 0.5) == pytest.approx(175.0)
    # The FIRST crossing counts, even if the curve dips below again later.
    assert cost_to_threshold(steps, [0.1, 0.6, 0.4, 0.9], 0.5) == pytest.approx(80.0)
    assert cost_to_threshold(steps, [0.7, 0.8, 0.9, 1.0], 0.5) == 0.0  # met at the first point
    assert cost_to_threshold(steps, [0.1, 0.5, 0.9, 1.0], 0.5) == 100.0  # equality meets
    assert cost_to_threshold(steps, [0.1, 0.2, 0.3, 0.49], 0.5) == math.inf  # censored
    # In log cost: halfway between 1 and 4 in log is 2.
    assert cost_to_threshold([1.0, 4.0], [0.0, 1.0], 0.5, log_cost=True) == pytest.approx(2.0)
    with pytest.raises(StatsError, match="ascending"):
        cost_to_threshold([2.0, 1.0], [0.1, 0.9], 0.5)
    with pytest.raises(StatsError, match="NaN"):
        cost_to_threshold([1.0, 2.0], [math.nan, 0.9], 0.5)


def _exact_bootstrap_median_quantiles(values, level=0.95):
    """Quantiles of the bootstrap median by enumerating all n^n equally likely resamples."""
    n = len(values)
    meds = np.sort([np.median([values[i] for i in idx]) for idx in itertools.product(range(n), repeat=n)])
    return np.quantile(meds, (1 - level) / 2, method="inverted_cdf"), np.quantile(
        meds, (1 + level) / 2, method="inverted_cdf")


def test_threshold_summary_with_censored_runs():
    # Five seeds' learning curves (steps, accuracy); two never reach 50%.
    steps = [0, 100, 200, 300]
    curves = [(steps, [0.0, 0.5, 0.9, 1.0]),  # 100
              (steps, [0.0, 0.2, 0.6, 0.9]),  # 175
              (steps, [0.0, 0.1, 0.3, 0.7]),  # 250
              (steps, [0.0, 0.1, 0.2, 0.3]),  # never
              (steps, [0.0, 0.0, 0.1, 0.4])]  # never
    est = threshold_summary(curves, 0.5)
    assert est.median == 250.0 and est.point == 250.0 and est.n_censored == 2 and est.n == 5
    assert est.mean == math.inf and math.isnan(est.se)  # the mean is not identified
    # The interval against exact enumeration of all 5^5 resamples: P(median = 100) = P(>= 3 of 5
    # draws are the 100-run) = 0.058 > 2.5%, and P(median = inf) = 0.317 > 2.5%.
    assert (est.lo, est.hi) == _exact_bootstrap_median_quantiles([100.0, 175.0, 250.0, math.inf, math.inf])
    assert (est.lo, est.hi) == (100.0, math.inf)
    assert "2 of 5 runs censored" in est.method
    # Without censoring the mean and SE are the plain ones; a majority censored: median inf.
    full = threshold_summary(curves[:3], 0.5)
    assert full.mean == pytest.approx(175.0) and full.n_censored == 0
    assert full.se == pytest.approx(np.std([100, 175, 250], ddof=1) / 3**0.5)
    assert threshold_summary(curves[2:], 0.5).median == math.inf
    assert censored_median([100.0, 175.0, 250.0, math.inf, math.inf], threshold=0.5) == est
    with pytest.raises(StatsError, match="-inf"):
        censored_median([1.0, -math.inf])
    one = threshold_summary(curves[:1], 0.5)
    assert (one.median, one.lo, one.hi, one.n_censored) == (100.0, 100.0, 100.0, 0)


# paired_cost_ratio: two arms' costs to a threshold on the same seeds (inf = censored)


def test_paired_cost_ratio_by_hand():
    # seed 4: both censored (dropped); d = log2(a/b) = [-1, 0, +inf, -inf]; lower median -1
    out = stats.paired_cost_ratio([100, 200, math.inf, math.inf, 50], [200, 200, 100, math.inf, math.inf])
    assert out["n_pairs"] == 4 and out["n_both_censored"] == 1
    assert out["a_faster"] == 2 and out["b_faster"] == 1
    assert out["median_log2_ratio"] == -1.0 and out["ratio"] == 0.5
    assert out["p"] == 1.0  # three +-1 signs: |sum| >= 1 under every flip
    lo, hi = out["ci"]
    assert lo == -math.inf and hi == math.inf  # 4 pairs, two of them censored on one side: no finite bound


def test_paired_cost_ratio_sign_test_is_exact():
    # a faster on all 10 seeds by 2x: median ratio 1/2, exact sign-flip p = 2 / 2^10
    out = stats.paired_cost_ratio([50.0] * 9 + [40.0], [100.0] * 9 + [80.0])
    assert out["ratio"] == 0.5 and out["ci"] == [-1.0, -1.0]
    assert out["p"] == pytest.approx(2 / 2 ** 10)
    assert stats.paired_cost_ratio([math.inf] * 3, [math.inf] * 3)["median_log2_ratio"] is None


def test_a_censored_run_counts_as_slower():
    # a never reaches the threshold on 3 of 4 seeds where b does: the median ratio is +inf (a slower)
    out = stats.paired_cost_ratio([math.inf, math.inf, math.inf, 100.0], [100.0, 100.0, 100.0, 100.0])
    assert out["median_log2_ratio"] == math.inf and out["ratio"] == math.inf
    assert out["b_faster"] == 3 and out["a_faster"] == 0
    flipped = stats.paired_cost_ratio([100.0] * 4, [math.inf, math.inf, math.inf, 100.0])
    assert flipped["median_log2_ratio"] == -math.inf and flipped["a_faster"] == 3
