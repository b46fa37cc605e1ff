"""``mdm.eval.matched``: a frontier interpolated item by item, two families compared at matched cost
(paired by model and item), and the two-stage band -- on hand-made curves with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from mdm.errors import StatsError
from mdm.eval.frontier import quality_at_cost
from mdm.eval.matched import clustered_band, interpolate_frontier, matched_cost_difference

# Four settings on 4 items; setting 3 (cost 5, mean 0.25) is dominated by setting 1 (cost 4, 0.75).
COSTS = [2.0, 4.0, 8.0, 5.0]
SCORES = [[1, 0, 0, 0],   # mean 0.25
          [1, 1, 1, 0],   # mean 0.75
          [1, 1, 1, 1],   # mean 1.00
          [0, 0, 0, 1]]   # mean 0.25, dominated


def test_interpolation_by_hand():
    got = interpolate_frontier(COSTS, SCORES, [1.0, 2.0, 3.0, 6.0, 8.0, 20.0])
    assert np.isnan(got[0]).all()  # cheaper than any setting: not reachable
    np.testing.assert_allclose(got[1], [1, 0, 0, 0])  # exactly setting 0
    np.testing.assert_allclose(got[2], [1, 0.5, 0.5, 0])  # halfway from setting 0 to setting 1
    np.testing.assert_allclose(got[3], [1, 1, 1, 0.5])  # halfway from setting 1 to setting 2 (3 skipped)
    np.testing.assert_allclose(got[4], [1, 1, 1, 1])
    np.testing.assert_allclose(got[5], [1, 1, 1, 1])  # beyond the costliest: its scores


def test_item_means_equal_the_frontier_interpolated_in_means():
    rng = np.random.default_rng(0)
    for _ in range(50):
        k, n = int(rng.integers(1, 8)), 30
        costs, scores = rng.random(k) * 10, (rng.random((k, n)) < rng.random((k, 1))).astype(float)
        at = np.linspace(0, 11, 23)
        got = interpolate_frontier(costs, scores, at).mean(axis=1)
        want = quality_at_cost(costs, scores.mean(axis=1), at)
        np.testing.assert_allclose(got, want)


def test_keep_chooses_the_curve_elsewhere():
    # a curve chosen on another split: setting 3 kept, setting 1 not
    got = interpolate_frontier(COSTS, SCORES, [4.0], keep=[0, 3, 2])
    np.testing.assert_allclose(got[0], [1 / 3, 0, 0, 2 / 3])  # 1/3 of the way from cost 2 to cost 5
    with pytest.raises(StatsError):
        interpolate_frontier(COSTS, SCORES[:3], [4.0])
    with pytest.raises(StatsError):
        interpolate_frontier(COSTS, SCORES, [4.0], keep=[])


def _family(rng, n_items, means_at_cost):
    """Settings at costs 2 and 6 whose per-item scores are 0/1 with the given means."""
    scores = np.stack([(rng.permutation(n_items) < round(m * n_items)).astype(float) for m in means_at_cost])
    return np.array([2.0, 6.0]), scores


def test_matched_difference_recovers_a_known_difference_paired():
    """Three models, 400 items.  Family b is family a with the first 40 items of each setting made
    wrong where they were right: at every cost and for every model, a - b is known exactly."""
    rng = np.random.default_rng(1)
    a, b, want = [], [], []
    for _ in range(3):
        cost, sa = _family(rng, 400, (0.5, 0.9))
        sb = sa.copy()
        sb[:, :40] = 0.0
        a.append((cost, sa, None))
        b.append((cost, sb, None))
        want.append(interpolate_frontier(cost, sa, [4.0])[0] - interpolate_frontier(cost, sb, [4.0])[0])
    est = matched_cost_difference(a, b, [1.0, 4.0], n_boot=2_000)
    assert est[0] is None  # cost 1 is cheaper than every setting
    d = est[1]
    assert d.mean == pytest.approx(float(np.mean(want)))
    assert d.lo <= d.mean <= d.hi and d.lo > 0 and d.p_value < 0.01
    # paired: the interval reflects only the items that differ, far narrower than the accuracy
    # SE of an arm itself (~0.025 at 1,200 items around 70%)
    assert d.hi - d.lo < 0.03


def test_matched_difference_of_a_family_with_itself_is_zero():
    rng = np.random.default_rng(2)
    a = [(*_family(rng, 50, (0.3, 0.8)), None) for _ in range(2)]
    est = matched_cost_difference(a, a, [3.0, 5.0], n_boot=500)
    assert all(e.mean == 0.0 and e.lo == 0.0 and e.hi == 0.0 for e in est)
    with pytest.raises(StatsError):
        matched_cost_difference(a, a[:1], [3.0])


def test_clustered_band_matches_the_mean_and_covers_it():
    rng = np.random.default_rng(3)
    x = (rng.random((2, 3, 200)) < 0.7).astype(float)
    x[1, :, :] = 1.0  # a constant curve point: a zero-width band
    x = np.concatenate([x, np.full((1, 3, 200), np.nan)])  # an unreachable cost
    mean, lo, hi = clustered_band(x, n_boot=500)
    assert mean[0] == pytest.approx(x[0].mean()) and lo[0] < mean[0] < hi[0]
    assert lo[1] == hi[1] == mean[1] == 1.0
    assert np.isnan([mean[2], lo[2], hi[2]]).all()
    # the model level counts: models that differ widen the band beyond the item-only band
    spread = np.stack([np.full(200, 0.2), np.full(200, 0.5), np.full(200, 0.8)])[None]
    m, lo_s, hi_s = clustered_band(spread, n_boot=500)
    assert hi_s[0] - lo_s[0] > 0.3  # items alone are constant within a model: a zero-width band
