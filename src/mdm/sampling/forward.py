"""What the sampling loop asks of the denoiser each step, as a value: a :class:`Forward`.

The loop (:func:`mdm.sampling.loop._steps`) is a generator that yields one :class:`Forward` per
forward pass and is sent back ``(raw logits, owned)``.  :func:`mdm.sample` answers each with the
call's own :meth:`~mdm.sampling.guidance.ModelCall.logits`; a scheduler that advances many
sampling calls together (:mod:`mdm.sampling.stepper`) answers several with one batched pass.
Either way every other part of a step -- the unmasker, the draws from the call's generator, the
stop rule -- is the loop's own code, so a call's tokens do not depend on who answered.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mdm.sampling.guidance import ModelCall

__all__ = ["Forward"]


@dataclass
class Forward:
    """One forward pass: ``call.logits(x, t, lo, hi, positions, rows)`` answers it.

    ``batch`` (the active rows' tokens before this step), ``out_rows`` (their rows in ``out``),
    ``out`` (finished rows hold their final tokens) and ``nfe`` are the loop's own tensors, shown
    read-only to a scheduler that draws the denoising live."""

    call: ModelCall
    x: torch.Tensor
    t: torch.Tensor | None
    lo: int
    hi: int
    positions: torch.Tensor
    rows: torch.Tensor | None
    batch: torch.Tensor
    out_rows: torch.Tensor
    out: torch.Tensor
    nfe: torch.Tensor

    def answer(self) -> tuple[torch.Tensor, bool]:
        """The call's own answer: what :func:`mdm.sample` sends back."""
        return self.call.logits(self.x, self.t, self.lo, self.hi, self.positions, self.rows)
