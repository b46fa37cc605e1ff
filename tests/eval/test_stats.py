"""``mdm.eval.stats``: summaries, bootstrap CIs and paired differences against closed forms and
brute force.

Every random draw is seeded.  Statistical checks state their sample size and tolerance next to the
assertion; tolerances are about 3 standard deviations of the Monte Carlo error unless said.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from mdm.errors import MDMError, StatsError
from mdm.eval.stats import (
    Estimate,
    PairedEstimate,
    bootstrap_ci,
    paired_difference,
    paired_difference_clustered,
    sign_flip_p_value,
    summarize,
)

# ---------------------------------------------------------------------------------------------
# summarize / bootstrap_ci
# ---------------------------------------------------------------------------------------------


def test_summarize_mean_and_se_are_the_closed_forms():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=30)
    est = summarize(x)
    assert est.mean == pytest.approx(np.mean(x), rel=1e-12)
    assert est.se == pytest.approx(np.std(x, ddof=1) / np.sqrt(30), rel=1e-12)
    assert est.lo < est.mean < est.hi and est.n == 30 and est.level == 0.95 and est.has_interval
    assert "10,000 resamples" in est.method
    assert summarize(x, seed=0) == est, "same seed, same interval"
    assert summarize(list(x)) == est


def test_summarize_single_value_is_flagged_not_a_crash():
    est = summarize([0.75])
    assert (est.mean, est.lo, est.hi, est.n) == (0.75, 0.75, 0.75, 1)
    assert math.isnan(est.se) and not est.has_interval and "no interval" in est.method


@pytest.mark.parametrize("bad", [[1.0, math.nan, 2.0], [1.0, math.inf], [], [[1.0, 2.0]]])
def test_summarize_refuses_bad_values(bad):
    with pytest.raises(StatsError) as err:
        summarize(bad)
    assert isinstance(err.value, MDMError)


def test_bootstrap_ci_is_the_order_statistic_of_the_resampled_stats():
    # Brute force: the same resamples (one chunk draws rng.integers(0, n, (n_boot, n))) evaluated
    # one by one in a loop; at 95% with 1,000 resamples the 25th and 974th smallest (0-based).
    x = np.random.default_rng(1).exponential(size=17)
    for stat in (np.mean, np.median):
        idx = np.random.default_rng(5).integers(0, 17, size=(1000, 17))
        values = np.sort([stat(x[row]) for row in idx])
        assert bootstrap_ci(x, stat, n_boot=1000, seed=5) == (values[25], values[974])
    assert bootstrap_ci(x, n_boot=1000, seed=5, level=0.5) == tuple(
        np.sort(x[np.random.default_rng(5).integers(0, 17, (1000, 17))].mean(1))[[250, 749]])


def test_bootstrap_ci_of_a_single_value_and_bad_settings():
    assert bootstrap_ci([2.5]) == (2.5, 2.5)
    for kw in ({"level": 1.0}, {"level": 0.0}, {"n_boot": 0}, {"n_boot": 2.5}):
        with pytest.raises(StatsError):
            bootstrap_ci([1.0, 2.0], **kw)


def _coverage(n: int, repeats: int, n_boot: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for r in range(repeats):
        est = summarize(rng.normal(1.0, 1.0, size=n), n_boot=n_boot, seed=r)
        hits += est.lo <= 1.0 <= est.hi
    return hits / repeats


def test_bootstrap_ci_coverage_is_nominal():
    # 1,000 synthetic data sets of n = 30 normal values, 1,000 resamples each.  The percentile
    # interval is about mean +- 1.96 sd(ddof=0)/sqrt(n) where the exact one has t_29 = 2.045 and
    # ddof=1, so its coverage at n = 30 is P(|t_29| < 1.93) = 0.936, not 0.95.  Tolerance
    # [0.91, 0.97]: 0.936 - 3 binomial SDs (0.008) on the low side (measured: 0.914 at this seed,
    # 0.93-0.94 at five others); a 90% interval (coverage ~0.89) or a 99% one (~0.985) fails.
    assert 0.91 <= _coverage(30, 1000, 1000, seed=0) <= 0.97


@pytest.mark.slow
def test_bootstrap_ci_coverage_is_nominal_at_full_resampling():
    # 1,000 other data sets, 10,000 resamples each (the default): same expectation and tolerance.
    assert 0.91 <= _coverage(30, 1000, 10_000, seed=1) <= 0.97


def test_estimates_serialize_to_json():
    est = paired_difference([1.0, 2.0, 3.0], [0.5, 2.5, 2.0])
    d = json.loads(json.dumps(est.to_dict()))
    assert set(d) == {"mean", "se", "lo", "hi", "n", "level", "method", "p_value", "n_pairs"}
    assert isinstance(est, Estimate) and d["n_pairs"] == 3


# ---------------------------------------------------------------------------------------------
# paired differences
# ---------------------------------------------------------------------------------------------


def test_paired_difference_recovers_a_known_difference():
    rng = np.random.default_rng(2)
    a = rng.normal(size=50)
    exact = paired_difference(a, a - 0.25)  # every pair differs by exactly 0.25
    assert isinstance(exact, PairedEstimate)
    assert exact.mean == pytest.approx(0.25) and exact.se == pytest.approx(0.0, abs=1e-15)
    assert (exact.lo, exact.hi) == pytest.approx((0.25, 0.25)) and exact.n_pairs == 50
    # With noise (sd 0.1 per pair, n = 200): the CI holds 0.25 and the mean is within 4 SE of it.
    noisy = paired_difference(a.repeat(4), a.repeat(4) - 0.25 + rng.normal(0, 0.1, 200))
    assert noisy.lo < 0.25 < noisy.hi and abs(noisy.mean - 0.25) < 4 * noisy.se
    assert noisy.p_value == pytest.approx(1 / 10_001)  # no flip reaches the observed mean


def test_paired_ci_is_much_narrower_than_unpaired_under_correlation():
    # Pair effects sd 1 shared by both arms, independent noise sd 0.05, true difference 0.1, n = 100.
    rng = np.random.default_rng(3)
    shared = rng.normal(0, 1, 100)
    a, b = shared + 0.1 + rng.normal(0, 0.05, 100), shared + rng.normal(0, 0.05, 100)
    paired = paired_difference(a, b)
    # Unpaired interval: a and b resampled independently (what the paired one must not do).
    ra, rb = np.random.default_rng(0).integers(0, 100, (2, 10_000, 100))
    unpaired = np.percentile(a[ra].mean(1) - b[rb].mean(1), [2.5, 97.5])
    width = paired.hi - paired.lo
    assert width < 0.1 * (unpaired[1] - unpaired[0])
    # Closed form: 2 * 1.96 * sd(a - b) / sqrt(n); the bootstrap (ddof 0) is ~0.5% narrower.
    # Tolerance 10% (the percentile endpoints of 10,000 resamples move by ~2%).
    assert width == pytest.approx(2 * 1.96 * np.std(a - b, ddof=1) / 10, rel=0.10)
    assert paired.lo > 0


def test_paired_difference_refuses_unmatched_arms():
    with pytest.raises(StatsError, match="matched pairs"):
        paired_difference([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(StatsError, match="NaN"):
        paired_difference([1.0, math.nan], [1.0, 2.0])


def _brute_force_sign_flip(d) -> float:
    t_obs = abs(sum(d))
    flips = [abs(sum(s * v for s, v in zip(signs, d))) for signs in itertools.product((1, -1), repeat=len(d))]
    return sum(t >= t_obs - 1e-9 for t in flips) / len(flips)


@pytest.mark.parametrize("n", [1, 2, 5, 9, 12])
def test_sign_flip_p_value_equals_exact_enumeration(n):
    rng = np.random.default_rng(n)
    continuous = rng.normal(0.3, 1.0, n)
    ties = rng.integers(-1, 2, n).astype(float)  # differences of 0/1 correctness: many ties
    for d in (continuous, ties):
        p, how = sign_flip_p_value(d)
        assert p == pytest.approx(_brute_force_sign_flip(d), abs=1e-12) and how.startswith("exact")
        assert paired_difference(d, np.zeros(n)).p_value == pytest.approx(p, abs=1e-12)


def test_monte_carlo_sign_flip_is_close_to_exact():
    # n = 14 forced onto the Monte Carlo path with 20,000 flips; tolerance 4 binomial SDs + 1/n_flip.
    d = np.random.default_rng(4).normal(0.4, 1.0, 14)
    exact = _brute_force_sign_flip(d)
    p, how = sign_flip_p_value(d, n_flip=20_000, seed=0, exact_max=0)
    assert how.startswith("Monte Carlo") and 0.01 < exact < 0.5
    assert abs(p - exact) <= 4 * math.sqrt(exact * (1 - exact) / 20_000) + 1 / 20_000


def test_sign_flip_p_values_are_uniform_under_the_null():
    # 1,000 null data sets (symmetric differences), n = 10 (exact path) and n = 25 (Monte Carlo,
    # 1,000 flips).  Tolerance: Kolmogorov-Smirnov distance to U(0, 1) below 0.06 (the 5% critical
    # value is 0.043, plus the p-values' discreteness 2^-9), and 5% +- 2 points rejected at 0.05.
    rng = np.random.default_rng(6)
    for n, n_flip in ((10, 10_000), (25, 1_000)):
        p = np.sort([sign_flip_p_value(rng.normal(0, 1, n), n_flip=n_flip, seed=r)[0] for r in range(1000)])
        ks = np.max(np.maximum(np.arange(1, 1001) / 1000 - p, p - np.arange(1000) / 1000))
        assert ks < 0.06, (n, ks)
        assert 0.03 <= np.mean(p <= 0.05) <= 0.07, n


# ---------------------------------------------------------------------------------------------
# items nested in seeds
# ---------------------------------------------------------------------------------------------


def _two_stage_variance(d: np.ndarray) -> float:
    """Exact variance of the two-stage bootstrap grand mean (see the function's docstring)."""
    s, i = d.shape
    m_s, v_s = d.mean(1), d.var(1)
    return (np.mean((m_s - d.mean()) ** 2) + np.mean(v_s) / i) / s


def test_clustered_bootstrap_variance_is_the_two_stage_closed_form():
    # 3 seeds x 200 items of 0/1 correctness, seed effects of +-10 points.  n_boot = 10,000: the
    # variance of the bootstrap means is within 6% of the exact value (relative SD ~1.4%).
    rng = np.random.default_rng(7)
    p_a = np.array([[0.55], [0.7], [0.8]])
    a = (rng.random((3, 200)) < p_a).astype(float)
    b = (rng.random((3, 200)) < p_a - 0.1).astype(float)
    est = paired_difference_clustered(a, b)
    assert est.mean == pytest.approx((a - b).mean()) and est.n_pairs == 600
    assert est.se**2 == pytest.approx(_two_stage_variance(a - b), rel=0.06)
    assert est.lo < est.mean < est.hi and "two-stage" in est.method
    # One seed: the seed stage is trivial and the interval is the plain item bootstrap's width.
    one = paired_difference_clustered(a[:1], b[:1])
    assert one.se**2 == pytest.approx((a[0] - b[0]).var() / 200, rel=0.06)


def test_clustered_refuses_mismatched_shapes():
    with pytest.raises(StatsError, match="seeds, items"):
        paired_difference_clustered(np.zeros((3, 10)), np.zeros((3, 9)))
    with pytest.raises(StatsError, match="2-dimensional"):
        paired_difference_clustered(np.zeros(10), np.zeros(10))


def test_wilson_interval_matches_the_closed_form_and_textbook_values():
    from mdm.eval.stats import wilson_interval

    # Newcombe (1998), Table I: 0/10, 1/10, 5/10 at 95% (rounded to 4 decimals there)
    for (k, n), (lo, hi) in {(0, 10): (0.0, 0.2775), (1, 10): (0.0179, 0.4042), (5, 10): (0.2366, 0.7634),
                             (10, 10): (0.7225, 1.0)}.items():
        got = wilson_interval(k, n)
        assert got == pytest.approx((lo, hi), abs=1e-4)
    z = 1.959963984540054
    k, n = 37, 120
    p = k / n
    want = [(p + z * z / (2 * n) + s * z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)
            for s in (-1, 1)]
    assert wilson_interval(k, n) == pytest.approx(tuple(want), rel=1e-12)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0
    lo90, hi90 = wilson_interval(k, n, level=0.9)
    assert want[0] < lo90 < p < hi90 < want[1]
    for bad in ((3, 2), (-1, 2), (1, 0), (1.5, 3)):
        with pytest.raises(StatsError):
            wilson_interval(*bad)
    with pytest.raises(StatsError):
        wilson_interval(1, 2, level=1.0)


def test_standard_error_is_the_ddof1_se_of_the_mean_for_any_container():
    """Closed forms: [1, 2, 3, 4] has sample variance 5/3, so SE = sqrt(5/3) / 2; 0/1 values with
    k ones of n give sqrt(p (1 - p) / (n - 1)) (not the plug-in sqrt(p (1 - p) / n))."""
    import torch

    from mdm.eval.stats import standard_error

    assert standard_error([1, 2, 3, 4]) == pytest.approx(math.sqrt(5 / 3) / 2, rel=1e-12)
    bits = [1] * 3 + [0] * 7
    want = math.sqrt(0.3 * 0.7 / 9)
    for x in (bits, np.array(bits, dtype=np.int64), torch.tensor(bits, dtype=torch.bool),
              torch.tensor(bits, dtype=torch.float32)):
        assert standard_error(x) == pytest.approx(want, rel=1e-12)
    assert math.isnan(standard_error([2.0])) and math.isnan(standard_error([]))
    assert summarize([1, 2, 3, 4]).se == standard_error([1, 2, 3, 4])
