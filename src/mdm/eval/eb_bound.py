"""The EB-sampler's error bound, checked exactly on an HMM oracle.

Ben-Hamu et al., "Accelerated Sampling from Masked Diffusion Models via Entropy Bounded
Unmasking" (arXiv 2505.24857; PAPERS.md §2) reveal, per step, the largest ranked set ``S`` of
masked positions with ``sum_{i in S} H_i - max_{i in S} H_i <= gamma``, where ``H_i`` is the
entropy of the one-site conditional ``p(x_i | c)`` given the clean positions ``c``.  Drawing the
positions of ``S`` independently from those one-site conditionals, instead of jointly, costs

    TC(S) = KL(p(x_S | c) || prod_i p(x_i | c)) = sum_i H_i - H(x_S | c)
          <= sum_i H_i - max_i H_i                                   (since H(x_S | c) >= H_i)

(the set's total correlation).  Here ``p(x_S | c)`` is enumerated exactly with an HMM's
forward-backward conditionals, so both sides are computed, not estimated: for random sets (is
the bound tight?) and for the sets :func:`mdm.sampling.unmaskers.eb_count` picks (is their
``TC`` at most ``gamma``?).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from mdm.errors import ConfigError, LanguageError
from mdm.languages.base import Language
from mdm.sampling.unmaskers import best_first, eb_count

__all__ = [
    "check_bound", "eb_quantity", "set_joint_log_probs", "total_correlation",
]

MAX_ASSIGNMENTS = 1_000_000  # most joint entries (V^|S|, or prefix-token pairs per call) enumerated
HOLD_TOL = 1e-9  # rounding slack when testing TC <= bound
MIN_BOUND = 1e-12  # ratios TC / bound are reported only above this bound
GAMMA_GRID = (0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5)


def _entropy(probs: torch.Tensor, dims=None) -> torch.Tensor:
    """Shannon entropy in nats (0 log 0 = 0) summed over ``dims`` (all when None)."""
    h = torch.special.entr(probs)
    return h.sum() if dims is None else h.sum(dim=dims)


def _possible_assignments(language: Language, x: torch.Tensor, positions: list[int], limit: int):
    """The assignments ``v`` of ``x_S`` with ``p(x_S = v | c) > 0`` and their log probabilities,
    by the chain rule ``p(v_1 | c) p(v_2 | c, v_1) ...``: one batched ``log_conditionals`` call per
    position over every possible prefix (impossible prefixes are dropped as they appear, which
    keeps sparse languages cheap).  Returns ``(values [N, |S|], log_p [N])`` in lexicographic
    order, or None when a call would need more than ``limit`` prefix-token pairs."""
    n_vocab = language.vocab_size
    values = torch.zeros(1, 0, dtype=torch.long)
    log_p = torch.zeros(1, dtype=torch.float64)
    for j, pos in enumerate(positions):
        n = values.shape[0]
        if n * n_vocab > limit:
            return None
        states = x.repeat(n, 1)
        states[:, positions[:j]] = values
        log_p = (log_p[:, None] + language.log_conditionals(states)[:, pos, :]).reshape(-1)
        new = torch.arange(n_vocab).repeat(n)[:, None]
        values = torch.cat([values.repeat_interleave(n_vocab, dim=0), new], dim=1)
        keep = log_p > -math.inf
        values, log_p = values[keep], log_p[keep]
    return values, log_p


def _tc(values: torch.Tensor, probs: torch.Tensor, sizes: Sequence[int]) -> float:
    """Total correlation of the sparse joint ``P(values[n]) = probs[n]``; axis i has ``sizes[i]``."""
    marginals = sum(float(_entropy(torch.zeros(k, dtype=torch.float64).index_add_(0, values[:, i], probs)))
                    for i, k in enumerate(sizes))
    return marginals - float(_entropy(probs))


def _check_set(language: Language, x, positions) -> tuple[torch.Tensor, list[int]]:
    if not isinstance(x, torch.Tensor) or x.dim() != 1 or x.dtype != torch.long:
        raise LanguageError(f"x must be a 1-D torch.long partial state [L], got {getattr(x, 'shape', x)!r}")
    try:
        positions = [int(p) for p in positions]
    except (TypeError, ValueError):
        raise LanguageError(f"positions must be a sequence of ints, got {positions!r}") from None
    n = x.shape[0]
    if not positions or len(set(positions)) != len(positions) or not all(0 <= p < n for p in positions):
        raise LanguageError(f"positions must be distinct indices in [0, {n}), at least one; got {positions}")
    clean = [p for p in positions if int(x[p]) != language.mask_id]
    if clean:
        raise LanguageError(
            f"positions {clean} are not masked in x (mask id {language.mask_id}): the joint is taken "
            "over masked positions only; mask them or leave them out of the set"
        )
    return x, positions


def set_joint_log_probs(language: Language, x: torch.Tensor, positions: Sequence[int]) -> torch.Tensor:
    """Exact ``log p(x_S = v | clean positions of x)`` for every assignment ``v``, as float64
    ``[V] * |S|`` (axis ``j`` is ``positions[j]``), by enumerating assignments with the chain rule.

    ``x [L]`` is a partial state holding ``language.mask_id`` at masked positions; every position
    of ``S`` must be masked and ``V^|S|`` at most 1e6 (else :class:`~mdm.errors.LanguageError`).
    """
    x, positions = _check_set(language, x, positions)
    size = language.vocab_size ** len(positions)
    if size > MAX_ASSIGNMENTS:
        raise LanguageError(
            f"V^|S| = {language.vocab_size}^{len(positions)} = {size} assignments exceeds {MAX_ASSIGNMENTS}: "
            "use a smaller set or vocabulary"
        )
    values, log_p = _possible_assignments(language, x, positions, MAX_ASSIGNMENTS)
    out = torch.full([language.vocab_size] * len(positions), -math.inf, dtype=torch.float64)
    out[tuple(values.T)] = log_p
    return out


def total_correlation(joint_log_probs: torch.Tensor) -> float:
    """``TC(S) = sum_i H(x_i) - H(x_S)`` in nats for a joint given as log probabilities, one
    axis per position (Ben-Hamu et al., arXiv 2505.24857: the KL error of sampling ``S``
    independently from its marginals).  Exact up to rounding, so it may be ~-1e-16."""
    p = torch.as_tensor(joint_log_probs, dtype=torch.float64).exp()
    if p.dim() == 0 or not torch.isfinite(p).all() or abs(float(p.sum()) - 1.0) > 1e-6:
        raise LanguageError("joint_log_probs must be log probabilities [V_1, ..., V_k] that sum to 1")
    values = torch.nonzero(p)
    return _tc(values, p[tuple(values.T)], p.shape)


def eb_quantity(entropies) -> float:
    """The EB-sampler's bound ``sum_i H_i - max_i H_i`` (arXiv 2505.24857) over a set's one-site
    entropies."""
    h = torch.as_tensor(entropies, dtype=torch.float64).reshape(-1)
    if h.numel() == 0:
        raise LanguageError("eb_quantity needs the entropies of at least one position")
    return float(h.sum() - h.max())


def _stats(tc: list[float], bound: list[float]) -> dict:
    tc_a, b_a = np.asarray(tc, dtype=np.float64), np.asarray(bound, dtype=np.float64)
    ratios = tc_a[b_a > MIN_BOUND] / b_a[b_a > MIN_BOUND]
    have = ratios.size > 0
    return {
        "n": int(tc_a.size),
        "holds": float(np.mean(tc_a <= b_a + HOLD_TOL)) if tc_a.size else None,
        "n_ratio": int(ratios.size),
        "ratio_mean": float(ratios.mean()) if have else None,
        "ratio_median": float(np.median(ratios)) if have else None,
        "ratio_max": float(ratios.max()) if have else None,
        "tc_mean": float(tc_a.mean()) if tc_a.size else None,
        "bound_mean": float(b_a.mean()) if b_a.size else None,
    }


def _check_args(length, n_trials, set_sizes, mask_rate, gamma_grid) -> None:
    for name, val in (("length", length), ("n_trials", n_trials)):
        if not isinstance(val, int) or isinstance(val, bool) or val < 1:
            raise ConfigError(f"{name} must be an int >= 1, got {val!r}")
    if not set_sizes or not all(isinstance(k, int) and k >= 2 for k in set_sizes):
        raise ConfigError(f"set_sizes must be ints >= 2 (a single position has TC = 0), got {set_sizes!r}")
    lo, hi = mask_rate
    if not 0.0 < lo <= hi <= 1.0:
        raise ConfigError(f"mask_rate must be (low, high) with 0 < low <= high <= 1, got {mask_rate!r}")
    if not gamma_grid or not all(math.isfinite(g) and g >= 0 for g in gamma_grid):
        raise ConfigError(f"gamma_grid must be finite numbers >= 0, got {gamma_grid!r}")


def _measure(language, state, entropies, positions, cache) -> tuple[float, float] | None:
    """``(TC(S), sum H - max H)`` for the set ``positions`` of ``state`` (None: too large)."""
    key = tuple(sorted(positions))
    if key not in cache:
        found = _possible_assignments(language, state, list(key), MAX_ASSIGNMENTS)
        cache[key] = None if found is None else (
            _tc(found[0], found[1].exp(), [language.vocab_size] * len(key)),
            eb_quantity(entropies[list(key)]),
        )
    return cache[key]


def check_bound(
    language: Language,
    *,
    length: int,
    n_trials: int,
    set_sizes: Sequence[int] = (2, 3, 4),
    mask_rate: tuple[float, float] = (0.3, 0.9),
    gamma_grid: Sequence[float] = GAMMA_GRID,
    seed: int = 0,
) -> dict:
    """``TC(S)`` against ``sum H - max H`` (arXiv 2505.24857) on ``n_trials`` random partial states.

    Each state is a sample of ``length`` tokens with ``round(r * length)`` positions masked
    (``r`` uniform in ``mask_rate``, at least one masked).  Per state: one uniformly random set of
    each size in ``set_sizes`` (when enough positions are masked) and, per ``gamma``, the set the
    EB-sampler reveals (rank by the entropy proxy, ties to the lower position, then
    :func:`eb_count` on exact one-site entropies).  Joints are enumerated over possible prefixes;
    an EB set whose enumeration would pass 1e6 prefix-token pairs in one call is skipped and
    counted.

    Returns a JSON-able dict: ``random_sets[size]`` and ``eb_sets[gamma]`` (string keys) with
    ``n``, ``holds`` (fraction with ``TC <= bound + 1e-9``), ``ratio_mean/median/max`` of
    ``TC / bound`` over bounds > 1e-12, ``tc_mean``, ``bound_mean`` (EB sets also ``size_mean``,
    ``tc_max``, ``skipped``), and the raw values ``raw`` (``tc``, ``bound``, ``size`` lists for
    the random sets) and ``eb_raw`` (the same plus ``gamma``).
    """
    set_sizes, gamma_grid = [int(k) for k in set_sizes], [float(g) for g in gamma_grid]
    _check_args(length, n_trials, set_sizes, mask_rate, gamma_grid)
    g = torch.Generator().manual_seed(seed)
    x = language.sample(n_trials, length, generator=g)
    lo, hi = (float(r) for r in mask_rate)
    for row in x:
        rate = lo + (hi - lo) * float(torch.rand((), dtype=torch.float64, generator=g))
        row[torch.randperm(length, generator=g)[: max(1, round(rate * length))]] = language.mask_id
    log_cond = language.log_conditionals(x)  # [n, L, V], one-site conditionals of every state
    entropies = _entropy(log_cond.exp(), dims=-1)

    raw = {"tc": [], "bound": [], "size": []}
    eb_raw = {"gamma": [], "tc": [], "bound": [], "size": []}
    skipped = dict.fromkeys(gamma_grid, 0)
    for t in range(n_trials):
        masked = x[t] == language.mask_id
        cache: dict[tuple[int, ...], tuple[float, float] | None] = {}  # EB sets repeat across gammas
        masked_pos = torch.nonzero(masked).reshape(-1)
        for k in set_sizes:
            if len(masked_pos) >= k:
                pick = masked_pos[torch.randperm(len(masked_pos), generator=g)[:k]].tolist()
                tc, bound = _measure(language, x[t], entropies[t], pick, cache)
                for key, val in (("tc", tc), ("bound", bound), ("size", float(k))):
                    raw[key].append(val)

        order, _ = best_first(torch.exp(-entropies[t])[None], masked[None])  # the entropy proxy
        ranked_h = entropies[t][order[0]][None]
        for gamma in gamma_grid:
            k = int(eb_count(ranked_h, masked[order[0]][None], gamma))
            found = _measure(language, x[t], entropies[t], order[0, :k].tolist(), cache)
            if found is None:
                skipped[gamma] += 1
                continue
            for key, val in (("gamma", gamma), ("tc", found[0]), ("bound", found[1]), ("size", float(k))):
                eb_raw[key].append(val)

    sizes, gammas = np.asarray(raw["size"]), np.asarray(eb_raw["gamma"])
    random_sets = {}
    for k in set_sizes:
        sel = np.flatnonzero(sizes == k)
        random_sets[str(k)] = _stats([raw["tc"][i] for i in sel], [raw["bound"][i] for i in sel])
    eb_sets = {}
    for gamma in gamma_grid:
        sel = np.flatnonzero(gammas == gamma)
        tc = [eb_raw["tc"][i] for i in sel]
        eb_sets[str(gamma)] = {
            **_stats(tc, [eb_raw["bound"][i] for i in sel]),
            "size_mean": float(np.mean([eb_raw["size"][i] for i in sel])) if sel.size else None,
            "tc_max": max(tc) if tc else None,
            "skipped": skipped[gamma],
        }
    config = {"language": repr(language), "length": length, "n_trials": n_trials, "set_sizes": set_sizes,
              "mask_rate": [lo, hi], "gamma_grid": gamma_grid, "seed": seed}
    return {"config": config, "random_sets": random_sets, "eb_sets": eb_sets, "raw": raw, "eb_raw": eb_raw}
