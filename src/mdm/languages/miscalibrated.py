"""An exact oracle made miscalibrated on purpose: one group of tokens made more or less likely.

Chen et al. (arXiv 2509.13866) measured their convex Beta schedules on LLaDA-8B, whose
end-of-text confidence is not an exact denoiser's.  To ask whether the sign of "convex Beta vs
linear" depends on that, :class:`Miscalibrated` takes exact conditionals and reweights the
end-of-text group (``eos`` and ``pad``) by a known factor ``c``, then renormalises:

    q(x_i = v | ctx) = w_v p(x_i = v | ctx) / sum_u w_u p(x_i = u | ctx),   w_v = c if v in group else 1

i.e. ``log(c)`` is added to the group's logits.  ``c > 1`` sharpens the oracle's confidence in the
group (over-confident end-of-text), ``c < 1`` damps it; ``c = 1`` is the exact oracle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from mdm.errors import ConfigError
from mdm.protocol import is_time_conditioned

__all__ = ["Miscalibrated"]


class Miscalibrated:
    """The Denoiser ``denoiser`` with the tokens ``group`` reweighted by ``factor`` (see the module)."""

    def __init__(self, denoiser, group: Sequence[int], factor: float):
        if not (isinstance(factor, (int, float)) and math.isfinite(factor) and factor > 0):
            raise ConfigError(f"factor must be a finite number > 0 (1 = calibrated), got {factor!r}")
        if not group or any(not 0 <= int(v) < denoiser.mask_id for v in group):
            raise ConfigError(f"group must list token ids below mask_id={denoiser.mask_id}, got {group!r}")
        self.denoiser, self.group, self.factor = denoiser, tuple(int(v) for v in group), float(factor)
        self.vocab_size, self.mask_id = denoiser.vocab_size, denoiser.mask_id
        self.time_conditioned = is_time_conditioned(denoiser)

    def __call__(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None, **kw) -> torch.Tensor:
        logits = self.denoiser(x, attention_mask, **kw)
        shift = torch.zeros(logits.shape[-1], dtype=logits.dtype, device=logits.device)
        shift[list(self.group)] = math.log(self.factor)
        return torch.log_softmax(logits + shift, dim=-1)

    def __repr__(self) -> str:
        return f"Miscalibrated({self.denoiser!r}, group={self.group}, factor={self.factor:g})"
