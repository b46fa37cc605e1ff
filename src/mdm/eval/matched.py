"""Two cost-quality curves compared at matched cost, paired by model and test item.

A sampler family (say EB over a grid of ``gamma``) is a set of settings, each with a mean cost (NFE)
and a score per test item (correct or not).  Its frontier, interpolated linearly between adjacent
settings, is reachable: running the cheaper setting with probability ``1 - w`` and the dearer one
otherwise costs and scores the interpolated values in expectation (:func:`mdm.eval.frontier.
interpolate_curve`, the rule of ``quality_at_cost``).  The same mixture applies item by item, so
:func:`interpolate_frontier` gives
each test item's expected score at a cost, and two families are compared at equal cost by the
paired per-item difference over every (model, item) (:func:`matched_cost_difference`, a two-stage
bootstrap over models then items, and a sign-flip p; :func:`mdm.eval.stats.paired_difference_clustered`).
"""

from __future__ import annotations

import numpy as np

from mdm.errors import StatsError
from mdm.eval.bootstrap import PairedEstimate, as_values, check_resampling, order_quantiles
from mdm.eval.frontier import interpolate_curve, pareto_frontier

__all__ = ["clustered_band", "interpolate_frontier", "matched_cost_difference"]


def interpolate_frontier(costs, scores, at, *, keep=None) -> np.ndarray:
    """Per-item scores ``[G, I]`` of a family's frontier interpolated at the costs ``at [G]``.

    ``costs [K]``: each setting's mean cost; ``scores [K, I]``: its per-item scores.  ``keep``: the
    settings that make the curve (e.g. the Pareto settings on a *validation* split); default the
    Pareto settings of these means.  Kept settings are sorted by cost (of equal costs the best mean
    stays); each item's score is read off them by :func:`mdm.eval.frontier.interpolate_curve` (a
    mixture of adjacent settings; beyond the costliest, its scores; below the cheapest, ``nan``).
    """
    c = as_values(costs, "costs")
    s = as_values(scores, "scores", ndim=2)
    if s.shape[0] != c.size:
        raise StatsError(f"scores must have one row per cost, got {s.shape[0]} rows and {c.size} costs")
    g = as_values(at, "at")
    idx = pareto_frontier(c, s.mean(axis=1)) if keep is None else np.asarray(keep, dtype=np.int64)
    if idx.size == 0:
        raise StatsError("keep must name at least one setting")
    idx = idx[np.lexsort((-s[idx].mean(axis=1), c[idx]))]  # by cost, best mean first
    idx = idx[np.r_[True, np.diff(c[idx]) > 0]]  # one setting per cost
    return interpolate_curve(c[idx], s[idx], g)


def matched_cost_difference(a: list[tuple], b: list[tuple], at, *, level: float = 0.95,
                            n_boot: int = 10_000, seed: int = 0) -> list[PairedEstimate | None]:
    """Family ``a`` minus family ``b`` at each matched cost ``at[g]``, paired by model and item.

    ``a`` and ``b``: one ``(costs [K], scores [K, I], keep)`` per model (``keep`` as in
    :func:`interpolate_frontier`, or None), the same ``I`` test items in the same order for both
    families of a model.  Each model's frontiers are interpolated item by item at ``at[g]``; the
    ``[models, items]`` differences go to :func:`mdm.eval.stats.paired_difference_clustered`.
    ``None`` where some model cannot reach ``at[g]`` with either family.
    """
    from mdm.eval.stats import paired_difference_clustered

    if len(a) != len(b) or not a:
        raise StatsError(f"a and b need one curve per model, the same models: got {len(a)} and {len(b)}")
    g = as_values(at, "at")
    ia = [interpolate_frontier(c, s, g, keep=k) for c, s, k in a]  # per model [G, I]
    ib = [interpolate_frontier(c, s, g, keep=k) for c, s, k in b]
    if len({x.shape for x in ia + ib}) != 1:
        raise StatsError("a and b must score the same number of items for every model")
    ia, ib = np.stack(ia, axis=1), np.stack(ib, axis=1)  # [G, M, I]
    return [None if np.isnan(x).any() or np.isnan(y).any() else
            paired_difference_clustered(x, y, level=level, n_boot=n_boot, seed=seed)
            for x, y in zip(ia, ib)]


def clustered_band(scores, *, level: float = 0.95, n_boot: int = 2_000, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mean [G], lo [G], hi [G])`` of ``scores [G, M, I]`` (a curve at ``G`` costs, ``M`` models,
    ``I`` items): the grand mean and a pointwise two-stage percentile bootstrap band -- draw ``M``
    models with replacement, then ``I`` items within each -- one draw shared by every cost, so the
    band moves as one curve.  Costs where any score is ``nan`` (unreachable) give ``nan``."""
    check_resampling(level, n_boot)
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 3 or 0 in x.shape:
        raise StatsError(f"scores must be a non-empty [costs, models, items] array, got shape {x.shape}")
    n_g, n_m, n_i = x.shape
    rng = np.random.default_rng(seed)
    means = np.empty((n_boot, n_g))
    for b in range(n_boot):
        models = rng.integers(0, n_m, size=(n_m, 1))
        items = rng.integers(0, n_i, size=(n_m, n_i))
        means[b] = x[:, models, items].mean(axis=(1, 2))
    lo, hi = order_quantiles(means, level)
    bad = np.isnan(x).any(axis=(1, 2))
    mean = np.where(bad, np.nan, np.nan_to_num(x).mean(axis=(1, 2)))
    return mean, np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)
