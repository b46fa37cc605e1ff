"""Power-law exponents of a cost against a size, with a bootstrap CI over seeds.

A question such as "does the number of sampling steps N* needed for a target error grow with the
sequence length L?" (Feng et al., arXiv 2502.09622: token error no, sequence error yes) is a
power law ``N* ≈ c · L^a``: ``a ≈ 0`` means independent of L, ``a ≈ 1`` linear.  The exponent of
one run is the least-squares slope of ``log N*`` on ``log L`` (:func:`loglog_slope`); over runs
(seeds: random instances, sampling seeds, trained models) :func:`power_law_exponent` reports the
mean slope with a percentile bootstrap CI over seeds (:func:`mdm.eval.stats.summarize`).  Because
the slope is linear in ``log N*``, the mean of the per-seed slopes is the slope of the mean
``log N*`` when every seed has every size, so resampling seeds and refitting is resampling slopes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mdm.errors import StatsError
from mdm.eval.bootstrap import Estimate
from mdm.eval.stats import summarize

__all__ = ["loglog_slope", "power_law_exponent"]


def loglog_slope(sizes: Sequence[float], costs: Sequence[float | None]) -> float | None:
    """Least-squares slope of ``log cost`` on ``log size``; ``None`` unless every size has a
    (positive) cost and there are at least two sizes."""
    if len(sizes) < 2 or any(v is None for v in costs):
        return None
    xs = [math.log(v) for v in sizes]
    ys = [math.log(v) for v in costs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def power_law_exponent(sizes: Sequence[float], costs_by_seed: Sequence[Sequence[float | None]], *,
                       level: float = 0.95, n_boot: int = 10_000, seed: int = 0) -> tuple[Estimate, int]:
    """The exponent ``a`` of ``cost ≈ c · size^a`` over seeds: ``(estimate, censored)``.

    ``costs_by_seed[s][j]`` is seed ``s``'s cost at ``sizes[j]`` (``None``, NaN or inf: never
    reached, e.g. beyond the grid).  A seed with a missing cost has no slope and is counted in
    ``censored``, not guessed.  The estimate is the mean of the per-seed slopes, its SE and its
    percentile bootstrap CI over seeds; one seed gives no interval.
    """
    slopes = []
    for costs in costs_by_seed:
        if len(costs) != len(sizes):
            raise StatsError(f"each seed needs one cost per size ({len(sizes)}), got {len(costs)}")
        known = [v if v is not None and math.isfinite(v) else None for v in costs]
        slope = loglog_slope(sizes, known)
        if slope is not None:
            slopes.append(slope)
    if not slopes:
        raise StatsError("no seed reached the target at every size: no exponent can be fitted")
    return summarize(slopes, level=level, n_boot=n_boot, seed=seed), len(costs_by_seed) - len(slopes)
