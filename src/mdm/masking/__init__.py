"""Time and mask samplers: how the training loss draws ``t`` and which positions to mask.

Beneath :mod:`mdm.losses` (which draws with them) and used by :mod:`mdm.variance` and
:mod:`mdm.order`; imports nothing above :mod:`mdm.process`.

* time samplers ``sampler(B, *, generator=None, device=None) -> (t [B], importance_weight [B])``
  (:mod:`.times`: uniform, antithetic, StraTS, the weight cap :class:`ClampedWeights`);
* mask samplers ``sampler(mask_prob [B, L], *, generator=None) -> bool [B, L] | [K, B, L]``
  (:mod:`.masks`: Bernoulli, MIRROR and StableDLLM's independent variant).

Samplers fitted to a model (P-POTS, ISAD) live in :mod:`mdm.variance`, which re-exports these.
"""

from mdm.masking.masks import BernoulliMask, MirrorIndependentMask, MirrorMask
from mdm.masking.times import (
    AntitheticTime,
    ClampedWeights,
    MaskSampler,
    StratifiedTime,
    TimeSampler,
    UniformTime,
)

__all__ = ["TimeSampler", "MaskSampler", "UniformTime", "AntitheticTime", "StratifiedTime", "ClampedWeights",
           "BernoulliMask", "MirrorMask", "MirrorIndependentMask"]
