"""Any-process generation (AP-MDM): one transition rule and the generation loop around it.

Yang et al., "On Powerful Ways to Generate: Autoregression, Diffusion, and Beyond" (arXiv 2510.06190).
A model reads the whole current sequence and returns, per position, token logits and three bits --
remask, insert, delete.  :func:`apply_transition` is the paper's transition, applied to every
position at once; the order of operations is part of the contract:

1. **delete** the position if its delete bit is set AND it holds MASK (clean tokens are never deleted);
2. otherwise **remask**: write MASK if its remask bit is set (on a MASK this means "stay masked");
3. otherwise **unmask**: a MASK gets the predicted token (so every MASK without its remask bit is
   unmasked in this step); a clean token is kept;
4. then, if its insert bit is set, a new MASK goes right after the position's own result.  A deleted
   position has no result and inserts nothing.

Lengths change, so a batch is padded (``pad_id`` beyond ``lengths``) and re-packed after each step.
:func:`generate` runs the transition until every sequence reaches a fixed point, shows EOS or hits
the step cap; positions outside ``editable`` (the prompt) are never edited.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from mdm.categorical import gumbel_argmax
from mdm.errors import SamplingError, TokenError
from mdm.protocol import capability

__all__ = ["apply_transition", "generate", "AnyProcessResult", "TransitionStep", "HALT_REASONS"]

HALT_REASONS = ("fixed point", "eos", "step cap", "length cap")


def _check_long(name: str, t, shape=None) -> None:
    if not isinstance(t, torch.Tensor) or t.dtype != torch.long or t.dim() != 2:
        got = f"{type(t).__name__} {getattr(t, 'dtype', '')} {tuple(getattr(t, 'shape', ()))}"
        raise TokenError(f"{name} must be a torch.long tensor [B, L], got {got}")
    if shape is not None and tuple(t.shape) != shape:
        raise TokenError(f"{name} must have the shape {shape} of x, got {tuple(t.shape)}")


def _as_bits(name: str, b, shape) -> torch.Tensor:
    """Bool bits from a bool tensor, or from probabilities thresholded at 0.5."""
    if not isinstance(b, torch.Tensor) or tuple(b.shape) != shape:
        got = tuple(b.shape) if isinstance(b, torch.Tensor) else type(b).__name__
        raise TokenError(f"{name} bits must be a tensor of the shape {shape} of x, got {got}")
    if b.dtype == torch.bool:
        return b
    if b.is_floating_point():
        return b > 0.5
    return b != 0


def _lengths(lengths, B: int, L: int, device) -> torch.Tensor:
    if lengths is None:
        return torch.full((B,), L, dtype=torch.long, device=device)
    if not isinstance(lengths, torch.Tensor) or lengths.dtype != torch.long or tuple(lengths.shape) != (B,):
        got = tuple(lengths.shape) if isinstance(lengths, torch.Tensor) else type(lengths).__name__
        raise TokenError(f"lengths must be a torch.long tensor [B]={B}, got {got}")
    if B and (int(lengths.min()) < 0 or int(lengths.max()) > L):
        raise TokenError(f"lengths must lie in [0, L={L}], got {lengths.tolist()}")
    return lengths


@dataclass
class _Plan:
    """Where every surviving position and every inserted MASK lands in the next state."""

    keep: torch.Tensor  # [B, L] bool: position survives
    ins: torch.Tensor  # [B, L] bool: a MASK is inserted after it
    dest: torch.Tensor  # [B, L] long: its index in the next state (valid where keep)
    lengths: torch.Tensor  # [B] next lengths

    def move(self, values: torch.Tensor, fill, inserted) -> torch.Tensor:
        """``values [B, L]`` carried to the next state; new MASK slots get ``inserted``, padding ``fill``."""
        B = values.shape[0]
        width = int(self.lengths.max()) if B else 0
        out = torch.full((B, width), fill, dtype=values.dtype, device=values.device)
        rows = torch.arange(B, device=values.device)[:, None].expand_as(self.keep)
        out[rows[self.keep], self.dest[self.keep]] = values[self.keep]
        out[rows[self.ins], self.dest[self.ins] + 1] = inserted
        return out


def _plan(x, remask, insert, delete, mask_id, lengths) -> tuple[_Plan, torch.Tensor]:
    L = x.shape[1]
    valid = torch.arange(L, device=x.device)[None, :] < lengths[:, None]
    is_mask = x == mask_id
    deleted = valid & delete & is_mask  # rule 1: delete only removes masks
    keep = valid & ~deleted
    ins = keep & insert  # rule 4: insert after the position's own result
    count = keep.long() + ins.long()
    dest = count.cumsum(1) - count
    return _Plan(keep, ins, dest, count.sum(1)), is_mask


def apply_transition(x, tokens, remask, insert, delete, *, mask_id: int, pad_id: int, lengths=None):
    """One AP-MDM transition on a padded batch: ``(x_next, lengths_next)``.

    ``x`` [B, L] the current states (``pad_id`` beyond ``lengths``; default every row has length L),
    ``tokens`` [B, L] the predicted tokens, ``remask`` / ``insert`` / ``delete`` [B, L] bits (bool, or
    probabilities thresholded at 0.5).  The rule and its order are in the module docstring.
    ``x_next`` is ``[B, max(lengths_next)]``, padded with ``pad_id``.
    """
    _check_long("x", x)
    shape = tuple(x.shape)
    _check_long("tokens", tokens, shape)
    remask, insert, delete = (_as_bits(n, b, shape) for n, b in
                              (("remask", remask), ("insert", insert), ("delete", delete)))
    lengths = _lengths(lengths, shape[0], shape[1], x.device)
    plan, is_mask = _plan(x, remask, insert, delete, mask_id, lengths)
    # rules 2 and 3: remask beats unmask; a clean token without its remask bit is kept
    written = torch.where(remask, torch.full_like(x, mask_id), torch.where(is_mask, tokens, x))
    return plan.move(written, pad_id, mask_id), plan.lengths


# --------------------------------------------------------------------------- generation


@dataclass
class TransitionStep:
    """One applied transition of a traced run: the state before it and the bits applied to it."""

    tokens: torch.Tensor  # [B, L] state before the step
    lengths: torch.Tensor  # [B]
    remask: torch.Tensor  # [B, L] bool bits actually applied (prompt / halted rows zeroed)
    insert: torch.Tensor
    delete: torch.Tensor


@dataclass
class AnyProcessResult:
    """``tokens`` [B, max length] (``pad_id`` beyond ``lengths``); ``steps`` [B]: transitions that changed
    the sequence; ``nfe`` [B]: forward passes it took (the pass that finds a fixed point included);
    ``halted``: per sequence one of :data:`HALT_REASONS`; ``trace``: the states, when asked."""

    tokens: torch.Tensor
    lengths: torch.Tensor
    steps: torch.Tensor
    nfe: torch.Tensor
    halted: list[str]
    trace: list[TransitionStep] | None = None
    final_editable: torch.Tensor | None = field(default=None, repr=False)

    def sequences(self) -> list[list[int]]:
        """Each output without its padding."""
        return [self.tokens[b, : int(n)].tolist() for b, n in enumerate(self.lengths)]


def _model_ids(model, pad_id):
    mask_id = getattr(model, "mask_id", None)
    if mask_id is None:
        raise SamplingError("the model must carry mask_id (an AnyProcessModel does)")
    pad = pad_id if pad_id is not None else capability(model, "pad_id")
    if pad is None:
        raise SamplingError("pass pad_id= (the model does not carry one)")
    return int(mask_id), int(pad)


def _check_prompt(prompt, lengths, editable, mask_id):
    _check_long("prompt", prompt)
    B, L = prompt.shape
    lengths = _lengths(lengths, B, L, prompt.device)
    valid = torch.arange(L, device=prompt.device)[None, :] < lengths[:, None]
    if editable is None:
        editable = prompt == mask_id
    elif (not isinstance(editable, torch.Tensor) or editable.dtype != torch.bool
          or tuple(editable.shape) != (B, L)):
        raise TokenError(f"editable must be a bool tensor of the prompt's shape {(B, L)}")
    if bool((valid & ~editable & (prompt == mask_id)).any()):
        raise TokenError("the prompt holds MASK at a position that is not editable; "
                         "mark it editable or replace the MASK by a real token")
    return lengths, editable & valid


def _decide(out, x, mask_id, temperature, generator):
    """Tokens and bool bits from a model output (logits with the mask token excluded; bits at 0.5)."""
    logits = out.logits.float().clone()
    logits[..., mask_id] = float("-inf")
    if temperature > 0:
        tokens = gumbel_argmax(logits / temperature, generator)
    else:
        tokens = logits.argmax(-1)
    return tokens, out.remask > 0, out.insert > 0, out.delete > 0  # sigmoid(z) > 0.5  <=>  z > 0


@torch.no_grad()
def generate(model, prompt, *, max_steps: int, lengths=None, editable=None, eos_id: int | None = None,
             pad_id: int | None = None, max_len: int | None = None, temperature: float = 0.0,
             seed: int | None = None, trace: bool = False) -> AnyProcessResult:
    """Run AP-MDM transitions from ``prompt`` until every sequence halts.

    ``model(x, attention_mask)`` returns an :class:`~mdm.models.anyprocess.AnyProcessOutput` and carries
    ``mask_id`` (and ``pad_id``, unless passed).  ``prompt`` [B, L] are the start states, padded beyond
    ``lengths``; ``editable`` [B, L] marks what the process may change (default: the MASK positions).
    Every other position is the prompt: its three bits are forced off, so it is never remasked,
    deleted or followed by an insertion.  Inserted positions are editable.

    A sequence halts at a fixed point (a transition that changes nothing), once an editable position
    holds ``eos_id`` and no MASK is left, at ``max_steps`` transitions, or when an insertion would grow
    it past ``max_len`` (default the model's ``max_len`` unless it evaluates long inputs in windows).
    """
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
        raise SamplingError(f"max_steps must be an int >= 1, got {max_steps!r}")
    if temperature < 0:
        raise SamplingError(f"temperature must be >= 0, got {temperature}")
    mask_id, pad_id = _model_ids(model, pad_id)
    lengths, editable = _check_prompt(prompt, lengths, editable, mask_id)
    if max_len is None:
        max_len = getattr(model, "length_limit", None)
    x = prompt.clone()
    B = x.shape[0]
    device = x.device
    gen = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    active = torch.ones(B, dtype=torch.bool, device=device)
    steps = torch.zeros(B, dtype=torch.long, device=device)
    nfe = torch.zeros(B, dtype=torch.long, device=device)
    halted = [""] * B
    frames: list[TransitionStep] | None = [] if trace else None

    def stop(rows: torch.Tensor, reason: str) -> None:
        for b in rows.nonzero().flatten().tolist():
            halted[b] = reason
        active.copy_(active & ~rows)

    for _ in range(max_steps):
        if not bool(active.any()):
            break
        L = x.shape[1]
        valid = torch.arange(L, device=device)[None, :] < lengths[:, None]
        out = model(x, attention_mask=valid)
        nfe += active.long()
        tokens, remask, insert, delete = _decide(out, x, mask_id, temperature, gen)
        free = editable & active[:, None]
        remask, insert, delete = remask & free, insert & free, delete & free
        tokens = torch.where(free, tokens, x)
        plan, is_mask = _plan(x, remask, insert, delete, mask_id, lengths)
        written = torch.where(remask, torch.full_like(x, mask_id), torch.where(is_mask, tokens, x))
        if max_len is not None:
            too_long = active & (plan.lengths > max_len)
            if bool(too_long.any()):  # leave those rows as they are and halt them
                stop(too_long, "length cap")
                keep_rows = ~too_long[:, None]
                remask, insert, delete = remask & keep_rows, insert & keep_rows, delete & keep_rows
                written = torch.where(keep_rows, written, x)
                plan, _ = _plan(x, remask, insert, delete, mask_id, lengths)
        x_next = plan.move(written, pad_id, mask_id)
        editable_next = plan.move(editable, False, True)
        if frames is not None:
            frames.append(TransitionStep(x.clone(), lengths.clone(), remask, insert, delete))
        width = min(x.shape[1], x_next.shape[1])
        same = (plan.lengths == lengths) & (x_next[:, :width] == x[:, :width]).masked_fill(
            torch.arange(width, device=device)[None, :] >= lengths[:, None], True).all(1)
        changed = active & ~same
        steps += changed.long()
        stop(active & same, "fixed point")
        x, lengths, editable = x_next, plan.lengths, editable_next
        if eos_id is not None:
            has_eos = (editable & (x == eos_id)).any(1)
            no_mask = ~(x == mask_id).any(1)
            stop(active & has_eos & no_mask, "eos")
    stop(active.clone(), "step cap")
    return AnyProcessResult(x, lengths, steps, nfe, halted, frames, editable)
