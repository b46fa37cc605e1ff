"""How a cost grows with a size: the fewest steps reaching a target error, and power-law exponents.

Feng et al. (arXiv 2502.09622) ask whether the number of sampling steps ``N*`` needed for a target
error grows with the sequence length ``L`` (token error: no; sequence error: yes).  Here:

* :func:`steps_needed` -- the first ``N`` of a curve measured on an increasing grid whose error is
  at most the target, interpolated linearly in ``log N`` from the grid point before it;
* :func:`fewest_steps` -- the same without the whole curve: a doubling search on ``1, 2, 4, ...``
  that evaluates only the grid points around the crossing;
* :func:`loglog_slope` -- the exponent ``a`` of ``N* ≈ c · L^a`` for one run (least squares on logs;
  ``a ≈ 0``: independent of L, ``a ≈ 1``: linear);
* :func:`power_law_exponent` -- over runs (seeds): the mean slope with a percentile bootstrap CI
  over seeds (:func:`mdm.eval.stats.summarize`).  The slope is linear in ``log N*``, so the mean of
  the per-seed slopes is the slope of the mean ``log N*`` when every seed has every size:
  resampling seeds and refitting is resampling slopes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from mdm.errors import StatsError
from mdm.eval.bootstrap import Estimate
from mdm.eval.frontier import first_crossing
from mdm.eval.stats import summarize

__all__ = ["fewest_steps", "loglog_slope", "power_law_exponent", "steps_needed"]


def steps_needed(steps: Sequence[int], errors: Sequence[float | None], target: float) -> float | None:
    """The smallest N with ``error <= target`` along increasing ``steps``, interpolated linearly in
    log N from the previous grid point; ``None`` if no point meets it.  NaN or None never meets it.
    The rule of :func:`mdm.eval.frontier.cost_to_threshold` (quality ``-error``, ``log_cost``)."""
    n = first_crossing(steps, [-(math.nan if v is None else v) for v in errors], -target, log_cost=True)
    return None if math.isinf(n) else n


def fewest_steps(error_at: Callable[[int], float], target: float, start: int, max_steps: int
                 ) -> tuple[float | None, dict[int, float]]:
    """The fewest steps N with ``error_at(N) <= target`` on the grid 1, 2, 4, ..., ``max_steps``.

    Starts at ``start`` (a power of 2), halves while the target is met and doubles while it is not,
    until two neighbouring grid points bracket the crossing; N* is then :func:`steps_needed` over
    the points evaluated.  Returns ``(N* or None if not met by max_steps, {N: error})``.  Assumes
    the error falls with N; each N is evaluated once.
    """
    errors: dict[int, float] = {}
    n = start
    while True:
        if n not in errors:
            errors[n] = error_at(n)
        met = errors[n] <= target
        if met and n > 1 and n // 2 not in errors:
            n //= 2
        elif not met and n < max_steps and 2 * n not in errors:
            n *= 2
        else:
            break
    grid = sorted(errors)
    return steps_needed(grid, [errors[k] for k in grid], target), errors


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
        slope = loglog_slope(sizes, [v if v is not None and math.isfinite(v) else None for v in costs])
        if slope is not None:
            slopes.append(slope)
    if not slopes:
        raise StatsError("no seed reached the target at every size: no exponent can be fitted")
    return summarize(slopes, level=level, n_boot=n_boot, seed=seed), len(costs_by_seed) - len(slopes)
