"""Validation during training: the objective's validation loss on a fixed slice of the validation
split, with fixed noise; the objective names the metrics."""

from __future__ import annotations

from contextlib import nullcontext

import torch

from mdm.tasks.base import DataBundle, collate
from mdm.train.data import mix_seed
from mdm.train.distributed import DistContext, reshard
from mdm.train.precision import autocast

__all__ = ["validate"]


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


@torch.no_grad()
def validate(fwd, raw, ema, bundle: DataBundle, cfg, ctx: DistContext, objective, step: int,
             precision: str) -> dict:
    """The objective's validation loss (:meth:`~mdm.train.objective.Objective.val_loss`; the NELBO
    for the NELBO objectives) on a fixed slice of the validation split, with fixed noise
    (comparable across steps).

    Uses the EMA weights when the run keeps an EMA (the weights :func:`checkpoint.load` returns).
    ``precision``: the resolved ``"fp32"`` / ``"bf16"``.  Returns ``{}`` when there is nothing to score.
    """
    n_val = len(bundle.val)
    n = min(n_val, cfg.eval_batches * cfg.batch_size * ctx.world_size)
    n -= n % ctx.world_size
    if n == 0:
        return {}
    mine = list(range(ctx.rank, n, ctx.world_size))
    totals = torch.zeros(2, dtype=torch.float64, device=ctx.device)
    gen = torch.Generator(device=ctx.device)
    was_training = raw.training
    raw.eval()
    with ema.swapped_in(raw) if ema is not None else nullcontext():
        for b, start in enumerate(range(0, len(mine), cfg.batch_size)):
            batch = to_device(collate([bundle.val[i] for i in mine[start : start + cfg.batch_size]]),
                              ctx.device)
            for s in range(cfg.eval_samples):
                gen.manual_seed(mix_seed(cfg.seed, 99, ctx.rank, b, s))
                with autocast(precision, ctx.device):
                    out = objective.val_loss(fwd, batch, gen)
                totals[0] += out.per_sample.double().sum()
                totals[1] += out.num_eligible.double()
        reshard(raw)
    raw.train(was_training)
    ctx.all_reduce_sum(totals)
    nats = float(totals[0] / totals[1])
    return {"step": step, "split": "val", **objective.val_row(nats, bundle), "val_sequences": n,
            "val_weights": "ema" if ema is not None else "raw", "precision": precision}

