"""The arms of ``mdm exp variance``: one shared pretrained MDM, SFT per (arm, seed), and the AR floor.

An arm is a (time sampler, mask sampler) pair of :mod:`mdm.variance`; everything else -- model,
data order, optimiser, steps -- is shared.  SFT minimises the paper's per-sample loss
``l = 1/(P t) sum_{masked answer tokens} CE`` (:func:`mdm.losses.diffusion_loss`,
``normalize="sequence"``), prompt tokens never masked.  The AR baseline (same transformer, causal)
minimises the mean next-token CE over the answer: its per-sample loss varies only with the data (C).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mdm import variance as mv
from mdm.losses import diffusion_loss
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.sampling.autoregressive import greedy_continuation

__all__ = ["Arm", "ARMS", "make_model", "pretrain_mdm", "sft", "pretrain_ar", "sft_ar", "ar_accuracy",
           "ar_loss_variance"]


@dataclass(frozen=True)
class Arm:
    """``time``: builds the time sampler (given the shared P-POTS fit); ``copies``: masks scored per
    row (MIRROR: 2, so a step costs ~2 forward passes)."""

    name: str
    time: Callable[[mv.PPOTS | None], object]
    mask: Callable[[], object]
    copies: int = 1


ARMS = (
    Arm("standard", lambda p: mv.UniformTime(), mv.BernoulliMask),
    Arm("antithetic", lambda p: mv.AntitheticTime(), mv.BernoulliMask),
    Arm("StraTS", lambda p: mv.StratifiedTime(), mv.BernoulliMask),
    Arm("P-POTS", lambda p: p, mv.BernoulliMask),
    Arm("MIRROR", lambda p: mv.UniformTime(), mv.MirrorMask, 2),
    Arm("MIRROR-indep", lambda p: mv.UniformTime(), mv.MirrorIndependentMask, 2),
    Arm("P-POTS+MIRROR", lambda p: p, mv.MirrorMask, 2),
)


def make_model(tok, seq_len: int, d_model: int, n_layers: int, n_heads: int, causal: bool = False,
               seed: int = 0):
    torch.manual_seed(seed)
    cfg = TransformerConfig(vocab_size=tok.vocab_size, mask_id=tok.mask_id, d_model=d_model,
                            n_layers=n_layers, n_heads=n_heads, max_len=seq_len, learned_positions=True,
                            causal=causal)
    return TransformerDenoiser(cfg)


def _batches(n: int, batch: int, steps: int, seed: int):
    """``steps`` index batches: epochs of a seeded permutation (the data order of a seed)."""
    g = torch.Generator().manual_seed(seed)
    perm, pos = torch.randperm(n, generator=g), 0
    for _ in range(steps):
        if pos + batch > n:
            perm, pos = torch.randperm(n, generator=g), 0
        yield perm[pos:pos + batch]
        pos += batch


def _opt(model, lr):
    return torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.0)


def _pretrain(model, n: int, loss_fn, *, steps: int, batch: int, lr: float, seed: int):
    opt = _opt(model, lr)
    model.train()
    for i, idx in enumerate(_batches(n, batch, steps, seed)):
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (i + 1) / 20)
        loss = loss_fn(idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    model.eval()
    return model


def pretrain_mdm(model, tokens, *, seed: int = 0, **kw):
    """Unconditional MDM on whole sequences (every position eligible), antithetic t, nats/token."""
    gen = torch.Generator().manual_seed(seed)
    return _pretrain(model, len(tokens), lambda idx: diffusion_loss(
        model, tokens[idx], time_sampler=mv.AntitheticTime(), generator=gen).loss, seed=seed, **kw)


def _sft_loop(model, n: int, step_loss, *, steps: int, batch: int, lr: float, seed: int,
              checkpoints: tuple[int, ...], on_checkpoint, copies: int) -> dict:
    """The SFT loop every arm shares: ``step_loss(idx) -> per-sample losses [B]`` (their mean is
    minimised).  Returns the per-step per-sample-loss variance and gradient-norm statistics."""
    opt = _opt(model, lr)
    loss_var, grad_norm = [], []
    model.train()
    for i, idx in enumerate(_batches(n, batch, steps, 1000 + seed), start=1):
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, i / 10)  # constant after warm-up: the half-way point is a fair stop
        per = step_loss(idx)
        opt.zero_grad(set_to_none=True)
        per.mean().backward()
        grad_norm.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)))
        opt.step()
        loss_var.append(float(per.detach().double().var()))
        if i in checkpoints:
            model.eval()
            on_checkpoint(i, model)
            model.train()
    model.eval()
    burn = len(grad_norm) // 10  # the warm-up steps are excluded from both variances
    return {"loss_var": statistics.fmean(loss_var[burn:]),
            "grad_norm_var": statistics.variance(grad_norm[burn:]),
            "grad_norm_mean": statistics.fmean(grad_norm[burn:]), "forward_copies_per_step": copies}


def sft(model, tokens, eligible, arm: Arm, ppots: mv.PPOTS | None, *, seed: int, **loop) -> dict:
    """SFT of ``model`` (in place) with the arm's samplers (``loop``: steps, batch, lr, checkpoints,
    on_checkpoint(step, model))."""
    gen = torch.Generator().manual_seed(10_000 + seed)
    time_sampler, mask_sampler = arm.time(ppots), arm.mask()

    def step_loss(idx):
        return diffusion_loss(model, tokens[idx], eligible=eligible[idx], time_sampler=time_sampler,
                              mask_sampler=mask_sampler, normalize="sequence", generator=gen).per_sample

    return _sft_loop(model, len(tokens), step_loss, seed=seed, copies=arm.copies, **loop)


# --- the autoregressive floor ----------------------------------------------------------------------


def _ar_per_sample(model, tokens, scored):
    """Mean next-token CE over the scored positions of each row (position 0 is never scored)."""
    logits = model(tokens[:, :-1]).float()
    logits[..., model.mask_id] = -math.inf
    ce = F.cross_entropy(logits.transpose(1, 2), tokens[:, 1:], reduction="none")
    w = scored[:, 1:].double()
    return (ce.double() * w).sum(1) / w.sum(1).clamp(min=1)


def pretrain_ar(model, tokens, *, seed: int = 0, **kw):
    """The AR model on whole sequences: mean next-token CE."""
    every = torch.ones_like(tokens, dtype=torch.bool)
    return _pretrain(model, len(tokens), lambda idx: _ar_per_sample(model, tokens[idx], every[idx]).mean(),
                     seed=seed, **kw)


def sft_ar(model, tokens, eligible, *, seed: int, **loop) -> dict:
    """SFT of the AR model: mean next-token CE over the answer (same loop as the MDM arms)."""
    return _sft_loop(model, len(tokens), lambda idx: _ar_per_sample(model, tokens[idx], eligible[idx]),
                     seed=seed, copies=1, **loop)


def ar_accuracy(model, dataset) -> list[bool]:
    """Greedy left-to-right decoding of the answer region; exact match."""
    return dataset.verify(greedy_continuation(model, dataset.prompts(), dataset.answer_len)).tolist()


@torch.no_grad()
def ar_loss_variance(model, tokens, eligible) -> float:
    """Var over examples of the AR per-sample loss: exact (no noise to average), i.e. C alone."""
    return float(_ar_per_sample(model, tokens, eligible).var(unbiased=False))
