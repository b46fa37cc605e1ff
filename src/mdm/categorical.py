"""Categorical draws shared by the samplers and the ground-truth languages."""

from __future__ import annotations

import torch

__all__ = ["gumbel_argmax"]


def gumbel_argmax(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One categorical draw per row of ``logits [..., V]``: ``argmax(logits + Gumbel)``.

    The noise is float64: float32 Gumbel noise visibly biases rare tokens.
    """
    u = torch.rand(logits.shape, dtype=torch.float64, device=logits.device, generator=generator)
    # The clamp keeps -log(-log u) finite at u = 0, a draw of probability 2^-53.
    gumbel = -torch.log(-torch.log(u.clamp_min(torch.finfo(torch.float64).tiny)))
    return (logits.to(torch.float64) + gumbel).argmax(dim=-1)
