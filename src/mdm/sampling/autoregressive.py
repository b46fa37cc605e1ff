"""Greedy left-to-right decoding of a causal baseline (``TransformerDenoiser(causal=True)``).

The experiments compare masked diffusion with an autoregressive model of the same network
(``causal=True``, :mod:`mdm.models.transformer`); this is how that baseline answers: one forward pass
per new token, the most likely next token each time, never the mask token (a causal model shares
the MDM's vocabulary, mask included, but is never trained to emit it)."""

from __future__ import annotations

import math

import torch

__all__ = ["greedy_continuation"]


@torch.no_grad()
def greedy_continuation(model, prompts: torch.Tensor, length: int) -> torch.Tensor:
    """``[B, P + length]``: ``prompts [B, P]`` followed by ``length`` greedily chosen tokens, each
    the argmax of ``model``'s logits at the last position (``model.mask_id`` excluded)."""
    x = prompts
    for _ in range(length):
        logits = model(x)[:, -1].float()
        logits[:, model.mask_id] = -math.inf
        x = torch.cat([x, logits.argmax(-1, keepdim=True)], 1)
    return x
