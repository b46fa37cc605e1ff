"""The trained-model half of ``mdm exp steps-vs-length``: a small MDM fitted to an exact language.

The oracle sweeps isolate the error of the step budget; a trained network adds its own error.
Here a small :class:`~mdm.models.transformer.TransformerDenoiser` is trained on fresh samples of
the language (an endless stream, so it never overfits) with the MDM loss
(:func:`mdm.losses.diffusion_loss`, linear schedule, antithetic times), AdamW with warmup and
cosine decay (:mod:`mdm.train.optim`).  Its ids ``0 .. V-1`` are the language's tokens and its
mask id is ``V``, so it is a Denoiser directly comparable with ``language.denoiser()``.

The loop is driven here rather than through :func:`mdm.train.train` because one model serves
every length: each optimizer step draws a fresh batch at the next length of the cycle from the
language itself (an endless stream), which the trainer's fixed-length datasets do not express.
The model has learned absolute positions (``learned_positions=True``): a RoPE-only bidirectional
model cannot tell positions apart on an all-mask input, so it cannot fit the position-dependent
marginals of a fixed-length language.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch

from mdm.losses import diffusion_loss
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.train.config import OptimConfig
from mdm.train.optim import build_lr_scheduler, build_optimizer
from mdm.variance import AntitheticTime

__all__ = ["ModelSetup", "heldout_nelbo", "train_on_language"]


@dataclass(frozen=True)
class ModelSetup:
    """The small model, its training budget and its sweep.

    One model per language serves every length: training cycles through ``lengths`` (one length
    per optimizer step, ``tokens_per_step // L`` sequences), so differences between lengths in
    the sweep come from the sampler, not from models trained differently.
    """

    language: str  # which of the preset's languages it learns (by name)
    lengths: tuple[int, ...]
    steps: int = 1000
    tokens_per_step: int = 4096
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    lr: float = 3e-3
    warmup_steps: int = 50
    samples: int = 256  # generated sequences per (sampler, L, N)
    samplers: tuple[str, ...] = ("ancestral", "random", "confidence")
    max_steps_factor: int = 4  # the ancestral sampler runs N up to factor * L

    def batch_size(self, length: int) -> int:
        return max(8, self.tokens_per_step // length)


def heldout_nelbo(model, language, length: int, *, sequences: int = 256, draws: int = 8,
                  seed: int = 0) -> float:
    """The model's negative ELBO in nats per token on fresh samples (``draws`` Monte-Carlo masks):
    an upper bound on its cross-entropy, so ``nelbo - entropy rate`` bounds its KL rate."""
    gen = torch.Generator().manual_seed(seed)
    x = language.sample(sequences, length, gen)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        losses = [float(diffusion_loss(model, x, time_sampler=AntitheticTime(), generator=gen).loss)
                  for _ in range(draws)]
    model.train(was_training)
    return sum(losses) / len(losses)


def train_on_language(language, setup: ModelSetup, seed: int = 0):
    """Train a fresh model on samples of ``language`` at every length of ``setup.lengths``.

    Returns ``(model, summary)``: the model in eval mode and a dict with its size, the training
    budget, the final training loss, the held-out NELBO per token per length and the wall time.
    """
    cfg = TransformerConfig(
        vocab_size=language.vocab_size + 1, mask_id=language.vocab_size, d_model=setup.d_model,
        n_layers=setup.n_layers, n_heads=setup.n_heads, max_len=max(setup.lengths), learned_positions=True,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TransformerDenoiser(cfg)
    optim = OptimConfig(lr=setup.lr, warmup_steps=setup.warmup_steps)
    opt = build_optimizer(model, optim)
    sched = build_lr_scheduler(opt, optim, setup.steps)
    gen = torch.Generator().manual_seed(seed + 1)
    times = AntitheticTime()
    start = time.perf_counter()
    model.train()
    tokens, recent = 0, []
    for step in range(setup.steps):
        length = setup.lengths[step % len(setup.lengths)]
        x = language.sample(setup.batch_size(length), length, gen)
        loss = diffusion_loss(model, x, time_sampler=times, generator=gen).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), optim.grad_clip)
        opt.step()
        sched.step()
        tokens += x.numel()
        recent = [*recent[-49:], loss.item()]
    model.eval()
    summary = {
        "parameters": model.num_parameters(),
        "train_steps": setup.steps,
        "train_tokens": tokens,
        "train_loss_last50": sum(recent) / len(recent),
        "train_seconds": time.perf_counter() - start,
        "heldout_nelbo_per_token": {
            length: heldout_nelbo(model, language, length, seed=seed + 2 + length) for length in setup.lengths
        },
        "model_config": asdict(cfg),
    }
    return model, summary
