"""Statistics every experiment reports with: one module, one way of doing each thing.

* :func:`summarize` -- mean, standard error and a percentile bootstrap CI over values (seeds, runs)
* :func:`standard_error` -- the standard error of a mean alone (``ddof=1``; of 0/1 values too)
* :func:`paired_difference` -- the mean of matched differences ``a - b`` (same seeds, same test
  items) with a bootstrap CI over pairs and a two-sided sign-flip p-value
* :func:`paired_difference_clustered` -- the same for items nested in seeds (``[seeds, items]``)
* :func:`choose_on_validation` -- pick a setting on validation scores only, report it on test
* :func:`wilson_interval` -- the Wilson score CI of a proportion ``k / n`` (sound at 0 and 1, where a
  bootstrap interval collapses to a point)
* :func:`evidence_line` -- the one-line "how strong is this evidence" text of a results page
* from :mod:`mdm.eval.frontier`: :func:`pareto_frontier`, :func:`frontier_band`,
  :func:`quality_at_cost`, :func:`cost_to_threshold`, :func:`threshold_summary`,
  :func:`paired_cost_ratio`
* from :mod:`mdm.eval.bootstrap`: :class:`Estimate`, :class:`PairedEstimate`,
  :class:`ThresholdEstimate`, :func:`bootstrap_ci`

Why paired: two arms run on the same seeds and items share most of their noise (a hard puzzle is
hard for both samplers).  The difference of per-pair results cancels it; resampling ``a`` and
``b`` independently does not, and gives an interval many times too wide.

Numpy only; every random draw comes from ``np.random.default_rng(seed)``.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

import numpy as np

from mdm.errors import StatsError
from mdm.eval.bootstrap import (
    _CHUNK_ELEMENTS,
    Estimate,
    PairedEstimate,
    ThresholdEstimate,
    as_values,
    bootstrap_ci,
    check_resampling,
    order_quantiles,
    sign_flip_p_value,
    standard_error,
)
from mdm.eval.frontier import (
    FrontierBand,
    cost_to_threshold,
    frontier_band,
    paired_cost_ratio,
    pareto_frontier,
    quality_at_cost,
    threshold_summary,
)

__all__ = [
    "Choice", "Estimate", "FrontierBand", "PairedEstimate", "ThresholdEstimate", "best_on_validation",
    "bootstrap_ci", "choose_on_validation", "cost_to_threshold", "evidence_line", "frontier_band",
    "paired_cost_ratio", "paired_difference", "paired_difference_clustered", "pareto_frontier",
    "quality_at_cost", "sign_flip_p_value", "standard_error", "summarize", "threshold_summary",
    "wilson_interval", "within_one_se",
]


def summarize(x, *, level: float = 0.95, n_boot: int = 10_000, seed: int = 0) -> Estimate:
    """Mean, standard error (``ddof=1``) and percentile bootstrap CI of the values ``x`` (1-D).

    One value gives ``se = nan`` and the degenerate interval ``(mean, mean)`` with
    ``has_interval == False`` and the method saying so.  NaN or inf values raise
    :class:`~mdm.errors.StatsError`.
    """
    check_resampling(level, n_boot)
    arr = as_values(x)
    n, mean = arr.size, float(arr.mean())
    if n == 1:
        return Estimate(mean, math.nan, mean, mean, 1, level, "single value (n=1): no interval")
    lo, hi = bootstrap_ci(arr, level=level, n_boot=n_boot, seed=seed)
    return Estimate(mean, standard_error(arr), lo, hi, n, level,
                    f"percentile bootstrap CI ({n_boot:,} resamples)")


def wilson_interval(k: int, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion ``k / n`` (Wilson 1927):
    ``(p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``, z the two-sided normal quantile.
    Unlike a bootstrap it does not collapse to a point at 0/n or n/n (0/10 gives [0, 0.278])."""
    if not 0 < level < 1:
        raise StatsError(f"level must lie in (0, 1), got {level}")
    if int(n) != n or n < 1 or int(k) != k or not 0 <= k <= n:
        raise StatsError(f"need integers 0 <= k <= n and n >= 1, got k={k!r}, n={n!r}")
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = k / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    d = 1 + z * z / n
    lo = 0.0 if k == 0 else max(0.0, (centre - half) / d)  # exact ends (no rounding residue)
    return lo, 1.0 if k == n else min(1.0, (centre + half) / d)


