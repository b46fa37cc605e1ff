"""What the trainer needs from :mod:`mdm.variance` beyond a sampler name: P-POTS's estimation phase,
its checkpoint state, the weight clamp, and the per-step variance metrics.

P-POTS (Jia et al., arXiv 2511.18159) measures g(t), v(t) with the model being trained before the
first step; that fit is part of the run's state: it is written to ``ppots.json`` (a cache a person
can read) and to the checkpoint, and a resumed run loads it instead of re-estimating, so it samples
the same p(t).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import torch

from mdm.tasks.base import collate
from mdm.variance import ClampedWeights

__all__ = ["with_clamp", "prepare_time_sampler", "sampler_state", "VarianceMeter"]

PPOTS_FILE = "ppots.json"


def with_clamp(sampler, weight_clamp: float):
    return ClampedWeights(sampler, weight_clamp) if weight_clamp > 0 else sampler


def _calibratable(sampler):
    inner = getattr(sampler, "sampler", sampler)
    return inner if hasattr(inner, "calibrate") else None


def prepare_time_sampler(loss_parts, model, bundle, cfg, state: dict, device, out: Path | None) -> None:
    """Fit (or, on resume, reload) the time sampler of ``loss_parts = (schedule, time sampler, mask
    sampler)`` if it needs it; a no-op for the others."""
    schedule, sampler, _ = loss_parts
    inner = _calibratable(sampler)
    if inner is None:
        return
    if state.get("time_sampler") is not None:
        inner.load_state_dict(state["time_sampler"])
        return
    lc = cfg.loss
    n = min(lc.ppots_examples, len(bundle.train))
    batch = collate([bundle.train[i] for i in range(n)])
    was_training = model.training
    model.eval()
    inner.calibrate(model, batch["input_ids"].to(device), eligible=batch["eligible"].to(device),
                    grid=lc.ppots_grid, n_examples=n, n_masks=lc.ppots_masks, seed=cfg.seed,
                    restarts=lc.ppots_restarts,
                    schedule=schedule)
    model.train(was_training)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / PPOTS_FILE).write_text(json.dumps(inner.state_dict(), indent=1), encoding="utf-8")


def sampler_state(sampler) -> dict | None:
    inner = _calibratable(sampler)
    return None if inner is None else inner.state_dict()


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
