"""Batched prompts of different lengths: left padding and the attention mask that hides it.

A batch of prompts ``[P_1], ..., [P_B]`` becomes one ``[B, P]`` tensor (``P = max P_i``) whose
row ``i`` is ``P - P_i`` pad tokens then the prompt, and a ``prompt_mask [B, P]`` (True = real
prompt token).  The generated region then starts at the same column ``P`` in every row, so the
loop's blocks, stop rule and time conditioning need no per-row offsets; the denoiser gets
``attention_mask`` (False at the padding) so that no position attends to a pad.  For a denoiser
with relative positions (RoPE) and a correct key mask, each row's logits are then those of the
row alone -- what LLaDA's ``generate()`` does with its ``attention_mask``.  A denoiser that ignores
``attention_mask`` (the fixed-length exact oracles of :mod:`mdm.languages`) reads the pads as text.
"""

from __future__ import annotations

import torch

from mdm.errors import SamplingError, TokenError
from mdm.protocol import check_tokens

__all__ = ["check_prompt_mask", "check_template_options", "left_pad", "split_template"]


def left_pad(prompts, pad_id: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(prompt [B, P], prompt_mask [B, P])`` from a list of 1-D integer tensors / lists, each
    right-aligned (left padding with ``pad_id``)."""
    rows = []
    for i, p in enumerate(prompts):
        if not isinstance(p, torch.Tensor):
            try:
                p = torch.as_tensor(p, dtype=torch.long)
            except (TypeError, ValueError, RuntimeError) as e:
                raise TokenError(f"prompt {i} is not a sequence of token ids: {p!r}") from e
        if p.is_floating_point() or p.is_complex() or p.dtype == torch.bool or p.dim() != 1:
            raise TokenError(
                f"each prompt of a list must be a 1-D integer tensor or list, prompt {i} is "
                f"{p.dtype} of shape {tuple(p.shape)}"
            )
        rows.append(p.to(device=device, dtype=torch.long))
    if not rows:
        raise TokenError("the list of prompts is empty: give at least one prompt (or prompt=None)")
    width = max(r.numel() for r in rows)
    prompt = torch.full((len(rows), width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros(len(rows), width, dtype=torch.bool, device=device)
    for i, r in enumerate(rows):
        if r.numel():
            prompt[i, width - r.numel():] = r
            mask[i, width - r.numel():] = True
    return prompt, mask


def check_prompt_mask(prompt_mask, prompt: torch.Tensor) -> torch.Tensor | None:
    """Validate ``prompt_mask`` against ``prompt [B, P]``: bool (or 0/1) ``[P]`` / ``[1, P]`` /
    ``[B, P]``, each row padding first (False...True...).  Returns it as bool ``[B, P]``, or
    None when nothing is padded (the fast path: no attention mask at all)."""
    if prompt_mask is None:
        return None
    m = prompt_mask
    if not isinstance(m, torch.Tensor) or m.is_floating_point() or m.is_complex() or m.dim() not in (1, 2):
        got = f"{type(prompt_mask).__name__} {getattr(prompt_mask, 'dtype', '')}"
        raise TokenError(f"prompt_mask must be a bool tensor [P] or [B, P] like the prompt, got {got}")
    if prompt_mask.dtype != torch.bool:
        if ((prompt_mask != 0) & (prompt_mask != 1)).any():
            raise TokenError("prompt_mask must hold True/False (or 1/0): 1 = prompt token, 0 = padding")
        prompt_mask = prompt_mask != 0
    prompt_mask = prompt_mask.to(prompt.device)
    if prompt_mask.dim() == 1:
        prompt_mask = prompt_mask.unsqueeze(0)
    if prompt_mask.shape[1] != prompt.shape[1] or prompt_mask.shape[0] not in (1, prompt.shape[0]):
        raise TokenError(
            f"prompt_mask has shape {tuple(prompt_mask.shape)} but the prompt is {tuple(prompt.shape)}: "
            "give one mask entry per prompt token"
        )
    prompt_mask = prompt_mask.expand_as(prompt)
    # Left padding: once a row's prompt starts it does not stop (the generated region must follow it).
    if (prompt_mask[:, :-1] & ~prompt_mask[:, 1:]).any():
        raise TokenError(
            "prompt_mask must be left padding (each row False...False then True...True): "
            "right-align the prompts, e.g. with mdm.sampling.prompts.left_pad or a list of prompts"
        )
    return None if bool(prompt_mask.all()) else prompt_mask.contiguous()


def split_template(template, batch_size: int, vocab_size: int, mask_id: int, device, *, given=(),
                   block_size=None, model_block=None):
    """Infilling: ``template [B, L]`` (or ``[L]``, shared by ``batch_size`` rows) marks with
    ``mask_id`` the positions to generate; every other position is fixed.  A prefix prompt is the
    special case whose fixed positions are the first ``P``, so the template is cut the same way:
    the leading columns fixed in every row become the prompt (the loop's blocks, caches and time
    conditioning then treat them exactly as a prompt) and the rest is the generated region, whose
    fixed positions start out revealed and are never eligible.

    Returns ``(prompt [B, P], init [B, L - P], interior)``; ``interior`` is True when some fixed
    position lies inside the generated region.  ``given``: the call's ``length`` / ``prompt`` /
    ``prompt_mask``, which a template replaces (all must be None); ``block_size`` must divide
    ``L - P`` unless the model is block-causal (``model_block``)."""
    if any(v is not None for v in given):
        raise SamplingError(
            "template= fixes every position itself: pass it without length, prompt or prompt_mask")
    if (not isinstance(template, torch.Tensor) or template.is_floating_point() or template.is_complex()
            or template.dtype == torch.bool or template.dim() not in (1, 2)):
        shape = tuple(getattr(template, "shape", ()))
        got = f"{type(template).__name__} {getattr(template, 'dtype', '')} {shape}"
        raise TokenError(f"template must be an integer tensor [L] or [B, L] (mask_id = generate), got {got}")
    template = template.to(device=device, dtype=torch.long)
    if template.dim() == 1:
        template = template.unsqueeze(0)
    if template.shape[0] == 1:
        template = template.expand(batch_size, -1)
    elif batch_size not in (1, template.shape[0]):
        raise SamplingError(
            f"template has {template.shape[0]} rows but batch_size={batch_size}: give one row, or one per "
            "sequence (batch_size may then stay 1)")
    check_tokens(template, vocab_size, "template")
    masked = template == mask_id
    if not bool(masked.any(dim=1).all()):
        row = int((~masked.any(dim=1)).nonzero()[0])
        raise SamplingError(
            f"template row {row} has no mask token ({mask_id}): mark the positions to generate with mask_id")
    p = int(masked.any(dim=0).to(torch.uint8).argmax())  # leading columns fixed in every row
    init = template[:, p:].contiguous()
    if isinstance(block_size, int) and block_size > 0 and init.shape[1] % block_size and model_block is None:
        raise SamplingError(f"with template=, blocks start at the first column to generate ({p}): "
                            f"block_size={block_size} must divide the {init.shape[1]} columns from there")
    return template[:, :p].contiguous(), init, bool((init != mask_id).any())


def check_template_options(unmasker, stop, cfg_scale) -> None:
    """What a template with fixed positions inside the generated region rules out: each of these
    would change or ignore a fixed position."""
    if hasattr(unmasker, "remask"):
        raise SamplingError(
            f"{unmasker!r} sends clean tokens back to the mask and would remask the template's fixed "
            "positions: use a non-remasking unmasker with template=")
    if stop is not None:
        raise SamplingError(
            "stop= pads everything after a stop sequence, over the template's fixed positions: "
            "drop stop= (the template already fixes where the text ends)")
    if cfg_scale:
        raise SamplingError(
            "cfg_scale masks only a prefix prompt in its unconditional pass, not the template's other "
            "fixed positions: use cfg_scale=0 with template=")