def paired_difference(a, b, *, level: float = 0.95, n_boot: int = 10_000, seed: int = 0,
                      n_flip: int = 10_000) -> PairedEstimate:
    """The mean of ``a - b`` over matched pairs with a bootstrap CI over pairs and a sign-flip p.

    ``a[i]`` and ``b[i]`` must come from the same unit (the same training seed, the same test
    item): the pairs are resampled whole, so shared noise cancels.  Unequal lengths are refused.
    """
    a, b = as_values(a, "a"), as_values(b, "b")
    if a.shape != b.shape:
        raise StatsError(
            f"a and b must be matched pairs of equal length, got {a.size} and {b.size}: pass one "
            "value per shared seed or item to each (or use summarize on each arm for unpaired data)"
        )
    d = a - b
    est = summarize(d, level=level, n_boot=n_boot, seed=seed)
    rng = np.random.default_rng([seed, 1])  # its own stream: the flips never shift the bootstrap
    p, how = sign_flip_p_value(d, n_flip=n_flip, seed=rng)
    method = f"paired {est.method}; sign-flip p ({how})"
    return PairedEstimate(est.mean, est.se, est.lo, est.hi, est.n, level, method, p, d.size)


def paired_difference_clustered(a, b, *, level: float = 0.95, n_boot: int = 10_000, seed: int = 0,
                                n_flip: int = 10_000) -> PairedEstimate:
    """Paired difference for items nested in seeds: ``a``, ``b`` are ``[seeds, items]`` arrays
    (e.g. per-puzzle correctness of 3 trained models on the same 1,000 test puzzles under two arms).

    Point estimate: the grand mean of ``d = a - b``.  Interval: a **two-stage** percentile
    bootstrap -- draw ``S`` seeds with replacement, then, for each drawn seed independently,
    ``I`` of its items with replacement -- so the interval reflects both a new training seed and a
    new test set.  For this estimator the bootstrap variance is exactly
    ``[(1/S) sum_s (m_s - m)^2 + (1/S) sum_s v_s / I] / S`` (``m_s``, ``v_s`` the per-seed mean and
    population variance of ``d``): in expectation it scales the seed-to-seed part by ``(S-1)/S``
    and counts the item part about ``(2S-1)/S`` times -- conservative on items, slightly short on
    seeds, and far better than resampling seeds alone when ``S`` is 3.  ``se`` is the standard
    deviation of the bootstrap means.

    p-value: a sign flip of each ``(seed, item)`` difference (:func:`sign_flip_p_value`), valid
    under the sharp null that the two arms' results are exchangeable item by item *for these
    trained models*; with a handful of seeds no test can say more about new seeds.
    """
    check_resampling(level, n_boot)
    a, b = as_values(a, "a", ndim=2), as_values(b, "b", ndim=2)
    if a.shape != b.shape:
        raise StatsError(
            f"a and b must be matched [seeds, items] arrays of one shape, got {a.shape} and {b.shape}"
        )
    d = a - b
    s, i = d.shape
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    chunk = max(1, _CHUNK_ELEMENTS // d.size)
    for start in range(0, n_boot, chunk):
        c = min(chunk, n_boot - start)
        seeds = rng.integers(0, s, size=(c, s, 1))
        items = rng.integers(0, i, size=(c, s, i))
        means[start:start + c] = d[seeds, items].mean(axis=(1, 2))
    lo, hi = order_quantiles(means, level)
    p, how = sign_flip_p_value(d.ravel(), n_flip=n_flip, seed=np.random.default_rng([seed, 1]))
    se = float(means.std(ddof=1)) if n_boot > 1 else math.nan
    method = (f"two-stage paired percentile bootstrap CI ({s} seeds, then {i:,} items within each; "
              f"{n_boot:,} resamples); sign-flip p ({how})")
    return PairedEstimate(float(d.mean()), se, float(lo), float(hi), d.size, level, method, p, d.size)


# ----------------------------------------------------------------------------------------------
# Choose on validation, report on test
# ----------------------------------------------------------------------------------------------

Rule = Callable[[Mapping[Hashable, Estimate], "Mapping[Hashable, float] | None"], Hashable]


@dataclass(frozen=True)
class Choice:
    """The key chosen on validation, its validation estimate and its (reported) test estimate."""

    key: Hashable
    validation: Estimate
    test: Estimate
    rule: str = ""

    def to_dict(self) -> dict:
        return {"key": self.key, "rule": self.rule, "validation": self.validation.to_dict(),
                "test": self.test.to_dict()}


def best_on_validation(estimates: Mapping[Hashable, Estimate], cost=None) -> Hashable:
    """The key with the highest validation mean (the first one listed on ties)."""
    return max(estimates, key=lambda k: estimates[k].mean)


def within_one_se(estimates: Mapping[Hashable, Estimate], cost: Mapping[Hashable, float] | None = None
                  ) -> Hashable:
    """The cheapest key (by ``cost``; the first listed when no cost or on cost ties) whose
    validation mean is within one standard error of the best one's.

    The margin is the best candidate's own validation SE: differences smaller than the noise of
    the validation score are not evidence, so the rule prefers the cheaper setting among those
    it cannot tell apart (the "one-standard-error rule", Hastie, Tibshirani & Friedman, *The
    Elements of Statistical Learning*, 2009, sec. 7.10).  A single-value SE (``nan``) gives a
    margin of zero.
    """
    best = estimates[best_on_validation(estimates)]
    margin = 0.0 if math.isnan(best.se) else best.se
    near = [k for k in estimates if estimates[k].mean >= best.mean - margin]
    if cost is None:
        return near[0]
    return min(near, key=lambda k: cost[k])  # min keeps the first listed on ties


def choose_on_validation(validation: Mapping[Hashable, object], test: Mapping[Hashable, object], *,
                         rule: Rule = within_one_se, cost: Mapping[Hashable, float] | None = None,
                         higher_is_better: bool = True, level: float = 0.95, n_boot: int = 10_000,
                         seed: int = 0) -> Choice:
    """Pick a key on the validation scores only and report the test scores of that key.

    ``validation`` and ``test`` map each candidate (a setting) to its per-item (or per-seed)
    scores on that split.  ``rule(estimates, cost) -> key`` sees only the validation estimates
    (default :func:`within_one_se`).  Refused with :class:`~mdm.errors.StatsError`: the same
    mapping or the same array for both splits, both splits holding identical (non-constant)
    arrays for every key, different key sets, a ``cost`` missing a key, and a ``rule`` that takes
    a ``test`` argument or carries the test data (closure, default, bound object or partial).
    These guard against mistakes, not against a determined cheat.
    """
    _check_splits(validation, test, rule)
    if cost is not None and set(cost) != set(validation):
        raise StatsError(f"cost must give a cost for every candidate {sorted(map(str, validation))}")
    sign = 1.0 if higher_is_better else -1.0
    val_est = {k: summarize(sign * as_values(v, f"validation[{k!r}]"), level=level, n_boot=n_boot,
                            seed=seed) for k, v in validation.items()}
    key = rule(val_est, cost)
    if key not in validation:
        raise StatsError(f"rule {getattr(rule, '__name__', rule)!r} returned {key!r}, not a candidate")
    flip = val_est[key]
    if sign < 0:
        flip = Estimate(-flip.mean, flip.se, -flip.hi, -flip.lo, flip.n, flip.level, flip.method)
    reported = summarize(as_values(test[key], f"test[{key!r}]"), level=level, n_boot=n_boot, seed=seed)
    return Choice(key, flip, reported, getattr(rule, "__name__", repr(rule)))


def _check_splits(validation: Mapping, test: Mapping, rule) -> None:
    if validation is test:
        raise StatsError("validation and test are the same object: choose on a separate validation split")
    if set(validation) != set(test):
        raise StatsError(
            f"validation and test must score the same candidates, got {sorted(map(str, validation))} "
            f"and {sorted(map(str, test))}"
        )
    if not validation:
        raise StatsError("no candidates to choose from")
    arrays = {k: (np.asarray(validation[k]), np.asarray(test[k])) for k in validation}
    for k, (v, t) in arrays.items():
        if validation[k] is test[k] or (v.size and np.shares_memory(v, t)):
            raise StatsError(f"candidate {k!r} uses the same array for validation and test")
    same = all(v.shape == t.shape and np.array_equal(v, t) for v, t in arrays.values())
    varies = any(np.unique(v).size > 1 for v, _ in arrays.values())
    if same and varies:
        raise StatsError("validation and test hold identical scores for every candidate: pass the "
                         "validation split's scores as validation")
    if not callable(rule):
        raise StatsError(f"rule must be a callable rule(estimates, cost) -> key, got {rule!r}")
    _refuse_rule_reading_test(rule, test)


def _refuse_rule_reading_test(rule, test: Mapping) -> None:
    try:
        params = inspect.signature(rule).parameters
    except (TypeError, ValueError):
        params = {}
    if any("test" in name.lower() for name in params):
        raise StatsError(f"rule {rule!r} takes a test argument: a rule may only read validation")
    seen = [getattr(rule, "__self__", None), *(getattr(rule, "__defaults__", None) or ())]
    seen += list((getattr(rule, "__kwdefaults__", None) or {}).values())
    seen += [c.cell_contents for c in getattr(rule, "__closure__", None) or () if _filled(c)]
    if isinstance(rule, functools.partial):
        seen += [*rule.args, *rule.keywords.values()]
    test_objects = [test, *test.values()]
    if any(any(obj is t for t in test_objects) for obj in seen):
        raise StatsError(f"rule {rule!r} carries the test data: a rule may only read validation")


def _filled(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018  (an empty cell raises)
    except ValueError:
        return False
    return True


# ----------------------------------------------------------------------------------------------
# The evidence box
# ----------------------------------------------------------------------------------------------

_SETTINGS = {"our proxy": "our proxy of the paper's setting", "paper's setting": "the paper's own setting"}


def evidence_line(*, seeds: int | None, n_test: int, method: str | Estimate,
                  setting: str = "our proxy", level: float | None = None) -> str:
    """The one-line "how strong is this evidence" text of a results page, e.g.
    ``Evidence: 3 training seeds · 1,000 test items · 95% percentile bootstrap CI (10,000
    resamples) · our proxy of the paper's setting``.

    ``seeds``: training seeds behind each number (``None``: no trained model, exact oracles).
    ``method``: an :class:`Estimate` (its level and method are used) or the method in words
    (then ``level`` adds its coverage).  ``setting``: ``"our proxy"`` or ``"paper's setting"``.
    """
    if setting not in _SETTINGS:
        raise StatsError(f"setting must be one of {sorted(_SETTINGS)}, got {setting!r}")
    if seeds is not None and (int(seeds) != seeds or seeds < 1):
        raise StatsError(f"seeds must be a positive integer or None (no trained model), got {seeds!r}")
    if int(n_test) != n_test or n_test < 1:
        raise StatsError(f"n_test must be a positive integer, got {n_test!r}")
    if isinstance(method, Estimate):
        level, method = method.level, method.method
    how = method if level is None else f"{level * 100:g}% {method}"
    if seeds is None:
        trained = "no trained model (exact oracles)"
    else:
        trained = f"{seeds} training seed{'s' if seeds != 1 else ''}"
    return " · ".join(["Evidence: " + trained, f"{n_test:,} test items", how, _SETTINGS[setting]])
