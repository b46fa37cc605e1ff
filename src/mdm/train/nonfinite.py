"""Skipping non-finite training steps.

A step whose loss or global gradient norm is NaN/inf would poison the weights, the optimizer moments
and the EMA for good.  Such a step is skipped instead: no optimizer step, no EMA update (the LR
schedule and data stream still advance, so step ``s`` always means the same batch and LR).  Each skip
is logged as a ``"split": "nonfinite"`` row in ``metrics.jsonl`` and counted (``nonfinite_skipped``
in the train rows and the trainer state).  ``max_nonfinite_steps`` consecutive skips mean the run has
diverged: training stops with :class:`~mdm.errors.NonFiniteError`, without saving, so the last
checkpoint -- written before the divergence or during it, with the weights of the last good step --
stays as it was.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch

from mdm.errors import NonFiniteError

__all__ = ["NonFiniteGuard"]


class NonFiniteGuard:
    """``finite = guard.check(loss, grad_norm)`` once per optimizer step, before ``opt.step()``;
    then ``guard.after(step, log)`` once the step counter has advanced."""

    def __init__(self, limit: int, ctx, ckpt_dir: Path, skipped: int = 0):
        self.limit, self.ctx, self.ckpt_dir = limit, ctx, ckpt_dir
        self.skipped = skipped  # over the whole run (restored on resume)
        self.consecutive = 0
        self._last: dict | None = None

    def check(self, loss: torch.Tensor, grad_norm: torch.Tensor) -> bool:
        """``grad_norm``: a plain tensor (the loop gathers FSDP2's DTensor first)."""
        bad = not bool(torch.isfinite(loss).all() and torch.isfinite(grad_norm).all())
        bad = self.ctx.any(bad)  # every rank skips the same steps
        if not bad:
            self.consecutive = 0
            self._last = None
            return True
        self.skipped += 1
        self.consecutive += 1
        self._last = {"loss": float(loss), "grad_norm": float(grad_norm)}
        return False

    def after(self, step: int, log: Callable[[dict], None]) -> None:
        """Log the step just skipped (if it was); raise after ``limit`` consecutive skips."""
        if self._last is None:
            return
        row = {"step": step, "split": "nonfinite", **self._last, "consecutive": self.consecutive,
               "nonfinite_skipped": self.skipped}
        log(row)
        if self.ctx.is_main:
            print(f"mdm: warning: step {step} skipped: non-finite loss {row['loss']} / grad norm "
                  f"{row['grad_norm']} ({self.consecutive} in a row)", file=sys.stderr, flush=True)
        if self.consecutive >= self.limit:
            raise NonFiniteError(
                f"training stopped at step {step}: {self.consecutive} consecutive steps had a NaN/inf "
                f"loss or gradient (max_nonfinite_steps={self.limit}); the last checkpoint in "
                f"{self.ckpt_dir} was kept as it was. Lower optim.lr, set optim.grad_clip, use "
                "precision fp32, or check the data"
            )
