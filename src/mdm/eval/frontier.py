"""Cost-quality curves: Pareto frontiers with bootstrap bands, quality at a matched cost, the cost
to reach a quality threshold (censored where a run never reaches it) and two arms' costs compared on
the same seeds (:func:`paired_cost_ratio`).

Cost is anything where lower is better and quality anything where higher is better: NFE and
accuracy for a sampler sweep, training steps and accuracy for a learning curve.  Re-exported by
:mod:`mdm.eval.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from mdm.errors import StatsError
from mdm.eval.bootstrap import (
    _CHUNK_ELEMENTS,
    ThresholdEstimate,
    as_values,
    bootstrap_ci,
    check_resampling,
    order_quantiles,
    resample_counts,
    sign_flip_p_value,
    standard_error,
)

__all__ = ["FrontierBand", "censored_median", "cost_to_threshold", "first_crossing", "frontier_band",
           "interpolate_curve", "paired_cost_ratio", "pareto_frontier", "quality_at_cost", "step_frontier",
           "threshold_summary"]


def _pair(cost, quality, names=("cost", "quality")) -> tuple[np.ndarray, np.ndarray]:
    c, q = as_values(cost, names[0]), as_values(quality, names[1])
    if c.shape != q.shape:
        raise StatsError(f"{names[0]} and {names[1]} need one value per point, got {c.size} and {q.size}")
    return c, q


def pareto_frontier(cost, quality) -> np.ndarray:
    """Indices of the non-dominated points, sorted by cost (then by index).

    Point ``j`` dominates ``i`` when ``cost[j] <= cost[i]`` and ``quality[j] >= quality[i]`` with
    at least one strict: nothing cheaper is at least as good.  Identical points dominate neither
    each other, so both are kept.
    """
    c, q = _pair(cost, quality)
    order = np.lexsort((np.arange(c.size), -q, c))  # by cost, best quality first, then index
    keep, best_cheaper = [], -math.inf  # best quality among strictly cheaper points
    start = 0
    while start < order.size:
        stop = start
        while stop < order.size and c[order[stop]] == c[order[start]]:
            stop += 1
        group = order[start:stop]
        top = q[group[0]]
        if top > best_cheaper:
            keep.extend(int(k) for k in group if q[k] == top)
        best_cheaper = max(best_cheaper, top)
        start = stop
    return np.asarray(keep, dtype=np.int64)


def step_frontier(cost, quality, grid) -> np.ndarray:
    """At each grid cost ``g``, the best quality of any point with ``cost <= g`` (``nan`` where
    no point is that cheap): the frontier as a step function, no interpolation."""
    c, q = _pair(cost, quality)
    g = as_values(grid, "grid")
    best = np.where(c[:, None] <= g[None, :], q[:, None], -np.inf).max(axis=0)
    return np.where(np.isneginf(best), np.nan, best)


def interpolate_curve(fc: np.ndarray, fv: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The one interpolation rule of a frontier: values ``fv`` (``[K]`` or ``[K, I]``) of the points at
    strictly increasing costs ``fc [K]``, read at the costs ``at`` (any shape).

    Between two points the mixture ``(1 - w) v_j + w v_{j+1}``, ``w = (c - c_j) / (c_{j+1} - c_j)``:
    running the cheaper setting with probability ``1 - w`` and the dearer one otherwise reaches that
    cost and value in expectation.  Beyond the costliest point: its values (spending more cannot
    hurt); below the cheapest: ``nan`` (not reachable)."""
    if fc.size == 1:
        out = np.repeat(fv[None], at.size, axis=0).reshape(at.shape + fv.shape[1:])
    else:
        right = np.clip(np.searchsorted(fc, at, side="right"), 1, fc.size - 1)
        left = right - 1
        w = np.clip((at - fc[left]) / (fc[right] - fc[left]), 0.0, 1.0)
        w = w.reshape(w.shape + (1,) * (fv.ndim - 1))
        out = (1 - w) * fv[left] + w * fv[right]
    out[at < fc[0]] = np.nan
    return out


