"""The estimate records and the bootstrap machinery under :mod:`mdm.eval.stats`.

Everything here is plain numpy; every resample comes from ``np.random.default_rng(seed)``, so the
same seed gives the same interval.

Percentile bootstrap (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 13): draw
``n_boot`` resamples of the data with replacement, compute the statistic on each, and report the
``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of those values.  The quantiles are taken as
order statistics (no interpolation between resamples) so that an interval over values that may be
``+inf`` (a censored run, see :func:`mdm.eval.frontier.threshold_summary`) stays well defined.

Sign-flip test (Fisher's paired randomization test; Good, *Permutation Tests*, 2000): under the
null that each pair's two results are exchangeable, each difference's sign is a fair coin; see
:func:`sign_flip_p_value`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from mdm.errors import StatsError

__all__ = ["Estimate", "PairedEstimate", "ThresholdEstimate", "as_values", "bootstrap_ci",
           "check_resampling", "order_quantiles", "resample_counts", "sign_flip_p_value", "standard_error"]

#: Up to this many pairs the sign-flip p-value enumerates all 2^n sign vectors.
EXACT_FLIP_MAX = 16
#: Resampled elements per chunk when a bootstrap gathers indices (bounds memory at ~32 MB).
_CHUNK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its standard error and a confidence interval ``[lo, hi]``.

    ``mean`` is the sample mean, ``se`` its standard error (``ddof=1``; ``nan`` when ``n < 2``),
    ``level`` the interval's nominal coverage and ``method`` how the interval was made, in words.
    With a single value there is no interval: ``lo == hi == mean`` and ``has_interval`` is False.
    """

    mean: float
    se: float
    lo: float
    hi: float
    n: int
    level: float
    method: str

    @property
    def point(self) -> float:
        """The value the interval ``[lo, hi]`` is about (the mean here; the median for a
        :class:`ThresholdEstimate`)."""
        return self.mean

    @property
    def has_interval(self) -> bool:
        return self.n >= 2

    def to_dict(self) -> dict:
        """Plain JSON-ready fields (floats may be ``nan`` or ``inf``)."""
        return {k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class PairedEstimate(Estimate):
    """The mean of matched differences ``a - b`` with a two-sided sign-flip p-value."""

    p_value: float
    n_pairs: int


@dataclass(frozen=True)
class ThresholdEstimate(Estimate):
    """Cost to reach a threshold over runs, some possibly censored (never reached: ``+inf``).

    ``median`` is the point estimate and ``[lo, hi]`` its bootstrap interval (``hi`` may be
    ``inf``).  ``mean``/``se`` are the plain sample mean and its SE when no run is censored and
    ``inf``/``nan`` otherwise: with censoring the mean is not identified by the data.
    """

    median: float
    n_censored: int
    threshold: float

    @property
    def point(self) -> float:
        return self.median


def standard_error(x) -> float:
    """The standard error of the mean of the values ``x`` (1-D; a list, array or tensor):
    ``std(x, ddof=1) / sqrt(n)``, in float64; ``nan`` for fewer than two values.  For 0/1 values
    (a proportion ``p`` of ``n``) this is ``sqrt(p (1 - p) / (n - 1))``, the unbiased form of the
    plug-in ``sqrt(p (1 - p) / n)``."""
    arr = np.asarray(x.detach().cpu().double() if hasattr(x, "detach") else x, dtype=np.float64).ravel()
    if arr.size < 2:
        return math.nan
    return float(arr.std(ddof=1) / math.sqrt(arr.size))


def as_values(x, name: str = "x", *, ndim: int = 1, allow_inf: bool = False) -> np.ndarray:
    """``x`` as a float64 array of ``ndim`` dimensions, refusing NaN (and inf unless allowed)."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != ndim:
        raise StatsError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise StatsError(f"{name} is empty: pass at least one value")
    if np.isnan(arr).any():
        raise StatsError(
            f"{name} holds {int(np.isnan(arr).sum())} NaN value(s): drop or fix the failed runs "
            "explicitly before summarizing (a silent NaN would poison the mean)"
        )
    if not allow_inf and np.isinf(arr).any():
        raise StatsError(
            f"{name} holds infinite values: a mean is undefined; for censored costs use "
            "threshold_summary (medians)"
        )
    return arr


def check_resampling(level: float, n_boot: int) -> None:
    if not 0.0 < level < 1.0:
        raise StatsError(f"level must be in (0, 1), got {level}: e.g. 0.95 for a 95% interval")
    if int(n_boot) != n_boot or n_boot < 1:
        raise StatsError(f"n_boot must be a positive integer, got {n_boot}")


def order_quantiles(values: np.ndarray, level: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval of ``values`` along ``axis`` as order statistics.

    With ``B`` values sorted ascending, ``lo`` is the ``floor(B (1-level)/2)``-th and ``hi`` the
    ``(ceil(B (1+level)/2) - 1)``-th (0-based): for ``B = 10,000`` at 95%, the 250th and 9,749th,
    leaving 250 resamples outside on each side.  ``inf`` values sort last, so they are safe.
    """
    b = values.shape[axis]
    alpha = (1.0 - level) / 2.0
    k_lo = min(int(math.floor(b * alpha)), b - 1)
    k_hi = max(int(math.ceil(b * (1.0 - alpha))) - 1, 0)
    ordered = np.sort(values, axis=axis)
    return np.take(ordered, k_lo, axis=axis), np.take(ordered, k_hi, axis=axis)


def resample_counts(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """``[n_boot, n]`` multiplicities of a with-replacement resample of ``n`` items.

    Row ``b`` is how often each item appears in resample ``b``: a weighted mean
    ``counts @ x / n`` is the resample's mean without gathering ``n_boot * n`` values.
    """
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)


def bootstrap_ci(x, stat: Callable[..., np.ndarray] = np.mean, *, level: float = 0.95,
                 n_boot: int = 10_000, seed: int | np.random.Generator = 0,
                 allow_inf: bool = False) -> tuple[float, float]:
    """Percentile bootstrap interval ``(lo, hi)`` of ``stat`` over the values ``x`` (1-D).

    ``stat`` must accept ``axis=`` (``np.mean``, ``np.median``, ...): the resamples are evaluated
    as a ``[chunk, n]`` matrix, not in a Python loop.  A single value gives ``(stat, stat)``.
    """
    check_resampling(level, n_boot)
    arr = as_values(x, allow_inf=allow_inf)
    if arr.size == 1:
        v = float(stat(arr))
        return v, v
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    stats = _bootstrap_stats(arr, stat, n_boot, rng)
    lo, hi = order_quantiles(stats, level)
    return float(lo), float(hi)


def _bootstrap_stats(arr: np.ndarray, stat, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``stat`` on ``n_boot`` with-replacement resamples of ``arr``, chunked to bound memory."""
    n = arr.size
    chunk = max(1, _CHUNK_ELEMENTS // n)
    out = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = stat(arr[idx], axis=1)
    return out


def sign_flip_p_value(d, *, n_flip: int = 10_000, seed: int | np.random.Generator = 0,
                      exact_max: int = EXACT_FLIP_MAX) -> tuple[float, str]:
    """Two-sided sign-flip (paired permutation) p-value of ``mean(d) == 0`` and how it was made.

    Under the null that each pair's two results are exchangeable, every difference is equally
    likely to carry either sign.  The p-value is the share of sign vectors ``s`` with
    ``|sum(s d)| >= |sum(d)|``: over all ``2^n`` of them when ``n <= exact_max`` (exact), else
    over ``n_flip`` random ones with the ``+1`` correction ``(1 + hits) / (1 + n_flip)`` (never
    0, and a valid p-value; Phipson & Smyth 2010).
    """
    d = as_values(d, "d")
    n = d.size
    t_obs = abs(d.sum())
    tol = 1e-12 * float(np.abs(d).sum())  # float ties of sums of the same terms in another order
    if n <= exact_max:
        bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
        t = np.abs((1 - 2 * bits) @ d)
        return float(np.mean(t >= t_obs - tol)), f"exact over 2^{n} sign flips"
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    hits, chunk = 0, max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, n_flip, chunk):
        signs = 1 - 2 * rng.integers(0, 2, size=(min(chunk, n_flip - start), n), dtype=np.int8)
        hits += int(np.sum(np.abs(signs @ d) >= t_obs - tol))
    return (1 + hits) / (1 + n_flip), f"Monte Carlo over {n_flip:,} sign flips"
