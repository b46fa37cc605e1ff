"""The checks and set-up of one :func:`mdm.sample` call: every argument validated (in order of
cost, before any forward pass) and turned into the :class:`SamplingSetup` the loop runs on."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mdm.errors import SamplingError, TokenError
from mdm.limits import check_sample_sizes
from mdm.protocol import (
    block_size_of,
    capabilities,
    check_tokens,
    denoiser_schedule,
    device_of,
)
from mdm.sampling.blocks import Blocks, make_blocks, model_length
from mdm.sampling.cache import SampleCache, make_cache
from mdm.sampling.guidance import check_cfg_scale
from mdm.sampling.prompts import check_prompt_mask, check_template_options, left_pad, split_template
from mdm.sampling.stopping import StopRule, _is_int
from mdm.sampling.unmaskers import TopK, Unmasker

__all__ = ["SamplingSetup", "setup_sampling"]


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class SamplingSetup:
    """Validated arguments of one :func:`sample` call."""

    device: torch.device
    prompt: torch.Tensor  # [B, P] on device
    length: int
    blocks: Blocks
    unmasker: Unmasker
    block_steps: tuple[int, ...] | None  # steps per block of a budgeted unmasker
    temperature: float
    top_p: float
    stop: StopRule | None
    generator: torch.Generator
    trace: bool
    vocab_size: int
    mask_id: int
    time_conditioned: bool
    output_mask: bool
    prompt_mask: torch.Tensor | None = None  # [B, P] bool, False at left padding; None: none
    cfg_scale: float = 0.0
    cache: SampleCache | None = None
    init: torch.Tensor | None = None  # [B, length] start of the generated region (template); None: all masked
    interior: bool = False  # the template fixes positions inside the generated region


def _check_prompt(prompt, batch_size: int, vocab_size: int, mask_id: int, device) -> torch.Tensor:
    if prompt is None:
        return torch.empty(batch_size, 0, dtype=torch.long, device=device)
    if (not isinstance(prompt, torch.Tensor) or prompt.is_floating_point() or prompt.is_complex()
            or prompt.dtype == torch.bool or prompt.dim() not in (1, 2)):
        got = f"{type(prompt).__name__} {getattr(prompt, 'dtype', '')} {tuple(getattr(prompt, 'shape', ()))}"
        raise TokenError(f"prompt must be an integer tensor [P] or [B, P], got {got}")
    prompt = prompt.to(device=device, dtype=torch.long)
    if prompt.dim() == 1:
        prompt = prompt.unsqueeze(0)
    rows = prompt.shape[0]
    if rows == 1:
        prompt = prompt.expand(batch_size, -1)
    elif rows != batch_size and batch_size != 1:
        raise TokenError(
            f"prompt has {rows} rows but batch_size={batch_size}: give one prompt row, or one per sequence "
            "(batch_size may then stay 1)"
        )
    check_tokens(prompt, vocab_size, "prompt")
    if (prompt == mask_id).any():
        raise TokenError(f"prompt contains the mask token {mask_id}: prompts must be clean tokens")
    return prompt.contiguous()


def setup_sampling(denoiser, *, batch_size, length, prompt, unmasker, block_size, temperature, top_p, stop,
           seed, generator, trace, pad_id, prompt_mask=None, cfg_scale=0.0, cache=None,
           cache_refresh=None, template=None) -> SamplingSetup:
    vocab_size, mask_id = getattr(denoiser, "vocab_size", None), getattr(denoiser, "mask_id", None)
    if not (_is_int(vocab_size) and _is_int(mask_id) and vocab_size >= 2 and 0 <= mask_id < vocab_size):
        raise SamplingError(
            "the denoiser must follow the Denoiser protocol: int attributes vocab_size >= 2 and mask_id in "
            f"[0, vocab_size), got vocab_size={vocab_size!r}, mask_id={mask_id!r}"
        )
    if not _is_int(batch_size) or batch_size < 1:
        raise SamplingError(f"batch_size must be an int >= 1, got {batch_size!r}")
    init, interior = None, False
    if template is not None:  # infilling: the leading fixed columns become the prompt
        prompt, init, interior = split_template(
            template, batch_size, vocab_size, mask_id,
            device_of(denoiser, template.device if isinstance(template, torch.Tensor) else "cpu"), given=(
                length, prompt, prompt_mask), block_size=block_size, model_block=block_size_of(denoiser))
        length = init.shape[1]
    if length is None or not _is_int(length) or length < 1:
        raise SamplingError(
            f"length (tokens to generate after the prompt) must be an int >= 1, got {length!r}")
    if not _is_number(temperature) or temperature < 0:
        raise SamplingError(f"temperature must be a finite number >= 0 (0 = argmax), got {temperature!r}")
    if not _is_number(top_p) or not 0 < top_p <= 1:
        raise SamplingError(f"top_p must be in (0, 1] (1 = no nucleus filtering), got {top_p!r}")
    if unmasker is None:
        unmasker = TopK(k=1)
    if not isinstance(unmasker, Unmasker):
        raise SamplingError(
            f"unmasker must be an mdm.sampling.Unmasker (Ancestral, Scheduled, TopK, EntropyBounded, "
            f"Threshold, ...), got {unmasker!r}"
        )
    if not isinstance(trace, bool):
        raise SamplingError(f"trace must be True or False, got {trace!r}")
    if interior:
        check_template_options(unmasker, stop, cfg_scale)
    caps = capabilities(denoiser)
    if caps.time_conditioned:
        denoiser_schedule(denoiser)  # a bad schedule attribute fails here, before any work
    device = device_of(denoiser, prompt.device if isinstance(prompt, torch.Tensor) else "cpu")
    if pad_id is None:
        pad_id = caps.pad_id
    if pad_id is not None and not (_is_int(pad_id) and 0 <= pad_id < vocab_size and pad_id != mask_id):
        raise SamplingError(
            f"pad_id must be a token id in [0, {vocab_size}) other than the mask, got {pad_id!r}"
        )
    if isinstance(prompt, (list, tuple)):  # prompts of different lengths: left padding
        if prompt_mask is not None:
            raise SamplingError("a list of prompts makes its own prompt_mask: pass one or the other")
        prompt, prompt_mask = left_pad(prompt, (0 if mask_id else 1) if pad_id is None else pad_id, device)
    prompt = _check_prompt(prompt, batch_size, vocab_size, mask_id, device)
    prompt_mask = check_prompt_mask(prompt_mask, prompt)
    blocks = make_blocks(denoiser, block_size, prompt_len=prompt.shape[1], length=length)
    block_steps = blocks.steps(unmasker)
    cfg_scale = check_cfg_scale(cfg_scale)
    stop_rule = None
    if stop is not None:
        stop_rule = StopRule.parse(stop, vocab_size=vocab_size, mask_id=mask_id, pad_id=pad_id, device=device)

    check_sample_sizes(batch_size, prompt.shape[1] + length, seed)  # mdm.limits: seed range, memory
    if seed is not None and generator is not None:
        raise SamplingError("pass seed or generator, not both")
    if generator is None:
        if seed is None:  # still reproducible under torch.manual_seed
            seed = int(torch.randint(0, 2**62, (1,)))
        if not _is_int(seed):
            raise SamplingError(f"seed must be an int, got {seed!r}")
        generator = torch.Generator(device=device).manual_seed(seed)
    elif not isinstance(generator, torch.Generator) or generator.device.type != device.type:
        raise SamplingError(
            f"generator must be a torch.Generator on the sampling device {device}, got {generator!r}"
        )
    return SamplingSetup(
        device=device, prompt=prompt, length=length, blocks=blocks,
        unmasker=unmasker, block_steps=block_steps, temperature=float(temperature),
        top_p=float(top_p), stop=stop_rule, generator=generator, trace=trace, vocab_size=vocab_size,
        mask_id=mask_id, time_conditioned=caps.time_conditioned, output_mask=caps.supports_output_mask,
        prompt_mask=prompt_mask, cfg_scale=cfg_scale,
        cache=make_cache(denoiser, cache, cache_refresh, batch=prompt.shape[0],
                         total_len=model_length(denoiser, prompt.shape[1] + length)),
        init=init, interior=interior,
    )
