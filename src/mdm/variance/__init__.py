"""Variance reduction for the MDM training loss (Jia et al., arXiv 2511.18159; PAPERS.md section 5).

P-POTS (:mod:`.ppots`, a time sampler fitted to a model), ISAD (:mod:`.isad`), the EMA control
variate and loss clipping (:mod:`.control`), and the A/B/C decomposition of the loss variance with
the estimator noise of one step's loss (:mod:`.decompose`).  The model-free time and mask samplers
(uniform, antithetic, StraTS, Bernoulli, MIRROR) live beneath :mod:`mdm.losses` in
:mod:`mdm.masking` and are re-exported here.
"""

from mdm.masking import (
    AntitheticTime,
    BernoulliMask,
    ClampedWeights,
    MaskSampler,
    MirrorIndependentMask,
    MirrorMask,
    StratifiedTime,
    TimeSampler,
    UniformTime,
)
from mdm.variance.control import EMAControlVariate, clip_per_sample
from mdm.variance.decompose import VarianceDecomposition, decompose, estimator_variance
from mdm.variance.isad import ISAD
from mdm.variance.ppots import PPOTS, GridEstimate, PPOTSParams, family_log, grid_kl

__all__ = [
    "TimeSampler", "MaskSampler", "UniformTime", "AntitheticTime", "StratifiedTime", "ClampedWeights",
    "BernoulliMask", "MirrorMask", "MirrorIndependentMask", "PPOTS", "PPOTSParams", "GridEstimate",
    "family_log", "grid_kl", "ISAD", "EMAControlVariate", "clip_per_sample", "VarianceDecomposition",
    "decompose", "estimator_variance",
]
