"""P-POTS: the Pareto-optimal time sampler (Jia et al., arXiv 2511.18159, "Bringing Stability to
Diffusion", Sec. on masking-rate noise; StableDLLM).

Drawing ``t ~ p(t)`` and weighting the loss by ``1/p(t)`` keeps the NELBO estimate unbiased for any
density ``p``; the variance of ``w(t) l`` is smallest for

    p*(t)  propto  sqrt( g(t)^2 + v(t) ),      g(t) = E[l | t],  v(t) = Var_mask[l | t].

``g`` and ``v`` are measured on a grid before training (:meth:`PPOTS.estimate`: the paper uses ~70
times, 10-15 examples, 10-15 masks each) and a smooth density of the paper's family is fitted to the
grid target by minimising the KL divergence from it (:meth:`PPOTS.fit`, L-BFGS-B with restarts):

    p_theta(t)  propto  sqrt( a t^r + b (1 - t)^q + A^2 exp(2 kappa t^m) ),
    a, b, A > 0,  r, q >= 1,  kappa >= 0,  m > 1            (:func:`family_log`, the one place).

Sampling is by inverse CDF on a fine table of cells over ``[eps, 1 - eps]``: the sampler's density is
the piecewise-constant cell average of ``p_theta`` (4096 cells by default, indistinguishable from
``p_theta`` at that resolution), and the weight is ``1/density(t)`` of exactly that density, so
``E[weight * f(t)] = int_eps^{1-eps} f(t) dt`` holds exactly, not up to a table error.  The
paper's weight clamp is :class:`~mdm.variance.ClampedWeights` (biased; ``loss.weight_clamp``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from mdm.errors import ConfigError
from mdm.variance._score import check_data, per_sample_losses, positive_int

__all__ = ["PPOTSParams", "GridEstimate", "PPOTS", "family_log", "grid_kl"]

# Bounds of the fit: the paper's constraints, with finite upper ends of ours (L-BFGS-B needs a box).
_LOG_SCALE = (-12.0, 12.0)  # log a, log b, log A
_BOUNDS = [_LOG_SCALE, _LOG_SCALE, _LOG_SCALE, (1.0, 20.0), (1.0, 20.0), (0.0, 20.0), (1.0 + 1e-3, 20.0)]


@dataclass(frozen=True)
class PPOTSParams:
    """Parameters of the paper's density family (module docstring)."""

    a: float
    b: float
    A: float
    r: float
    q: float
    kappa: float
    m: float

    def __post_init__(self):
        vals = [self.a, self.b, self.A, self.r, self.q, self.kappa, self.m]
        finite = all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals)
        if not finite or min(self.a, self.b, self.A) <= 0 or min(self.r, self.q) < 1 or self.kappa < 0 \
                or self.m <= 1:
            raise ConfigError(f"P-POTS density {self} cannot be normalised as the paper's family: it needs "
                              "finite a, b, A > 0, r, q >= 1, kappa >= 0, m > 1")

    def vector(self) -> np.ndarray:
        return np.array([math.log(self.a), math.log(self.b), math.log(self.A),
                         self.r, self.q, self.kappa, self.m])

    @classmethod
    def from_vector(cls, v) -> PPOTSParams:
        return cls(math.exp(v[0]), math.exp(v[1]), math.exp(v[2]), *(float(x) for x in v[3:]))


def family_log(t, p):
    """``log sqrt(a t^r + b (1-t)^q + A^2 exp(2 kappa t^m))``, unnormalised, computed in log space.

    ``p``: a :class:`PPOTSParams`, or the vector ``(log a, log b, log A, r, q, kappa, m)`` as a float64
    tensor (differentiable: the fit's gradient) or array.  Returns the type of ``t`` (tensor / array).
    """
    as_numpy = not isinstance(t, torch.Tensor)
    v = torch.as_tensor(p.vector() if isinstance(p, PPOTSParams) else p, dtype=torch.float64)
    t = torch.as_tensor(t, dtype=torch.float64)
    terms = torch.stack([v[0] + v[3] * t.log(),                 # log(a t^r)
                         v[1] + v[4] * torch.log1p(-t),         # log(b (1-t)^q)
                         2 * v[2] + 2 * v[5] * t ** v[6]])      # log(A^2 exp(2 kappa t^m))
    out = 0.5 * torch.logsumexp(terms, 0)
    return out.detach().numpy() if as_numpy else out


