"""Mask samplers: independent Bernoulli masks and MIRROR's negatively correlated pair.

A mask sampler maps per-position masking probabilities ``p [B, L]`` to a bool mask ``[B, L]`` or to
``K`` masks per row ``[K, B, L]``; :func:`mdm.losses.diffusion_loss` scores the ``K`` copies in one
forward pass and averages their losses.  Each copy's marginal is Bernoulli(``p``) per position, so
the average is an unbiased NELBO estimate whatever the correlation between copies.

MIRROR (Jia et al., arXiv 2511.18159, "Bringing Stability to Diffusion", Sec. on masking-pattern
noise): one uniform ``U_l`` per token, shared by both copies,

    copy 1 masks U_l < p_l,        copy 2 masks U_l > 1 - p_l,

so each copy masks with probability ``p_l`` and ``P(both) = max(0, 2 p_l - 1)`` -- the smallest
overlap two Bernoulli(``p_l``) masks can have, which makes the two losses negatively correlated and
cuts the masking-pattern variance A.  The released StableDLLM code draws the second mask from fresh
uniforms (``bern2 = torch.rand(...)``), which keeps unbiasedness but loses the correlation:
:class:`MirrorIndependentMask` is that variant, kept to measure the difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mdm.errors import ConfigError
from mdm.process import sample_mask

__all__ = ["BernoulliMask", "MirrorMask", "MirrorIndependentMask"]


def _uniforms(mask_prob: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    # float64, drawn on the generator's device then moved (as mdm.process.sample_mask does).
    gen_device = generator.device if generator is not None else mask_prob.device
    u = torch.rand(mask_prob.shape, generator=generator, dtype=torch.float64, device=gen_device)
    return u.to(mask_prob.device)


@dataclass(frozen=True)
class BernoulliMask:
    """Mask each position independently with its own probability: ``masked = U < mask_prob``."""

    def __call__(self, mask_prob: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        return sample_mask(mask_prob, generator=generator)


@dataclass(frozen=True)
class MirrorMask:
    """MIRROR: two masks per row from one shared uniform per token (module docstring), ``[2, B, L]``.

    ``until``: mirror only positions whose masking probability is below it (the authors' runs use
    0.9, i.e. ``t < 0.9`` for the linear schedule, where ``p = t``); at or above it the second copy
    draws fresh uniforms (an independent, still unbiased, second mask).  ``until=1.0`` (default)
    mirrors every position that can be masked.
    """

    until: float = 1.0

    def __post_init__(self):
        if not (isinstance(self.until, (int, float)) and 0.0 <= self.until <= 1.0):
            raise ConfigError(f"MirrorMask(until) needs 0 <= until <= 1, got {self.until!r}")

    def __call__(self, mask_prob: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        fresh = sample_mask(mask_prob, generator=generator)  # validates mask_prob
        u = _uniforms(mask_prob, generator)
        p = mask_prob.to(torch.float64)
        # copy 1 = (u < p) and copy 2 = (u > 1 - p) share u; `fresh` is the independent second
        # mask used where p >= until.
        second = torch.where(p < self.until, u > 1.0 - p, fresh)
        return torch.stack([u < p, second])


@dataclass(frozen=True)
class MirrorIndependentMask:
    """StableDLLM's released MIRROR: two masks per row from independent uniforms, ``[2, B, L]``."""

    def __call__(self, mask_prob: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.stack([sample_mask(mask_prob, generator=generator),
                            sample_mask(mask_prob, generator=generator)])
