"""Variance reduction for the MDM training loss (Jia et al., arXiv 2511.18159; PAPERS.md section 5).

Time samplers ``sampler(B, *, generator=None, device=None) -> (t [B], importance_weight [B])``
(:mod:`.times`: uniform, antithetic, StraTS; :mod:`.ppots`: P-POTS), mask samplers
``sampler(mask_prob [B, L], *, generator=None) -> bool [B, L] | [K, B, L]`` (:mod:`.masks`:
Bernoulli, MIRROR and StableDLLM's independent variant), ISAD (:mod:`.isad`), the EMA control
variate and loss clipping (:mod:`.control`), and the A/B/C decomposition of the loss variance
(:mod:`.decompose`).
"""

from mdm.variance.control import EMAControlVariate, clip_per_sample
from mdm.variance.decompose import VarianceDecomposition, decompose
from mdm.variance.isad import ISAD
from mdm.variance.masks import BernoulliMask, MirrorIndependentMask, MirrorMask
from mdm.variance.ppots import PPOTS, GridEstimate, PPOTSParams, family_log  # noqa: I001 (after .times)
from mdm.variance.times import (
    AntitheticTime,
    ClampedWeights,
    MaskSampler,
    StratifiedTime,
    TimeSampler,
    UniformTime,
)

__all__ = [
    "TimeSampler", "MaskSampler", "UniformTime", "AntitheticTime", "StratifiedTime", "ClampedWeights",
    "BernoulliMask", "MirrorMask", "MirrorIndependentMask", "PPOTS", "PPOTSParams", "GridEstimate",
    "family_log", "ISAD", "EMAControlVariate", "clip_per_sample", "VarianceDecomposition", "decompose",
]