def grid_kl(target, density) -> float:
    """``KL(target || density)`` of the two normalised over the same grid points:
    ``sum_i p_i log(p_i / q_i)`` with ``p = target / sum(target)``, ``q = density / sum(density)``.

    This is the quantity :meth:`PPOTS.fit` minimises (with ``target = sqrt(g^2 + v)`` and ``density``
    the family at the grid times): 0 iff the fitted family is the grid target up to a constant.
    ``0 log 0 = 0``; a point where the target has mass and the density has none gives ``inf``.
    """
    p, q = (np.asarray(x, dtype=np.float64).ravel() for x in (target, density))
    if p.size == 0 or p.shape != q.shape or not (np.isfinite(p).all() and np.isfinite(q).all()):
        raise ConfigError(f"grid_kl needs two finite arrays of one size, got sizes {p.size} and {q.size}")
    if (p < 0).any() or (q < 0).any() or p.sum() <= 0 or q.sum() <= 0:
        raise ConfigError("grid_kl needs non-negative target and density, each with positive mass")
    p, q = p / p.sum(), q / q.sum()
    on = p > 0
    if (q[on] == 0).any():
        return float("inf")
    return float(np.sum(p[on] * (np.log(p[on]) - np.log(q[on]))))


@dataclass(frozen=True)
class GridEstimate:
    """What :meth:`PPOTS.estimate` measured: times, mean loss ``g`` and variance over masks ``v``."""

    grid: np.ndarray
    g: np.ndarray
    v: np.ndarray

    def __iter__(self):
        return iter((self.grid, self.g, self.v))

    def target(self) -> np.ndarray:
        """The optimal (unnormalised) density on the grid, ``sqrt(g^2 + v)``."""
        return np.sqrt(self.g ** 2 + self.v)


def _check_grid(grid, g, v) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrs = [np.asarray(x, dtype=np.float64).ravel() for x in (grid, g, v)]
    grid, g, v = arrs
    if grid.size == 0:
        raise ConfigError("PPOTS.fit got an empty grid: pass the times, g and v of PPOTS.estimate")
    if not (grid.size == g.size == v.size):
        raise ConfigError(f"grid, g and v must have one value per time, got sizes {grid.size}, {g.size}, "
                          f"{v.size}")
    if not (np.isfinite(arrs).all() and (grid > 0).all() and (grid < 1).all() and (v >= 0).all()):
        raise ConfigError("PPOTS.fit needs finite g and v >= 0 at times strictly inside (0, 1)")
    if not (np.sqrt(g ** 2 + v) > 0).any():
        raise ConfigError("PPOTS.fit: the grid target sqrt(g^2 + v) is zero everywhere; nothing to fit")
    return grid, g, v


