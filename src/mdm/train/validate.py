"""Validation during training: the NELBO on a fixed slice of the validation split, with fixed noise."""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch

from mdm.losses import diffusion_loss
from mdm.tasks.base import DataBundle, collate
from mdm.train.data import mix_seed
from mdm.train.distributed import DistContext, reshard
from mdm.train.families import MODEL_FAMILIES
from mdm.train.precision import autocast

__all__ = ["validate", "val_line"]


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


@torch.no_grad()
def validate(fwd, raw, ema, bundle: DataBundle, cfg, ctx: DistContext, loss_parts, step: int,
             precision: str) -> dict:
    """NELBO on a fixed slice of the validation split, with fixed noise (comparable across steps).

    Uses the EMA weights when the run keeps an EMA (the weights :func:`checkpoint.load` returns).
    ``precision``: the resolved ``"fp32"`` / ``"bf16"``.  Returns ``{}`` when there is nothing to score.
    """
    n_val = len(bundle.val)
    n = min(n_val, cfg.eval_batches * cfg.batch_size * ctx.world_size)
    n -= n % ctx.world_size
    if n == 0:
        return {}
    schedule, time_sampler, mask_sampler = loss_parts
    family_loss = MODEL_FAMILIES.get(cfg.model.family).loss
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
                    out = family_loss(fwd, batch) if family_loss is not None else diffusion_loss(
                        fwd, batch["input_ids"], schedule=schedule, eligible=batch["eligible"],
                        attention_mask=batch.get("attention_mask"), time_sampler=time_sampler,
                        mask_sampler=mask_sampler, normalize="tokens", generator=gen,
                        masked_logits_only=cfg.loss.masked_logits_only,
                    )
                totals[0] += out.per_sample.double().sum()
                totals[1] += out.num_eligible.double()
        reshard(raw)
    raw.train(was_training)
    ctx.all_reduce_sum(totals)
    nats = float(totals[0] / totals[1])
    if family_loss is not None:  # not an ELBO: the family's own loss per real position
        return {"step": step, "split": "val", "val_loss_per_position": nats, "val_sequences": n,
                "val_weights": "ema" if ema is not None else "raw", "precision": precision}
    row = {"step": step, "split": "val", "val_nelbo_nats_per_token": nats,
           "val_bits_per_token": nats / math.log(2)}
    if bundle.chars_per_token:
        row["val_bits_per_char"] = nats / math.log(2) / bundle.chars_per_token
    row["val_sequences"] = n
    row["val_weights"] = "ema" if ema is not None else "raw"
    row["precision"] = precision
    return row


def val_line(row: dict) -> str:
    if "val_loss_per_position" in row:
        return f"step {row['step']}: val loss {row['val_loss_per_position']:.4f} per position"
    s = f"step {row['step']}: val NELBO {row['val_bits_per_token']:.4f} bits/token"
    if "val_bits_per_char" in row:
        s += f", {row['val_bits_per_char']:.4f} bits/char"
    return s
