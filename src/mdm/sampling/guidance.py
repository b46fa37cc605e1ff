"""What a sampling step shows the denoiser: the padding mask of batched prompts and the
classifier-free guidance pass.

Classifier-free guidance (Ho & Salimans 2022) as LLaDA applies it to masked diffusion (Nie et al.,
arXiv 2502.09992, ``generate(cfg_scale=...)``): the unconditional logits come from the same model
with every prompt token replaced by the mask, and with guidance scale ``s``

    logits = uncond + (1 + s) * (cond - uncond)          (:func:`cfg_logits`)

``s = 0`` is the plain conditional model (the loop then skips the unconditional pass).  Both
passes run as one batch of ``2b`` rows, and NFE counts both: two forward passes per row.
"""

from __future__ import annotations

import math

import torch

from mdm.errors import SamplingError
from mdm.protocol import call_denoiser

__all__ = ["ModelCall", "cfg_logits", "check_cfg_scale"]


def cfg_logits(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """``uncond + (1 + scale) * (cond - uncond)``; where either side is infinite (a token one of
    them rules out, the mask column) the conditional logit is kept, so no NaN appears."""
    guided = cond + scale * (cond - uncond)
    return torch.where(torch.isfinite(cond) & torch.isfinite(uncond), guided, cond)


def check_cfg_scale(cfg_scale) -> float:
    number = isinstance(cfg_scale, (int, float)) and not isinstance(cfg_scale, bool)
    if not number or not math.isfinite(cfg_scale) or cfg_scale < 0:
        raise SamplingError(f"cfg_scale must be a finite number >= 0 (0 = no guidance), got {cfg_scale!r}")
    return float(cfg_scale)


class ModelCall:
    """One step's forward pass: ``denoiser(x, attention_mask=..., t=..., output_mask=...)`` through
    :func:`mdm.protocol.call_denoiser`.

    ``attention [b, N]`` (None: nothing padded) and ``prompt_real [b, P]`` (the real prompt
    tokens, masked in the unconditional pass) follow the batch as rows leave it (:meth:`keep`).
    ``passes`` is the number of forward passes a row costs per call (2 with guidance).  ``cache``:
    a :class:`mdm.sampling.cache.SampleCache` that runs the pass instead (no padding, no guidance).
    ``width``: the columns the denoiser sees; ``x`` is completed with masked columns up to it (a
    block-causal model's partial last block, :mod:`mdm.sampling.blocks`), which it never reveals.
    """

    def __init__(self, denoiser, *, vocab_size: int, mask_id: int, time_conditioned: bool, output_mask: bool,
                 attention: torch.Tensor | None, prompt_real: torch.Tensor, cfg_scale: float,
                 cache=None, width: int | None = None):
        if cache is not None and (attention is not None or cfg_scale > 0):
            raise SamplingError("cache= does not combine with prompt_mask or cfg_scale yet: the cached "
                                "span's keys would need the padding mask and a second (unconditional) "
                                "cache; drop one of them")
        self.denoiser, self.vocab_size, self.mask_id, self.cache = denoiser, vocab_size, mask_id, cache
        self.time_conditioned, self.output_mask = time_conditioned, output_mask
        self.attention, self.prompt_real, self.cfg_scale = attention, prompt_real, cfg_scale
        self.passes = 2 if cfg_scale > 0 else 1
        self.width = width

    def keep(self, idx: torch.Tensor) -> None:
        if self.cache is not None:
            self.cache.keep(idx)
        if self.attention is not None:
            self.attention = self.attention[idx]
        self.prompt_real = self.prompt_real[idx]

    def logits(self, x: torch.Tensor, t, lo: int, hi: int, positions: torch.Tensor, rows=None):
        """Raw logits ``[n, V]`` at ``positions [b, hi - lo]`` of the window ``[lo, hi)``
        (row-major), and whether that tensor is a fresh one the caller may overwrite.  ``rows``:
        which of the batch's rows ``x`` holds (None = all)."""
        extra = 0 if self.width is None else self.width - x.shape[1]
        if extra:  # never revealed: the window [lo, hi) and positions stay within the real columns
            x = torch.cat([x, x.new_full((x.shape[0], extra), self.mask_id)], dim=1)
        if self.cache is not None:  # mdm.sampling.cache: a span pass that reads the other keys/values
            kw = {"t": t} if self.time_conditioned else {}  # split by rows when the cache splits a pass
            return self.cache.logits(x, kw, lo, hi, positions, rows), True
        attn = self.attention if self.attention is None or rows is None else self.attention[rows]
        if attn is not None and extra:
            attn = torch.cat([attn, attn.new_ones((attn.shape[0], extra))], dim=1)
        if self.passes == 2:
            real = self.prompt_real if rows is None else self.prompt_real[rows]
            uncond = x.clone()
            uncond[:, :real.shape[1]].masked_fill_(real, self.mask_id)
            x = torch.cat([x, uncond])
            attn = None if attn is None else torch.cat([attn, attn])
            t = None if t is None else torch.cat([t, t])
            positions = torch.cat([positions, positions])
        raw = self._forward(x, attn, t, lo, hi, positions)
        if self.passes == 1:
            return raw, True
        cond, uncond = raw.chunk(2)
        return cfg_logits(cond, uncond, self.cfg_scale), True

    def _forward(self, x, attn, t, lo, hi, positions):
        b, n = x.shape
        if self.output_mask:
            # A denoiser with output_mask returns a fresh [n, V] tensor: ours to overwrite (no copy).
            where = torch.zeros(b, n, dtype=torch.bool, device=x.device)
            where[:, lo:hi] = positions
            return call_denoiser(self.denoiser, x, attn, t, output_mask=where,
                                 time_conditioned=self.time_conditioned)
        logits = call_denoiser(self.denoiser, x, attn, t, time_conditioned=self.time_conditioned)
        if logits.shape != (b, n, self.vocab_size):
            raise SamplingError(
                f"the denoiser returned logits of shape {tuple(logits.shape)} for input {(b, n)}; the "
                f"Denoiser protocol needs [B, L, vocab_size={self.vocab_size}]"
            )
        return logits[:, lo:hi][positions]  # boolean indexing copies: ours too