class PPOTS:
    """The P-POTS time sampler: ``sampler(B, generator=) -> (t [B], weight = 1/p(t) [B])``.

    ``params``: a fitted :class:`PPOTSParams` (None until :meth:`fit` / :meth:`calibrate` /
    :meth:`load_state_dict`).  ``eps``: the support ``[eps, 1 - eps]`` (as the other samplers).
    ``cells``: resolution of the inverse-CDF table.
    """

    def __init__(self, params: PPOTSParams | None = None, *, eps: float = 1e-3, cells: int = 4096,
                 dtype: torch.dtype = torch.float32):
        if not (isinstance(eps, (int, float)) and 0.0 <= eps < 0.5):
            raise ConfigError(f"PPOTS(eps) needs 0 <= eps < 0.5, got eps={eps!r}")
        self.eps, self.cells, self.dtype = float(eps), positive_int("cells", cells), dtype
        self.estimate_: GridEstimate | None = None
        self.params: PPOTSParams | None = None
        if params is not None:
            self.set_params(params)

    # --- the density ----------------------------------------------------------------------------
    def set_params(self, params: PPOTSParams) -> None:
        edges = np.linspace(self.eps, 1.0 - self.eps, self.cells + 1)
        logf = family_log(edges, params)
        mass = 0.5 * (np.exp(logf[1:] - logf.max()) + np.exp(logf[:-1] - logf.max())) * np.diff(edges)
        total = mass.sum()
        if not (np.isfinite(logf).all() and np.isfinite(total) and total > 0):
            raise ConfigError(f"the P-POTS density with {params} cannot be normalised on "
                              f"[{self.eps}, {1 - self.eps}]: pick finite, positive parameters")
        self.params = params
        self._edges = torch.from_numpy(edges)
        self._mass = torch.from_numpy(mass / total)
        self._cdf = torch.cat([torch.zeros(1, dtype=torch.float64), self._mass.cumsum(0)])
        self._cdf[-1] = 1.0

    def _need_params(self) -> None:
        if self.params is None:
            raise ConfigError("this PPOTS has no fitted density: call calibrate(model, data), "
                              "PPOTS.fit(grid, g, v) or load_state_dict first")

    def density(self, t) -> torch.Tensor:
        """The sampler's normalised density at ``t`` (0 outside ``[eps, 1 - eps]``), float64."""
        self._need_params()
        t = torch.as_tensor(t, dtype=torch.float64).cpu()
        width = (1.0 - 2 * self.eps) / self.cells
        cell = ((t - self.eps) / width).floor().long().clamp(0, self.cells - 1)
        inside = (t >= self.eps) & (t <= 1.0 - self.eps)
        return torch.where(inside, self._mass[cell] / width, torch.zeros((), dtype=torch.float64))

    def __call__(self, batch_size: int, *, generator: torch.Generator | None = None, device=None):
        self._need_params()
        positive_int("batch_size", batch_size)
        if device is None:
            device = generator.device if generator is not None else torch.device("cpu")
        gen_device = generator.device if generator is not None else device
        u = torch.rand(batch_size, generator=generator, dtype=torch.float64, device=gen_device).cpu()
        cell = (torch.searchsorted(self._cdf, u, right=True) - 1).clamp(0, self.cells - 1)
        while bool((self._mass[cell] == 0).any()):  # float ties at an empty cell: step to a non-empty one
            cell = torch.where(self._mass[cell] == 0, (cell + 1).clamp(max=self.cells - 1), cell)
        frac = ((u - self._cdf[cell]) / self._mass[cell]).clamp(0.0, 1.0)
        width = (1.0 - 2 * self.eps) / self.cells
        t = self._edges[cell] + width * frac
        weight = width / self._mass[cell]
        return t.to(device=device, dtype=self.dtype), weight.to(device=device, dtype=self.dtype)

    # --- estimation and fit -----------------------------------------------------------------------
    @staticmethod
    def estimate(model, data: torch.Tensor, *, schedule=None, eligible: torch.Tensor | None = None,
                 grid: int = 70, n_examples: int = 12, n_masks: int = 12, seed: int = 0,
                 max_rows: int = 4096) -> GridEstimate:
        """Measure ``g(t)`` and ``v(t)`` at ``grid`` times ``(i + 1/2) / grid`` on the first
        ``n_examples`` rows of ``data`` with ``n_masks`` masks each.  ``v`` is the mean over examples
        of the unbiased variance over masks; ``g`` the mean over examples and masks."""
        check_data(data, eligible)
        grid, n_masks = positive_int("grid", grid), positive_int("n_masks", n_masks, 2)
        n = min(positive_int("n_examples", n_examples), data.shape[0])
        times = (torch.arange(grid, dtype=torch.float64) + 0.5) / grid
        reps = grid * n_masks
        x = data[:n].repeat_interleave(reps, 0)  # row (e, j, k): example e, time j, mask k
        el = None if eligible is None else eligible[:n].repeat_interleave(reps, 0)
        t = times.repeat_interleave(n_masks).repeat(n).float()
        gen = torch.Generator(device=data.device).manual_seed(seed)
        loss = per_sample_losses(model, x, t, schedule=schedule, eligible=el, generator=gen,
                                 max_rows=max_rows).view(n, grid, n_masks)
        return GridEstimate(times.numpy(), loss.mean((0, 2)).numpy(), loss.var(2).mean(0).numpy())

    @classmethod
    def fit(cls, grid, g, v, *, restarts: int = 20, seed: int = 0, eps: float = 1e-3, cells: int = 4096,
            dtype: torch.dtype = torch.float32) -> PPOTS:
        """Fit the family to the grid target ``sqrt(g^2 + v)``: minimise ``KL(target || p_theta)`` of
        the two normalised over the grid, by L-BFGS-B from ``restarts`` random starts in the box."""
        from scipy.optimize import minimize

        grid, g, v = _check_grid(grid, g, v)
        target = np.sqrt(g ** 2 + v)
        p = target / target.sum()

        grid_t, p_t = torch.from_numpy(grid), torch.from_numpy(p)
        log_p = torch.where(p_t > 0, p_t, torch.ones(())).log()  # 0 log 0 = 0

        def kl(theta):  # KL(target || p_theta) over the grid, with its exact gradient (float64 autograd)
            v = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
            logq = family_log(grid_t, v)
            value = (p_t * (log_p - logq)).sum() + torch.logsumexp(logq, 0)
            value.backward()
            return float(value.detach()), v.grad.numpy().copy()

        rng = np.random.default_rng(seed)
        lo, hi = np.array([b[0] for b in _BOUNDS]), np.array([b[1] for b in _BOUNDS])
        starts_lo, starts_hi = np.array([-3, -3, -3, 1, 1, 0, 1.01]), np.array([3, 3, 3, 6, 6, 4, 6])
        best = None
        for _ in range(positive_int("restarts", restarts)):
            x0 = np.clip(rng.uniform(starts_lo, starts_hi), lo, hi)
            res = minimize(kl, x0, jac=True, method="L-BFGS-B", bounds=_BOUNDS,
                           options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 3000})
            if best is None or res.fun < best.fun:
                best = res
        sampler = cls(PPOTSParams.from_vector(best.x), eps=eps, cells=cells, dtype=dtype)
        sampler.estimate_ = GridEstimate(grid, g, v)
        sampler.fit_kl = float(best.fun)
        return sampler

    def calibrate(self, model, data: torch.Tensor, *, restarts: int = 20, seed: int = 0,
                  **estimate_kw) -> PPOTS:
        """Estimate on ``data``, fit, and adopt the fitted density (in place); returns ``self``."""
        est = self.estimate(model, data, seed=seed, **estimate_kw)
        fitted = self.fit(*est, restarts=restarts, seed=seed, eps=self.eps, cells=self.cells,
                          dtype=self.dtype)
        self.set_params(fitted.params)
        self.estimate_, self.fit_kl = est, fitted.fit_kl
        return self

    # --- checkpoints -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        est = self.estimate_
        return {"params": None if self.params is None else asdict(self.params), "eps": self.eps,
                "cells": self.cells,
                "estimate": None if est is None else {k: np.asarray(getattr(est, k)).tolist()
                                                      for k in ("grid", "g", "v")}}

    def load_state_dict(self, state: dict) -> None:
        try:
            self.eps, self.cells = float(state["eps"]), int(state["cells"])
            params = state["params"]
            est = state.get("estimate")
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"not a PPOTS state dict ({e}): pass what PPOTS.state_dict() returned") \
                from None
        if params is not None:
            self.set_params(PPOTSParams(**params))
        self.estimate_ = None if est is None else GridEstimate(
            *(np.asarray(est[k]) for k in ("grid", "g", "v")))

    def __repr__(self) -> str:
        return f"PPOTS({self.params}, eps={self.eps}, cells={self.cells})"
