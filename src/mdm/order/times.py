"""An unbiased, finite-variance time sampler for per-position schedules ``alpha_l(t) = 1 - t^{w_l}``.

Garg et al. (arXiv 2511.19152), our conventions: position ``l`` is masked at ``t`` with probability
``t^{w_l}`` and weighted by ``w_l / t``, so the NELBO is

    N(w) = int_0^1 sum_l w_l t^{w_l - 1} F_l(t) dt,     F_l(t) = E[-log p(x0_l | x_t) | l masked at t].

Why not ``t ~ U[eps, 1 - eps]``: the masking time ``T_l`` of position ``l`` has CDF ``t^{w_l}``, so
a fraction ``eps^{w_l}`` of its mass lies below ``eps`` and is never scored (0.5 at ``w = 0.1``,
``eps = 1e-3``): the truncated objective rewards shrinking ``w``.  ``eps = 0`` is unbiased but the
one-draw estimator ``(w_l / t) 1[l masked] CE`` then has second moment
``int w_l^2 t^{w_l - 2} CE^2 dt = inf`` for ``w_l <= 1``.

The sampler here (:class:`PowerTime`): ``t = u^{1/c}``, ``u ~ U[0, 1)``, i.e. density
``p(t) = c t^{c - 1}`` on (0, 1), importance weight ``1 / p(t) = t^{1 - c} / c``, with

    c = min_l w_l / 2          (from the current w, detached, at every draw).

* Unbiased for any ``c > 0``: ``p > 0`` on (0, 1), so ``E_p[g(t) / p(t)] = int_0^1 g`` exactly.
* Finite variance: position ``l``'s term has second moment
  ``int_0^1 (w_l / t)^2 t^{w_l} CE^2 / p(t) dt <= (w_l^2 / c) max CE^2 int_0^1 t^{w_l - c - 1} dt
  = w_l^2 max CE^2 / (c (w_l - c))``, finite iff ``c < w_l``; ``c = min w / 2`` holds it for every
  ``l``, and for constant CE it is the ``c`` that minimises the smallest-``w`` position's moment
  (``d/dc [1 / (c (w - c))] = 0`` at ``c = w / 2``).
* Gradient: ``c`` is computed from ``w.detach()``, so within a step ``p`` is a fixed proposal; the
  pathwise term (through ``w_l / t``) and the RLOO score term (through ``log q_w(mask | t)``) of
  :mod:`mdm.order.rloo` are then those of ``E_p[ . / p]`` = ``N(w)``, unbiased for ``dN/dw``.
* Equivalently ``u`` is a time change: position ``l`` is masked w.p. ``u^{w_l / c}`` with weight
  ``(w_l / c) / u`` -- the same family with every exponent ``>= 2`` (no ``eps`` needed).

Times are float64: for small ``c`` the draws ``u^{1/c}`` are tiny (``c = 0.01``: ``t < 1e-30`` for
half of them) and float32 would flush them to 0.  The one bias left is float64's range: ``w_l / t``
overflows below ``t ~ 1e-308``, so draws with ``t < T_MIN = 1e-300`` get weight 0 (``t`` set to
``T_MIN``, finite in backward): the estimate is of ``int_{T_MIN}^1``, which drops mass
``T_MIN^{w_l} = exp(-691 w_l)`` of position ``l`` (< 1e-9 for ``w_l >= 0.03``, 1e-3 at ``w_l = 0.01``;
the uniform sampler drops ``eps^{w_l}`` = 0.5 at ``w_l = 0.1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mdm.errors import ConfigError

__all__ = ["PowerTime", "T_MIN"]

T_MIN = 1e-300


@dataclass(frozen=True)
class PowerTime:
    """``t = u^{1/c}`` with importance weight ``t^{1-c} / c``, ``c = min(w) / 2`` of ``schedule`` now.

    ``schedule``: anything with a positive ``.w`` ``[L]`` (a :class:`~mdm.order.PerPositionSchedule`).
    Same interface as :mod:`mdm.masking.times`: ``(batch_size, *, generator, device) -> (t, weight)``,
    both float64 ``[B]``; one uniform per sample, drawn on the generator's device.
    """

    schedule: object

    def exponent(self) -> float:
        """The proposal's ``c = min_l w_l / 2`` from the current (detached) weights."""
        w = self.schedule.w.detach()
        if not bool(torch.isfinite(w).all()) or bool((w <= 0).any()):
            raise ConfigError(f"PowerTime needs finite w > 0, got min {float(w.min())}")
        return float(w.min()) / 2.0

    def __call__(self, batch_size: int, *, generator: torch.Generator | None = None, device=None):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if device is None:
            device = generator.device if generator is not None else torch.device("cpu")
        c = self.exponent()
        gen_device = generator.device if generator is not None else device
        u = torch.rand(batch_size, generator=generator, dtype=torch.float64, device=gen_device).to(device)
        t = u ** (1.0 / c)
        weight = t ** (1.0 - c) / c  # 1 / p(t)
        kept = t >= T_MIN
        return torch.where(kept, t, T_MIN), torch.where(kept, weight, 0.0)