def quality_at_cost(costs, qualities, c) -> float | np.ndarray:
    """Quality reachable at cost ``c`` (a scalar or an array): :func:`interpolate_curve` along the
    Pareto points (of identical points, one)."""
    cost, quality = _pair(costs, qualities, ("costs", "qualities"))
    front = pareto_frontier(cost, quality)
    front = front[np.r_[True, np.diff(cost[front]) > 0]]  # equal costs on the frontier: equal qualities
    at = np.asarray(c, dtype=np.float64)
    if np.isnan(at).any():
        raise StatsError("c holds NaN: ask for the quality at a real cost")
    out = interpolate_curve(cost[front], quality[front], at.reshape(-1)).reshape(at.shape)
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class FrontierBand:
    """A step frontier on a cost grid: the plug-in curve and its pointwise bootstrap band.

    ``quality[g]`` is the best setting's mean quality among settings costing at most ``grid[g]``
    on all test items; ``lo``/``hi`` the pointwise percentile band over item resamples (``nan``
    where no setting is that cheap).  The band is pointwise, not simultaneous, and the max over
    settings makes the plug-in curve slightly optimistic (a selection effect): choose a setting
    on validation (:func:`mdm.eval.stats.choose_on_validation`) before reporting its test score.
    """

    grid: np.ndarray
    quality: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    level: float
    n_boot: int

    def to_dict(self) -> dict:
        return {"grid": self.grid.tolist(), "quality": self.quality.tolist(), "lo": self.lo.tolist(),
                "hi": self.hi.tolist(), "level": self.level, "n_boot": self.n_boot,
                "method": f"pointwise percentile bootstrap over test items ({self.n_boot:,} resamples)"}


