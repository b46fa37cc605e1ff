"""Per-sample loss post-processing: the EMA per-t-bin control variate and loss clipping.

Both come from StableDLLM (Jia et al., arXiv 2511.18159).  The control variate subtracts a running
mean of the loss in the sample's t-bin, ``l - b(bin(t))``, with ``b`` detached.  A detached baseline is
a constant for autograd, so it changes the *value* (and the logged variance) of the loss but leaves
its gradient exactly unchanged: ``grad (l - b) = grad l``.  Measured (tests/variance/test_control.py,
docs/results/variance.md): the gradient difference is 0.0 to the last bit.  It cannot reduce gradient
variance; it is kept only so that claim is checkable.

Clipping (``clip_per_sample(l, max_value=10.0)``, the paper's value) caps each sample's loss; clipped
samples get zero gradient, so the estimator is biased wherever the cap binds.
"""

from __future__ import annotations

import torch

from mdm.errors import ConfigError
from mdm.variance._score import positive_int

__all__ = ["EMAControlVariate", "clip_per_sample"]


class EMAControlVariate:
    """``cv(per_sample [B], t [B]) -> per_sample - b[bin(t)]`` with ``b`` an EMA (``decay``) of the
    loss per t-bin (``bins`` equal bins of [0, 1]); ``b`` is updated after use and never carries grad."""

    def __init__(self, bins: int = 10, decay: float = 0.99):
        if not (isinstance(decay, (int, float)) and 0.0 <= decay < 1.0):
            raise ConfigError(f"EMAControlVariate(decay) needs 0 <= decay < 1, got {decay!r}")
        self.bins, self.decay = positive_int("bins", bins), float(decay)
        self.baseline = torch.zeros(self.bins, dtype=torch.float64)
        self.seen = torch.zeros(self.bins, dtype=torch.bool)

    def __call__(self, per_sample: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        b = (t.detach().double().cpu() * self.bins).long().clamp(0, self.bins - 1)
        out = per_sample - self.baseline[b].to(per_sample)
        values = per_sample.detach().double().cpu()
        for k in b.unique().tolist():  # update after use: the baseline never depends on this batch
            mean = values[b == k].mean()
            old = self.baseline[k] if self.seen[k] else mean
            self.baseline[k] = self.decay * old + (1 - self.decay) * mean
            self.seen[k] = True
        return out


def clip_per_sample(per_sample: torch.Tensor, max_value: float = 10.0) -> torch.Tensor:
    """``min(l, max_value)`` per sample (paper: 10); biased where it binds."""
    if not (isinstance(max_value, (int, float)) and max_value > 0):
        raise ConfigError(f"clip_per_sample(max_value) must be a number > 0, got {max_value!r}")
    return per_sample.clamp(max=max_value)
