"""Mask schedules alpha(t) and per-step unmask counts.

Conventions (MDLM / MD4): ``t in [0, 1]``, ``t = 0`` clean, ``t = 1`` fully masked;
``alpha(t)`` is the probability that a token is still clean at time ``t``.

Every schedule exposes, side by side (as MD4's schedule objects do):

* ``alpha(t)``   -- P(clean at t)
* ``dalpha(t)``  -- d alpha / dt (<= 0)
* ``weight(t)``  -- the continuous-time NELBO weight ``-alpha'(t) / (1 - alpha(t))``
* ``inverse(a)`` -- the t with ``alpha(t) = a``

All methods accept Python floats or tensors and return the same kind.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from mdm.errors import ScheduleError
from mdm.registry import Registry

__all__ = [
    "Schedule",
    "Linear",
    "Cosine",
    "Polynomial",
    "LogLinear",
    "BetaEnergy",
    "unmask_counts",
    "from_spec",
    "to_spec",
    "SCHEDULES",
]


def _as_tensor(t):
    if isinstance(t, torch.Tensor):
        return t, True
    return torch.as_tensor(t, dtype=torch.float64), False


def _out(value: torch.Tensor, was_tensor: bool):
    return value if was_tensor else (value.item() if value.dim() == 0 else value)


class Schedule:
    """Base class: subclasses implement ``_alpha``, ``_dalpha`` and ``_inverse`` on tensors."""

    def alpha(self, t):
        t, was = _as_tensor(t)
        return _out(self._alpha(t), was)

    def dalpha(self, t):
        t, was = _as_tensor(t)
        return _out(self._dalpha(t), was)

    def weight(self, t):
        """NELBO weight ``-alpha'(t) / (1 - alpha(t))`` (MDLM eq. 10; = 1/t for Linear)."""
        t, was = _as_tensor(t)
        return _out(-self._dalpha(t) / (1.0 - self._alpha(t)), was)

    def inverse(self, a):
        a, was = _as_tensor(a)
        return _out(self._inverse(a), was)

    # subclasses override
    def _alpha(self, t: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _dalpha(self, t: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _inverse(self, a: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Linear(Schedule):
    """alpha(t) = 1 - t (MDLM / MD4 linear schedule; weight 1/t)."""

    def _alpha(self, t):
        return 1.0 - t

    def _dalpha(self, t):
        return -torch.ones_like(t)

    def _inverse(self, a):
        return 1.0 - a


@dataclass(frozen=True)
class Cosine(Schedule):
    """alpha(t) = 1 - cos(pi/2 * (1 - t)) = 1 - sin(pi/2 * t) (MD4's cosine; MaskGIT's mask ratio).

    Written with sin so both end points are exact in floating point.
    """

    def _alpha(self, t):
        return 1.0 - torch.sin(0.5 * math.pi * t)

    def _dalpha(self, t):
        return -0.5 * math.pi * torch.cos(0.5 * math.pi * t)

    def _inverse(self, a):
        return torch.asin(1.0 - a) * (2.0 / math.pi)


@dataclass(frozen=True)
class Polynomial(Schedule):
    """alpha(t) = 1 - t**w, w > 0 (MD4's polynomial schedule; w = 1 is Linear)."""

    w: float = 1.0

    def __post_init__(self):
        if not (isinstance(self.w, (int, float)) and math.isfinite(self.w) and self.w > 0):
            raise ScheduleError(f"Polynomial(w) needs a finite w > 0, got w={self.w!r}")

    def _alpha(self, t):
        return 1.0 - t**self.w

    def _dalpha(self, t):
        return -self.w * t ** (self.w - 1.0)

    def _inverse(self, a):
        return (1.0 - a) ** (1.0 / self.w)


@dataclass(frozen=True)
class LogLinear(Schedule):
    """alpha(t) = 1 - (1 - eps) t (MDLM's log-linear noise, sigma(t) = -log(1 - (1-eps) t)).

    Unlike the other schedules alpha(1) = eps > 0, which keeps the total noise finite.
    """

    eps: float = 1e-3

    def __post_init__(self):
        if not (0.0 <= self.eps < 1.0):
            raise ScheduleError(f"LogLinear(eps) needs 0 <= eps < 1, got eps={self.eps!r}")

    def _alpha(self, t):
        return 1.0 - (1.0 - self.eps) * t

    def _dalpha(self, t):
        return torch.full_like(t, -(1.0 - self.eps))

    def _inverse(self, a):
        return (1.0 - a) / (1.0 - self.eps)


@dataclass(frozen=True)
class BetaEnergy(Schedule):
    """Energy-optimal schedule with a Beta-CDF time warp.

    Chen et al., "Masked Diffusion Models as Energy Minimization" (arXiv 2509.13866):
    the kinetic / conditional-kinetic / geodesic energies are minimised by
    ``alpha = sin^2(pi/2 * gamma(tau))``, and the paper parameterises ``gamma`` as the
    regularized incomplete Beta function ``I_tau(a, b)``.

    The paper's time runs from masked (tau = 0) to clean (tau = 1); ours runs the other
    way, so this is the one place where we convert: ``tau = 1 - t`` and

        alpha(t) = sin^2(pi/2 * I_{1-t}(a, b)).

    Beta(0.5, 0.5) is exactly the linear schedule; Beta(1, 1) is sin^2(pi/2 (1-t)).
    """

    a: float = 1.0
    b: float = 1.0

    def __post_init__(self):
        for name in ("a", "b"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ScheduleError(f"BetaEnergy needs {name} > 0 (finite), got {name}={v!r}")

    def _gamma(self, tau: torch.Tensor) -> torch.Tensor:
        from scipy.special import betainc

        g = betainc(self.a, self.b, tau.detach().cpu().double().clamp(0, 1).numpy())
        return torch.as_tensor(np.asarray(g), dtype=tau.dtype, device=tau.device)

    def _alpha(self, t):
        return torch.sin(0.5 * math.pi * self._gamma(1.0 - t)) ** 2

    def _dalpha(self, t):
        from scipy.special import beta as beta_fn
        from scipy.stats import beta as beta_dist

        tau = (1.0 - t).detach().cpu().double()
        pdf = torch.as_tensor(np.asarray(beta_dist.pdf(tau.numpy(), self.a, self.b)), dtype=torch.float64)
        gamma = self._gamma(tau)
        # d/dt sin^2(pi/2 g(1-t)) = -(pi/2) sin(pi g(tau)) g'(tau), g' the Beta pdf
        prod = torch.sin(math.pi * gamma) * pdf
        # At the end points sin(pi g) -> 0 while the pdf may diverge: use the limit of the product,
        # sin(pi I_tau) pdf(tau) ~ pi tau^(2p-1) / (p B(a,b)^2) with p = a (tau -> 0) or b (tau -> 1).
        norm = float(beta_fn(self.a, self.b)) ** 2

        def limit(p: float) -> float:
            return 0.0 if p > 0.5 else (math.pi / (p * norm) if p == 0.5 else math.inf)

        prod = torch.where(tau <= 0, torch.full_like(prod, limit(self.a)), prod)
        prod = torch.where(tau >= 1, torch.full_like(prod, limit(self.b)), prod)
        return (-0.5 * math.pi * prod).to(dtype=t.dtype, device=t.device)

    def _inverse(self, a):
        from scipy.special import betaincinv

        g = (2.0 / math.pi) * torch.asin(a.clamp(0, 1).sqrt())
        tau = betaincinv(self.a, self.b, g.detach().cpu().double().numpy())
        return 1.0 - torch.as_tensor(np.asarray(tau), dtype=a.dtype, device=a.device)


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def unmask_counts(schedule: Schedule, length: int, steps: int) -> list[int]:
    """How many positions to reveal at each of ``steps`` equal-time steps.

    Grid ``t_i = 1 - i/steps``; ``n_i = round(L alpha(t_i)) - round(L alpha(t_{i-1}))``
    for i = 1..steps.  The end points are pinned (nothing revealed before t = 1, all of
    ``length`` by t = 0) so the counts always sum to ``length`` even for schedules with
    alpha(1) > 0.  Zero-count steps are allowed (samplers skip them at no NFE cost).
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ScheduleError(f"steps must be an integer >= 1, got {steps!r}")
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        raise ScheduleError(f"length must be an integer >= 0, got {length!r}")
    cum = [0]
    for i in range(1, steps):
        a = float(schedule.alpha(1.0 - i / steps))
        cum.append(min(max(_round_half_up(length * a), cum[-1]), length))
    cum.append(length)
    return [cum[i] - cum[i - 1] for i in range(1, steps + 1)]


# ----------------------------------------------------------------------------- the spec grammar
# One grammar for the CLI, the YAML config and the tuner: ``NAME[:ARG[,ARG...]]``.  A user adds a
# family with ``SCHEDULES.register("name", (cls, min_args, max_args))``.
SCHEDULES: Registry[tuple[type, int, int]] = Registry("schedule", ScheduleError, entries={
    "linear": (Linear, 0, 0),
    "cosine": (Cosine, 0, 0),
    "poly": (Polynomial, 1, 1),
    "loglinear": (LogLinear, 0, 1),
    "beta": (BetaEnergy, 2, 2),
})
_FORMS = {"poly": "poly:W", "loglinear": "loglinear[:EPS]", "beta": "beta:A,B"}


def from_spec(spec: str | Schedule) -> Schedule:
    """A schedule from its spec: ``linear``, ``cosine``, ``poly:W``, ``loglinear[:EPS]``, ``beta:A,B``.

    A :class:`Schedule` passes through unchanged.  Bad specs raise :class:`ScheduleError`.
    """
    if isinstance(spec, Schedule):
        return spec
    if not isinstance(spec, str):
        raise ScheduleError(f"a schedule spec is a string such as 'beta:0.9,0.3', got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    cls, lo, hi = SCHEDULES.get(name)
    try:
        args = [float(a) for a in rest.split(",")] if rest else []
    except ValueError:
        raise ScheduleError(f"schedule {spec!r}: after ':' come numbers, e.g. beta:0.9,0.3") from None
    if not lo <= len(args) <= hi:
        raise ScheduleError(f"schedule {spec!r} takes the form {_FORMS.get(name, name)}")
    return cls(*args)


def to_spec(schedule: Schedule) -> str:
    """The spec string of a registered schedule family (inverse of :func:`from_spec`)."""
    for name, (cls, _, _) in SCHEDULES.items():
        if type(schedule) is cls:
            args = [getattr(schedule, f.name) for f in dataclasses.fields(cls)]
            return name + (":" + ",".join(repr(float(a)) for a in args) if args else "")
    raise ScheduleError(
        f"{type(schedule).__name__} has no spec: register its family in mdm.schedules.SCHEDULES"
    )
