"""Time samplers for the MDM training loss (uniform, antithetic, stratified;
P-POTS, fitted to a model, is :class:`mdm.variance.PPOTS`).

Every time sampler has one interface,

    sampler(batch_size, *, generator=None, device=None) -> (t [B], importance_weight [B]),

and an unbiased estimator of the continuous-time NELBO multiplies each sample's loss by its
importance weight (1 for the samplers here, whose marginal of ``t`` is uniform; P-POTS's weight is
1/p(t)).  Every mask sampler has

    mask_sampler(mask_prob [B, L], *, generator=None) -> masked bool [B, L] or [K, B, L],

where ``K`` masks per row (e.g. a mirrored pair from one shared uniform per token) are scored in
one forward pass and averaged by :func:`mdm.losses.diffusion_loss`.

Keeping t away from 0
---------------------
The NELBO weight ``-alpha'(t) / (1 - alpha(t))`` is 1/t for the linear schedule, so a draw at tiny
``t`` that happens to mask a token has an enormous weight (unbounded variance, inf at t = 0).  The
samplers therefore map their uniform ``u in [0, 1)`` affinely onto ``[eps, 1 - eps]``:

    t = eps + (1 - 2 eps) u,      eps = 1e-3 by default (MDLM's ``sampling_eps``).

The map is symmetric about 1/2, so antithetic pairs still sum to exactly 1 and strata stay equal in
width.  With importance weight 1 the estimator's mean is ``1/(1 - 2 eps) * int_eps^{1-eps} f(t) dt``
instead of ``int_0^1 f``: the two differ by ``eps * (2 mean(f) - f(0+) - f(1))`` to first order, a
relative change of order eps = 0.1% in the worst case, far below the Monte-Carlo noise of a training
batch.  ``eps = 0`` gives the exact integral (a ``t`` of exactly 0 then masks nothing and contributes 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch

from mdm.errors import ConfigError

__all__ = ["TimeSampler", "MaskSampler", "UniformTime", "AntitheticTime", "StratifiedTime", "ClampedWeights"]


class TimeSampler(Protocol):
    def __call__(
        self, batch_size: int, *, generator: torch.Generator | None = None, device=None
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


class MaskSampler(Protocol):
    def __call__(
        self, mask_prob: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> torch.Tensor: ...


@dataclass(frozen=True)
class _UnitIntervalTime:
    """Shared plumbing: validate, draw float64 uniforms on the generator's device, map to [eps, 1-eps]."""

    eps: float = 1e-3
    dtype: torch.dtype = torch.float32

    def __post_init__(self):
        if not (isinstance(self.eps, (int, float)) and 0.0 <= self.eps < 0.5):
            raise ConfigError(f"{type(self).__name__}(eps) needs 0 <= eps < 0.5, got eps={self.eps!r}")

    def __call__(self, batch_size: int, *, generator: torch.Generator | None = None, device=None):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if device is None:
            device = generator.device if generator is not None else torch.device("cpu")
        u = self._unit(batch_size, generator, device)
        t = (self.eps + (1.0 - 2.0 * self.eps) * u).to(self.dtype)
        return t, torch.ones(batch_size, dtype=self.dtype, device=t.device)

    def _rand(self, n: int, generator, device) -> torch.Tensor:
        # Drawn on the generator's device, then moved: a CPU generator drives a CUDA run reproducibly.
        gen_device = generator.device if generator is not None else device
        return torch.rand(n, generator=generator, dtype=torch.float64, device=gen_device).to(device)

    def _unit(self, n: int, generator, device) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class UniformTime(_UnitIntervalTime):
    """Independent ``t ~ U[eps, 1 - eps]`` per sample (MDLM/MD4 default without antithetic sampling)."""

    def _unit(self, n, generator, device):
        return self._rand(n, generator, device)


@dataclass(frozen=True)
class AntitheticTime(_UnitIntervalTime):
    """Antithetic pairs ``(t, 1 - t)``: rows ``i`` and ``i + ceil(B/2)`` share a uniform.

    Each marginal is uniform, so the estimator stays unbiased; the pair's losses are negatively
    correlated (the loss is monotone-ish in t), which lowers the batch variance.  With odd ``B`` the
    last row is unpaired.
    """

    def _unit(self, n, generator, device):
        u = self._rand(math.ceil(n / 2), generator, device)
        return torch.cat([u, 1.0 - u])[:n]


@dataclass(frozen=True)
class StratifiedTime(_UnitIntervalTime):
    """One time per stratum: ``u_i = (i + v_i) / B`` with independent ``v_i ~ U[0, 1)``.

    MDLM's low-discrepancy sampler (arXiv 2406.07524, Sec. 3.5; StableDLLM's StraTS): row ``i`` falls
    in stratum ``[i/B, (i+1)/B)``.  A row's own marginal is its stratum, but a uniformly chosen row's
    is uniform, so the batch mean of the loss is unbiased and its variance can only drop.
    """

    def _unit(self, n, generator, device):
        v = self._rand(n, generator, device)
        return (torch.arange(n, dtype=torch.float64, device=device) + v) / n


@dataclass(frozen=True)
class ClampedWeights:
    """Wrap a time sampler and cap its importance weights at ``max_weight`` (``loss.weight_clamp``).

    StableDLLM caps P-POTS's ``1/p(t)``.  The cap trades bias for variance: the estimator's mean
    becomes ``int min(1, max_weight * p(t)) f(t) dt``, i.e. it under-weights the times where
    ``p(t) < 1 / max_weight`` (docs/results/variance.md measures what that costs).  Unbiased samplers
    with weight 1 are unaffected by any ``max_weight >= 1``.
    """

    sampler: TimeSampler
    max_weight: float

    def __post_init__(self):
        if not (isinstance(self.max_weight, (int, float)) and self.max_weight > 0):
            raise ConfigError(f"max_weight must be a number > 0, got {self.max_weight!r}")

    def __call__(self, batch_size: int, *, generator: torch.Generator | None = None, device=None):
        t, w = self.sampler(batch_size, generator=generator, device=device)
        return t, w.clamp(max=self.max_weight)

    def __getattr__(self, name):  # state_dict / estimate of a wrapped P-POTS stay reachable
        if name.startswith("__") or name == "sampler":
            raise AttributeError(name)
        return getattr(self.sampler, name)
