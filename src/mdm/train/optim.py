"""AdamW and the warmup + cosine learning-rate schedule."""

from __future__ import annotations

import math

import torch
from torch import nn

from mdm.train.config import OptimConfig

__all__ = ["build_optimizer", "lr_factor", "build_lr_scheduler"]


def build_optimizer(model: nn.Module, cfg: OptimConfig, extra_groups: list[dict] | None = None
                    ) -> torch.optim.AdamW:
    """AdamW; weight decay only on matrices of linear layers (not on norms, biases or embeddings).

    ``extra_groups``: groups of parameters an objective added, with their own options
    (:meth:`mdm.train.objective.Objective.param_groups`); they are left out of the two groups above.
    """
    extra_groups = extra_groups or []
    own = {id(p) for g in extra_groups for p in g["params"]}
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in own:
            continue
        (decay if p.dim() >= 2 and "embed" not in name else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
        *extra_groups,
    ]
    return torch.optim.AdamW(
        [g for g in groups if g["params"]], lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps
    )


def lr_factor(step: int, *, warmup_steps: int, max_steps: int, min_lr_ratio: float) -> float:
    """Multiplier of the base lr at optimizer step ``step`` (0-based).

    Linear warmup from ``1/warmup_steps`` to 1 over ``warmup_steps`` steps, then a half cosine down
    to ``min_lr_ratio`` at ``max_steps``.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, max_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_lr_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig, max_steps: int):
    """LambdaLR over :func:`lr_factor`.  A plain closure, so the scheduler's state_dict holds only the
    step count: a resumed run follows the schedule of its own config."""

    def factor(step: int) -> float:
        return lr_factor(
            step, warmup_steps=cfg.warmup_steps, max_steps=max_steps, min_lr_ratio=cfg.min_lr_ratio
        )

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
