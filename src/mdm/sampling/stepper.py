"""Step-level batching: many :func:`mdm.sample` calls advanced together, one forward pass each.

A :class:`Stepper` is one ``mdm.sample`` call (same keywords, same checks) run by the loop's own
generator (:mod:`mdm.sampling.forward`): it stops at each forward pass it needs
(:attr:`Stepper.pending`) and :meth:`Stepper.advance` answers it.  :func:`answer_together`
answers the pending passes of several steppers -- different prompts, lengths, unmaskers,
temperatures and generators -- with **one** denoiser call: their rows are right-aligned to a
common width, the columns added on the left hidden by the attention mask exactly like the
left padding of batched prompts (:mod:`mdm.sampling.prompts`), and each stepper gets the logits
at its own positions.  Everything else in a step (the unmasker, the draws from the call's own
generator, the stop rule, NFE) is the loop's code on the call's own rows, so a stepper's output
is ``mdm.sample``'s for that call alone, for any denoiser whose rows do not depend on the rest of
the batch (a relative-position transformer that honours ``attention_mask``: equal up to float
rounding of the padded columns, which a tie within rounding could flip).

Passes that cannot share a batch are answered on their own: a KV cache (its rows are the
call's), classifier-free guidance, and block-causal models (left padding would move the block
grid).  A scheduler may add steppers and drop them between any two passes.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch

from mdm.protocol import block_size_of
from mdm.sampling.forward import Forward
from mdm.sampling.guidance import ModelCall
from mdm.sampling.loop import SampleOutput, _steps, sample
from mdm.sampling.setup import setup_sampling

__all__ = ["Stepper", "answer_together"]

_DEFAULTS = {k: p.default for k, p in inspect.signature(sample).parameters.items() if k != "denoiser"}


class Stepper:
    """``mdm.sample(denoiser, **kwargs)``, one forward pass at a time.

    ``pending`` is the :class:`Forward` the call waits for (None once done), ``tokens [B, N]`` the
    latest tokens of every row (prompt included; masked positions hold ``mask_id``), ``output``
    the :class:`SampleOutput` once done.  Bad arguments raise here, as ``mdm.sample`` would."""

    def __init__(self, denoiser, **kwargs):
        unknown = sorted(set(kwargs) - set(_DEFAULTS))
        if unknown:
            raise TypeError(f"Stepper got unexpected keyword arguments {unknown}")
        s = setup_sampling(denoiser, **{**_DEFAULTS, **kwargs})
        self.mask_id, self.prompt_len = s.mask_id, s.prompt.shape[1]
        batch = s.prompt.shape[0]
        masked = torch.full((batch, s.length), s.mask_id, dtype=torch.long, device=s.device)
        self.tokens = torch.cat([s.prompt, masked], dim=1)
        self.pending: Forward | None = None
        self.output: SampleOutput | None = None
        self._steps = _steps(denoiser, s)
        self._go(None)

    @property
    def done(self) -> bool:
        return self.output is not None

    @property
    def nfe(self) -> torch.Tensor:
        """Forward passes each row has taken so far ``[B]``."""
        return self.output.nfe if self.output is not None else self.pending.nfe

    def advance(self, answer: tuple[torch.Tensor, bool] | None = None) -> None:
        """Answer the pending pass (with its own call when ``answer`` is None) and run the loop to
        its next pass or its end."""
        if self.pending is None:
            raise RuntimeError("this Stepper is done: read .output")
        self._go(self.pending.answer() if answer is None else answer)

    def _go(self, answer) -> None:
        with torch.no_grad():
            try:
                f = next(self._steps) if answer is None else self._steps.send(answer)
            except StopIteration as finished:
                self.pending, self.output = None, finished.value
                self.tokens = finished.value.tokens.clone()
                return
        self.pending = f
        gone = torch.ones(self.tokens.shape[0], dtype=torch.bool, device=self.tokens.device)
        gone[f.out_rows] = False
        self.tokens[gone] = f.out[gone]  # rows that finished (stop rule) hold their final tokens
        self.tokens[f.out_rows] = f.batch


def _alone(f: Forward) -> bool:
    c = f.call
    return c.cache is not None or c.passes != 1 or block_size_of(c.denoiser) is not None


def answer_together(forwards: Sequence[Forward]) -> list[tuple[torch.Tensor, bool]]:
    """Answers to ``forwards`` (in order): one batched denoiser call per denoiser for the passes
    that can share one, the call's own answer for the others (module docstring)."""
    answers: list = [None] * len(forwards)
    groups: dict[int, list[int]] = {}
    for i, f in enumerate(forwards):
        if _alone(f):
            answers[i] = f.answer()
        else:
            groups.setdefault(id(f.call.denoiser), []).append(i)
    for idx in groups.values():
        if len(idx) == 1:
            answers[idx[0]] = forwards[idx[0]].answer()
            continue
        for i, answer in zip(idx, _batched([forwards[i] for i in idx])):
            answers[i] = answer
    return answers


def _batched(fs: list[Forward]) -> list[tuple[torch.Tensor, bool]]:
    """One pass for ``fs`` (same denoiser): rows right-aligned to the widest, padding hidden."""
    first = fs[0].call
    width = max(f.x.shape[1] for f in fs)
    fill = 0 if first.mask_id else 1  # any clean token: hidden from attention, never read back
    xs, attn, where, ts = [], [], [], []
    for f in fs:
        b, n = f.x.shape
        off = width - n
        xs.append(torch.cat([f.x.new_full((b, off), fill), f.x], dim=1))
        a = f.call.attention
        a = f.x.new_ones((b, n), dtype=torch.bool) if a is None else (a if f.rows is None else a[f.rows])
        attn.append(torch.cat([a.new_zeros((b, off)), a], dim=1))
        w = torch.zeros(b, width, dtype=torch.bool, device=f.x.device)
        w[:, f.lo + off:f.hi + off] = f.positions
        where.append(w)
        ts.append(f.t)
    attention = torch.cat(attn)
    call = ModelCall(first.denoiser, vocab_size=first.vocab_size, mask_id=first.mask_id,
                     time_conditioned=first.time_conditioned, output_mask=first.output_mask,
                     attention=None if bool(attention.all()) else attention,
                     prompt_real=attention[:, :0], cfg_scale=0.0)
    t = torch.cat(ts) if first.time_conditioned else None
    raw, _ = call.logits(torch.cat(xs), t, 0, width, torch.cat(where))
    counts = [int(f.positions.sum()) for f in fs]
    return [(part, False) for part in raw.split(counts)]
