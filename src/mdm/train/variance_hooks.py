"""The per-step variance metrics of the training log (the loss-variance papers' diagnostics): the
within-batch variance of the per-sample loss and the variance of the gradient norm.  P-POTS's fit
before step 1 belongs to the NELBO objective (:mod:`mdm.train.nelbo`).
"""

from __future__ import annotations

import statistics

import torch

__all__ = ["VarianceMeter"]


class VarianceMeter:
    """Per log window: mean over steps of the within-batch variance of the per-sample loss, and the
    variance over steps of the gradient norm (before clipping)."""

    def __init__(self):
        self.loss_vars: list[torch.Tensor] = []  # kept on device until the log row (no sync per batch)
        self.grad_norms: list[float] = []

    def add_batch(self, per_sample: torch.Tensor) -> None:
        if per_sample.numel() > 1:
            self.loss_vars.append(per_sample.detach().double().var())

    def add_step(self, grad_norm: float) -> None:
        self.grad_norms.append(grad_norm)

    def row(self) -> dict:
        g = self.grad_norms
        loss_vars = [float(v) for v in self.loss_vars]
        row = {"loss_var": statistics.fmean(loss_vars) if loss_vars else None,
               "grad_norm_var": statistics.variance(g) if len(g) > 1 else None}
        self.loss_vars, self.grad_norms = [], []
        return row
