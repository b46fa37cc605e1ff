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

The optional attributes (capabilities) are declared once, with their defaults, in
:class:`Capabilities` and read through :func:`capability`; every call of a denoiser goes through
:func:`call_denoiser`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields
from typing import Protocol, runtime_checkable

import torch

from mdm.errors import ModelConfigError, TokenError
from mdm.schedules import Linear, Schedule


@runtime_checkable
class Denoiser(Protocol):
    """The required part of the protocol; the optional part is :class:`Capabilities`."""

    vocab_size: int
    mask_id: int

    def __call__(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None, **kw) -> torch.Tensor:
        ...


@dataclass(frozen=True)
class Capabilities:
    """The optional attributes a denoiser may set, each with the default that holds when it does
    not.  This class is their one declaration; callers read them through :func:`capability` (or
    the helpers below, or a :func:`capabilities` snapshot), never with ``getattr`` of their own.

    * ``time_conditioned``: also accepts ``t=`` (``[B]`` float times);
    * ``schedule``: the :class:`~mdm.schedules.Schedule` it trained with (None: ``Linear()``);
    * ``block_size``: a block diffusion (BD3-LM) model's block size; it then accepts ``clean=``;
    * ``pad_id``: the padding token samplers fill finished rows with;
    * ``max_len``: the longest input it takes (:func:`max_len_of` also reads ``config.max_len``);
    * ``supports_output_mask``: accepts ``output_mask=`` (bool ``[B, L]``) and returns logits
      ``[n, V]`` at those positions only (the cheap path of losses and samplers);
    * ``supports_kv_cache``: has ``new_cache(length)`` and accepts ``cache=``/``start=``
      (:mod:`mdm.sampling.cache`);
    * ``device``: where its inputs go (None: its parameters' device, for an ``nn.Module``).
    """

    time_conditioned: bool = False
    schedule: Schedule | None = None
    block_size: int | None = None
    pad_id: int | None = None
    max_len: int | None = None
    supports_output_mask: bool = False
    supports_kv_cache: bool = False
    device: str | torch.device | None = None


CAPABILITIES: dict[str, object] = {f.name: f.default for f in fields(Capabilities)}


def capability(denoiser, name: str):
    """``denoiser.<name>``, or the declared default of the capability ``name`` when it is absent."""
    return getattr(denoiser, name, CAPABILITIES[name])


def capabilities(denoiser) -> Capabilities:
    """Every capability of ``denoiser`` at once (read once per call by the sampler), checked."""
    return Capabilities(
        time_conditioned=is_time_conditioned(denoiser),
        schedule=capability(denoiser, "schedule"),
        block_size=block_size_of(denoiser),
        pad_id=capability(denoiser, "pad_id"),
        max_len=max_len_of(denoiser),
        supports_output_mask=supports_output_mask(denoiser),
        supports_kv_cache=bool(capability(denoiser, "supports_kv_cache")),
        device=capability(denoiser, "device"),
    )


def is_time_conditioned(denoiser) -> bool:
    return bool(capability(denoiser, "time_conditioned"))


def supports_output_mask(denoiser) -> bool:
    return bool(capability(denoiser, "supports_output_mask"))


def denoiser_schedule(denoiser) -> Schedule:
    """The schedule a denoiser trained with: its ``schedule`` attribute, ``Linear()`` when absent."""
    schedule = capability(denoiser, "schedule")
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
    size = capability(denoiser, "block_size")
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def max_len_of(denoiser) -> int | None:
    """The longest input ``denoiser`` takes: its ``max_len`` (HF adapters), else its
    ``config.max_len`` (mdm's transformer), else None (no limit known)."""
    value = capability(denoiser, "max_len")
    if value is None:
        value = getattr(getattr(denoiser, "config", None), "max_len", None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def device_of(denoiser, fallback: torch.device | str = "cpu") -> torch.device:
    """Where ``denoiser``'s inputs go: its ``device``, else (an ``nn.Module``) the device of its
    first parameter or buffer, else ``fallback``."""
    dev = capability(denoiser, "device")
    if isinstance(dev, (str, torch.device)):
        return torch.device(dev)
    if isinstance(denoiser, torch.nn.Module):
        tensor = next(itertools.chain(denoiser.parameters(), denoiser.buffers()), None)
        if tensor is not None:
            return tensor.device
    return torch.device(fallback)


def denoiser_ids(denoiser) -> tuple[int, int]:
    """``(vocab_size, mask_id)``, the protocol's two required attributes, checked."""
    vocab_size, mask_id = getattr(denoiser, "vocab_size", None), getattr(denoiser, "mask_id", None)
    if not isinstance(vocab_size, int) or not isinstance(mask_id, int) or not 0 <= mask_id < vocab_size + 1:
        raise ModelConfigError(
            "the denoiser must have integer attributes vocab_size and mask_id (the Denoiser protocol), got "
            f"vocab_size={vocab_size!r}, mask_id={mask_id!r}"
        )
    return vocab_size, mask_id


def call_denoiser(denoiser: Denoiser, x: torch.Tensor, attention_mask: torch.Tensor | None = None,
                  t: torch.Tensor | None = None, *, output_mask: torch.Tensor | None = None,
                  clean: torch.Tensor | None = None, time_conditioned: bool | None = None,
                  **extra) -> torch.Tensor:
    """The one place a denoiser is called: ``denoiser(x, attention_mask=..., t=..., ...)``.

    ``t`` is passed only to a time-conditioned denoiser (which then needs it), ``clean`` only to a
    block diffusion one, ``attention_mask`` and ``output_mask`` only when given (``output_mask``
    is for denoisers with ``supports_output_mask``: the caller decides).  ``time_conditioned``:
    the caller's cached :func:`is_time_conditioned` (the sampler reads it once per call, not per
    step).  ``extra`` (``cache=``, ``start=`` of :mod:`mdm.sampling.cache`) go through as given.
    """
    kw = extra
    if attention_mask is not None:
        kw["attention_mask"] = attention_mask
    if is_time_conditioned(denoiser) if time_conditioned is None else time_conditioned:
        if t is None:
            raise TokenError("this denoiser is time conditioned: pass t= (a [B] tensor of times)")
        kw["t"] = t
    if clean is not None and block_size_of(denoiser) is not None:
        kw["clean"] = clean
    if output_mask is not None:
        kw["output_mask"] = output_mask
    return denoiser(x, **kw)


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
