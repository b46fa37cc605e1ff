"""The Denoiser protocol every model, adapter and exact oracle implements.

A denoiser is any callable ``denoiser(x, attention_mask=None) -> logits [B, L, V]`` with
attributes ``vocab_size`` (V, including the mask token) and ``mask_id``.  A
time-conditioned model sets ``time_conditioned = True``, also accepts ``t=`` (a ``[B]``
tensor) and may carry ``schedule``, the :class:`~mdm.schedules.Schedule` it trained with
(``Linear()`` when absent).  A block diffusion denoiser (BD3-LM) sets ``block_size`` (an int)
and also accepts ``clean=`` (the clean ``x_0``: each block is denoised given the clean earlier
blocks, :mod:`mdm.models.block_causal`).  Every caller -- training, :func:`mdm.elbo`, :func:`mdm.sample`, the
metrics -- gives it the time at which training saw the current amount of masking,
``t = schedule.inverse(1 - fraction masked)`` (:func:`model_time`).  Samplers and losses never
let the mask token be predicted (SUBS parameterization): see :func:`subs_logits`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from mdm.errors import ModelConfigError, TokenError
from mdm.schedules import Linear, Schedule


@runtime_checkable
class Denoiser(Protocol):
    vocab_size: int
    mask_id: int

    def __call__(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None, **kw) -> torch.Tensor:
        ...


def is_time_conditioned(denoiser) -> bool:
    return bool(getattr(denoiser, "time_conditioned", False))


def denoiser_schedule(denoiser) -> Schedule:
    """The schedule a denoiser trained with: its ``schedule`` attribute, ``Linear()`` when absent."""
    schedule = getattr(denoiser, "schedule", None)
    if schedule is None:
        return Linear()
    if not isinstance(schedule, Schedule):
        raise ModelConfigError(
            f"denoiser.schedule must be an mdm.schedules.Schedule (the one it trained with), got {schedule!r}"
        )
    return schedule


def model_time(denoiser, fraction_masked: torch.Tensor) -> torch.Tensor:
    """``t`` for a time-conditioned denoiser at a masking level: ``schedule.inverse(1 - fraction)``.

    Training draws ``t`` and masks a ``1 - alpha(t)`` fraction in expectation, so this is the time
    at which the model saw that much masking (for ``Linear`` it is the fraction itself).  Float32
    ``[B]`` like the times of training.
    """
    schedule = denoiser_schedule(denoiser)
    clean = 1.0 - fraction_masked.to(torch.float64)
    return torch.as_tensor(schedule.inverse(clean)).to(torch.float32)


def block_size_of(denoiser) -> int | None:
    """The block size of a block-causal (block diffusion) denoiser, None for any other."""
    size = getattr(denoiser, "block_size", None)
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def call_denoiser(denoiser, x, attention_mask=None, t=None):
    """Call ``denoiser`` passing ``t`` only when it is time conditioned."""
    if is_time_conditioned(denoiser):
        if t is None:
            raise TokenError("this denoiser is time conditioned: pass t= (a [B] tensor of times)")
        return denoiser(x, attention_mask=attention_mask, t=t)
    return denoiser(x, attention_mask=attention_mask)


def subs_logits(logits: torch.Tensor, mask_id: int) -> torch.Tensor:
    """SUBS parameterization: the mask token can never be predicted (its logit is -inf)."""
    logits = logits.clone()
    logits[..., mask_id] = float("-inf")
    return logits


def check_tokens(x: torch.Tensor, vocab_size: int, name: str = "tokens", allow_mask_id: int | None = None):
    """Validate a ``[B, L]`` long tensor of ids in ``[0, vocab_size)``."""
    if not isinstance(x, torch.Tensor) or x.dtype != torch.long or x.dim() != 2:
        got = f"{type(x).__name__} {getattr(x, 'dtype', '')} {tuple(getattr(x, 'shape', ()))}"
        raise TokenError(f"{name} must be a torch.long tensor of shape [B, L], got {got}")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= vocab_size):
        raise TokenError(
            f"{name} has ids outside [0, {vocab_size}): min {int(x.min())}, max {int(x.max())}"
        )
