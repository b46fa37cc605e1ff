"""Decoding in the learned order: an unmasker for :func:`mdm.sample`.

Garg et al. (arXiv 2511.19152): under per-position schedules the reverse process reveals
positions in a Plackett--Luce order with weights ``w`` (:mod:`mdm.order.plackett_luce`).
:class:`LearnedOrder` draws one such order per sequence and, each step, reveals the next ``k``
still-masked positions of it.

Implementation: the order is an exponential race, which is memoryless, so "the next ``k`` masked
positions of one order drawn at the start" has the same law as "the first ``k`` of a fresh
Plackett--Luce draw over the positions still masked" (Gumbel-top-k on ``log w``).  The unmasker
therefore keeps no per-row state and works unchanged when rows leave the batch (stop rule) or the
loop restricts a step to a block; prompt positions are never masked, so they are skipped.
"""

from __future__ import annotations

import torch

from mdm.errors import SamplingError
from mdm.order.plackett_luce import masking_times
from mdm.order.schedule import check_weights
from mdm.sampling.unmaskers import StepState, Unmasker, take_best

__all__ = ["LearnedOrder"]


class LearnedOrder(Unmasker):
    """Reveal the next ``k`` masked positions of a Plackett--Luce(``w``) order per step.

    ``w``: positive weights, a tensor ``[L]`` (or a :class:`~mdm.order.PerPositionSchedule`, whose
    current ``w`` is copied), one per generated position -- or one per sequence position, prompt
    included (``len(w) == P + length``; the prompt's weights are then unused).  Larger ``w`` is
    decoded earlier.  ``k`` >= 1 positions per step; the values come from the model at the
    sampler's temperature, so ``k=1`` at temperature 1 on an exact denoiser samples the data law
    exactly (each order's chain rule is exact).  Budgeted like :class:`~mdm.sampling.TopK`:
    ``ceil(block_size / k)`` steps per block.
    """

    def __init__(self, w, k: int = 1):
        self.w = check_weights(w)
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise SamplingError(f"LearnedOrder(k=...) must be an int >= 1, got {k!r}")
        self.k = k

    def __repr__(self) -> str:
        return f"LearnedOrder(L={self.w.numel()}, k={self.k})"

    def steps_per_block(self, block_size, n_blocks):
        return -(-block_size // self.k)

    def _columns(self, state: StepState) -> torch.Tensor:
        """Indices into ``w`` of the window's columns."""
        width = state.eligible.shape[-1]
        total = state.prompt_len + (state.length if state.length is not None else width)
        if self.w.numel() == total:
            first = state.lo
        elif state.length is not None and self.w.numel() == state.length:
            first = state.lo - state.prompt_len
        else:
            raise SamplingError(
                f"LearnedOrder has {self.w.numel()} weights but the sampler generates length={state.length} "
                f"tokens after a prompt of {state.prompt_len}: give one weight per generated position "
                "(or per position, prompt included)"
            )
        return torch.arange(first, first + width, device=state.eligible.device)

    def plan(self, state):
        w = self.w.to(state.eligible.device)[self._columns(state)]
        u = torch.rand(state.eligible.shape, dtype=torch.float64, device=state.eligible.device,
                       generator=state.generator)
        keys = masking_times(w, u)  # log masking time: the latest is revealed first
        return take_best(keys, state.eligible, self.k)