def frontier_band(costs, correct, *, grid, level: float = 0.95, n_boot: int = 2_000,
                  seed: int = 0) -> FrontierBand:
    """Step frontier of ``K`` settings on a cost grid with a bootstrap band over test items.

    ``correct``: ``[K, I]`` per-item scores (0/1 correctness or any score) of each setting on the
    same ``I`` items.  ``costs``: ``[K]`` (say mean NFE) or ``[K, I]`` per-item costs, averaged
    on each resample like the scores.  Each resample draws the ``I`` items once, with
    replacement, and re-scores every setting on that same draw (the settings stay paired).
    """
    check_resampling(level, n_boot)
    scores = as_values(correct, "correct", ndim=2)
    k, n_items = scores.shape
    cost = np.asarray(costs, dtype=np.float64)
    cost = as_values(cost, "costs", ndim=cost.ndim if cost.ndim in (1, 2) else 1)
    if cost.shape not in ((k,), (k, n_items)):
        raise StatsError(f"costs must have shape ({k},) or ({k}, {n_items}) like correct, got {cost.shape}")
    g = as_values(grid, "grid")
    per_item_cost = cost.ndim == 2
    point = step_frontier(cost.mean(axis=1) if per_item_cost else cost, scores.mean(axis=1), g)
    rng = np.random.default_rng(seed)
    curves = np.empty((n_boot, g.size))
    chunk = max(1, _CHUNK_ELEMENTS // max(n_items, k * g.size))
    for start in range(0, n_boot, chunk):
        counts = resample_counts(rng, n_items, min(chunk, n_boot - start))  # [c, I] integers
        q = counts @ scores.T / n_items  # [c, K]: each setting's mean score on the resample
        c = counts @ cost.T / n_items if per_item_cost else np.broadcast_to(cost, q.shape)
        reach = c[:, :, None] <= g[None, None, :]
        curves[start:start + q.shape[0]] = np.where(reach, q[:, :, None], -np.inf).max(axis=1)
    lo, hi = order_quantiles(curves, level)
    nan_if_unreached = lambda v: np.where(np.isneginf(v), np.nan, v)  # noqa: E731
    return FrontierBand(g, point, nan_if_unreached(lo), nan_if_unreached(hi), level, n_boot)


def first_crossing(costs, qualities, threshold: float, *, log_cost: bool = False) -> float:
    """The rule of :func:`cost_to_threshold` on plain floats: the cost where ``quality >= threshold``
    is first met, interpolated linearly from the point before it (in ``log(cost)`` with
    ``log_cost``); met at the first point, or after a NaN point: its own cost; ``math.inf`` if never.
    A NaN quality never meets the threshold."""
    prev = None
    for c, q in zip(costs, qualities, strict=True):
        if q >= threshold:  # False for NaN
            if prev is None or math.isnan(prev[1]):
                return float(c)
            (c0, q0), log = prev, math.log if log_cost else float
            x0, x1 = log(c0), log(c)
            x = x0 + (threshold - q0) / (q - q0) * (x1 - x0)
            return math.exp(x) if log_cost else float(x)
        prev = (c, q)
    return math.inf


def cost_to_threshold(costs, qualities, threshold: float, *, log_cost: bool = False) -> float:
    """The cost at which a curve first reaches ``quality >= threshold``; ``math.inf`` if never.

    ``costs`` must be non-decreasing (training steps, NFE).  At the first point ``i`` that meets
    the threshold, the crossing is interpolated linearly between points ``i-1`` and ``i`` (in
    ``log(cost)`` with ``log_cost=True``, for geometric grids); met at the first point: its cost
    (:func:`first_crossing`).  ``inf`` marks a censored run: it tells that the cost exceeds the last
    one measured, nothing more.
    """
    c, q = _pair(costs, qualities, ("costs", "qualities"))
    if np.any(np.diff(c) < 0):
        raise StatsError("costs must be sorted ascending (one curve, cheapest point first)")
    if log_cost and c[0] <= 0:
        raise StatsError("log_cost=True needs positive costs")
    if math.isnan(threshold):
        raise StatsError("threshold is NaN")
    return first_crossing(c.tolist(), q.tolist(), float(threshold), log_cost=log_cost)


def censored_median(values, *, threshold: float = math.nan, level: float = 0.95, n_boot: int = 10_000,
                    seed: int = 0) -> ThresholdEstimate:
    """Median and percentile bootstrap CI of costs where ``inf`` marks a censored run.

    Why the median: a censored run's cost is only known to exceed the last cost measured, so the
    mean is not identified as soon as one run is censored, while the median is, as long as fewer
    than half the runs are censored.  An ``inf`` median or upper bound is the honest answer when
    they are not (it reads "beyond the budget measured").  With few runs the bootstrap median
    takes only a few distinct values: the interval is coarse, as the evidence is.
    """
    check_resampling(level, n_boot)
    v = as_values(values, "costs", allow_inf=True)
    if np.isneginf(v).any():
        raise StatsError("a cost to threshold cannot be -inf")
    n, censored = v.size, int(np.isinf(v).sum())
    median = float(np.median(v))
    lo, hi = bootstrap_ci(v, np.median, level=level, n_boot=n_boot, seed=seed, allow_inf=True)
    if censored == 0:
        mean, se = float(v.mean()), standard_error(v)
    else:
        mean, se = math.inf, math.nan
    method = (f"median; percentile bootstrap CI of the median ({n_boot:,} resamples); "
              f"{censored} of {n} runs censored" if n > 1 else "single run (n=1): no interval")
    return ThresholdEstimate(mean, se, lo, hi, n, level, method, median, censored, threshold)


def threshold_summary(curves: Iterable[tuple], threshold: float, *, level: float = 0.95,
                      n_boot: int = 10_000, seed: int = 0, log_cost: bool = False) -> ThresholdEstimate:
    """Cost to reach ``threshold`` over runs (seeds): the median, its CI and the censored count.

    ``curves``: one ``(costs, qualities)`` pair per run; each goes through
    :func:`cost_to_threshold`, and the costs through :func:`censored_median`.
    """
    costs = [cost_to_threshold(c, q, threshold, log_cost=log_cost) for c, q in curves]
    if not costs:
        raise StatsError("threshold_summary needs at least one (costs, qualities) curve")
    return censored_median(costs, threshold=threshold, level=level, n_boot=n_boot, seed=seed)


def _lower_median(x, axis=None):
    """The lower median (a sample value, never an average of two): defined when values are +-inf."""
    return np.quantile(x, 0.5, axis=axis, method="inverted_cdf")


def paired_cost_ratio(a, b, *, level: float = 0.95, n_boot: int = 10_000, seed: int = 0) -> dict:
    """Arm ``a`` against arm ``b`` on the same seeds: costs to a threshold (``inf`` = censored).

    Per seed ``d = log2(a / b)`` (``+inf`` when only ``a`` is censored, ``-inf`` when only ``b`` is;
    seeds where both are censored carry no order and are dropped, and counted).  Returns the lower
    median of ``d`` with its percentile bootstrap CI over seeds, ``ratio = 2**median``, how many seeds
    each arm was faster on, and a two-sided sign-flip p-value on the signs of ``d`` (ties count 0):
    a paired sign test, valid under censoring because a censored run is slower than any run that
    reached the threshold.  The median, its bounds and the ratio are ``+-inf`` where the
    censored seeds decide them.
    """
    a = as_values(a, "a", allow_inf=True)
    b = as_values(b, "b", allow_inf=True)
    if a.shape != b.shape:
        raise StatsError(f"a and b must hold one cost per shared seed, got {a.size} and {b.size}")
    both = np.isinf(a) & np.isinf(b)
    a, b = a[~both], b[~both]
    out = {"n_pairs": int(a.size), "n_both_censored": int(both.sum()),
           "a_faster": int(np.sum(a < b)), "b_faster": int(np.sum(a > b))}
    if a.size == 0:
        return out | {"median_log2_ratio": None, "ci": None, "ratio": None, "p": None}
    with np.errstate(divide="ignore"):
        d = np.where(np.isinf(a), math.inf, np.where(np.isinf(b), -math.inf, np.log2(a / b)))
    med = float(_lower_median(d))
    lo, hi = bootstrap_ci(d, _lower_median, level=level, n_boot=n_boot, seed=seed, allow_inf=True)
    p, _ = sign_flip_p_value(np.sign(d), seed=seed)
    return out | {"median_log2_ratio": med, "ci": [lo, hi], "ratio": 2.0 ** med, "p": p}
