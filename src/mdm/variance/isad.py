"""ISAD: answer-delimiter tokens masked more often (Jia et al., arXiv 2511.18159; StableDLLM).

The model must learn where an answer ends; ISAD raises the masking probability of the delimiter
tokens (end of answer, ``####`` ...) from ``p = 1 - alpha(t)`` to

    q = min(1, p + delta)                                   (delta = 0.2 in the paper)

and reweights so the estimator stays unbiased for the ordinary NELBO.  The reweighting here is the
exact likelihood ratio of the drawn mask: each eligible delimiter position contributes

    p / q        if it was masked,        (1 - p) / (1 - q)        if it was not,

and the row's loss is multiplied by the product (its importance weight).  A delimiter is then seen
masked more often, and ``E[weight * loss]`` equals the standard estimator's mean exactly; the price is
the extra variance of the ratio (large when ``q`` is near 1 but the delimiter stayed clean).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mdm.errors import ConfigError
from mdm.losses import diffusion_loss
from mdm.masking import UniformTime
from mdm.process import mask_probs, sample_mask
from mdm.protocol import denoiser_schedule

__all__ = ["ISAD"]


class _Given:
    """A time / mask sampler that hands back what ISAD already drew."""

    def __init__(self, value, weight=None):
        self.value, self.weight = value, weight

    def __call__(self, *args, **kwargs):
        return self.value if self.weight is None else (self.value, self.weight)


@dataclass(frozen=True)
class ISAD:
    """``ISAD(delimiters=(eos_id,), delta=0.2)``; :meth:`loss` is :func:`mdm.losses.diffusion_loss`
    with delimiter positions masked at ``min(1, p + delta)`` and the likelihood-ratio weight."""

    delimiters: tuple[int, ...]
    delta: float = 0.2

    def __post_init__(self):
        if not (isinstance(self.delta, (int, float)) and 0.0 <= self.delta <= 1.0):
            raise ConfigError(f"ISAD(delta) needs 0 <= delta <= 1 (the paper uses 0.2), got {self.delta!r}")
        ids = tuple(self.delimiters)
        if not ids or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids):
            raise ConfigError(f"ISAD(delimiters) needs one or more token ids >= 0, got {self.delimiters!r}")

    def draw(self, x0: torch.Tensor, t: torch.Tensor, probs: torch.Tensor, *, generator=None):
        """``(masked [B, L], log importance weight [B])`` for masking probabilities ``probs``."""
        delim = torch.isin(x0, torch.tensor(self.delimiters, device=x0.device)) & (probs > 0)
        p = probs.to(torch.float64)
        q = torch.where(delim, (p + self.delta).clamp(max=1.0), p)
        masked = sample_mask(q, generator=generator)
        one = torch.ones((), dtype=torch.float64, device=p.device)
        ratio = torch.where(masked, p / torch.where(q > 0, q, one),
                            (1 - p) / torch.where(q < 1, 1 - q, one))
        log_w = torch.where(delim, ratio.log(), torch.zeros((), dtype=torch.float64, device=p.device)).sum(1)
        return masked, log_w

    def loss(self, model, x0: torch.Tensor, *, schedule=None, eligible=None, time_sampler=None,
             generator=None, **kwargs):
        """The ISAD estimate through :func:`mdm.losses.diffusion_loss` (same arguments and output)."""
        schedule = denoiser_schedule(model) if schedule is None else schedule
        time_sampler = UniformTime() if time_sampler is None else time_sampler
        t, w = time_sampler(x0.shape[0], generator=generator, device=x0.device)
        el = torch.ones_like(x0, dtype=torch.bool) if eligible is None else eligible
        if kwargs.get("attention_mask") is not None:
            el = el & kwargs["attention_mask"].bool()
        masked, log_w = self.draw(x0, t, mask_probs(schedule, t, el), generator=generator)
        weight = (w.double() * log_w.exp()).to(w.dtype)
        return diffusion_loss(model, x0, schedule=schedule, eligible=eligible, generator=generator,
                              time_sampler=_Given(t, weight), mask_sampler=_Given(masked), **kwargs)
