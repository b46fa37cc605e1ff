"""The sampling loop: one engine for every unmasker, on exact oracles, trained models and HF LMs.

Each step, for the rows still running:

1. the unmasker may ``plan`` a model-free choice; rows that reveal nothing skip the forward;
2. otherwise the denoiser runs on the active rows and the unmasker ``select``\\ s positions from
   the sampling distribution at the current block (the *window* of columns the step can touch);
3. values for the chosen positions are drawn from that same distribution;
4. rows that are done (nothing masked, or a stop sequence found) leave the batch, so they cost no
   further NFE and the forward pass shrinks.

Logits are computed (or kept) only at the eligible positions, so per step there is the forward
pass, one softmax over those positions and a few ``[b, w]`` operations; the host waits for the
device only where a shape or a decision depends on data (the eligible positions, a model-free
plan, adaptive step counts, stop checks).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from mdm.errors import SamplingError
from mdm.protocol import (
    Denoiser,
    model_time,
)
from mdm.sampling.blocks import Blocks, model_length
from mdm.sampling.distribution import Distribution
from mdm.sampling.forward import Forward
from mdm.sampling.guidance import ModelCall
from mdm.sampling.remask import Remasker
from mdm.sampling.setup import SamplingSetup, setup_sampling
from mdm.sampling.stopping import pad_after
from mdm.sampling.trace import PROMPT, UNREVEALED, Trace
from mdm.sampling.unmaskers import StepState, Unmasker

__all__ = ["SampleOutput", "sample"]


@dataclass
class SampleOutput:
    """``tokens [B, P+length]`` (prompt included), ``nfe [B]`` forward passes per sequence,
    ``trace`` (a :class:`~mdm.sampling.trace.Trace` when ``trace=True``) and ``prompt_mask``
    (``[B, P]``, False at left padding; None when no prompt was padded)."""

    tokens: torch.Tensor
    nfe: torch.Tensor
    trace: Trace | None = None
    prompt_mask: torch.Tensor | None = None  # [B, P] when prompts were left-padded (False = pad)


def _distribution(s: SamplingSetup, raw: torch.Tensor, owned: bool, where=None) -> Distribution:
    return Distribution.prepare(raw, mask_id=s.mask_id, temperature=s.temperature, top_p=s.top_p, owned=owned,
                                where=where)


def _times(s: SamplingSetup, denoiser, x: torch.Tensor) -> torch.Tensor | None:
    """``t`` for a time-conditioned denoiser: the time at which its training schedule masks the
    fraction of the generated region still masked (:func:`mdm.protocol.model_time`)."""
    if not s.time_conditioned:
        return None
    p = s.prompt.shape[1]
    return model_time(denoiser, (x[:, p:] == s.mask_id).double().mean(dim=1))


def _window(s: SamplingSetup, x: torch.Tensor, step: int) -> tuple[int, int, torch.Tensor, int, int]:
    """Columns ``[lo, hi)`` this step may touch, the eligible positions ``[b, hi - lo]``, the
    step index within the block and the block's width.  Budgeted unmaskers move block by block
    in lockstep; others move each row to its next block once the current one is fully revealed."""
    p, blocks = s.prompt.shape[1], s.blocks
    if s.block_steps is not None:
        block, local = Blocks.at_step(s.block_steps, step)
        lo, hi = blocks.span(block)
        return lo, hi, x[:, lo:hi] == s.mask_id, local, hi - lo
    masked = x[:, p:] == s.mask_id
    if blocks.count == 1:
        return p, x.shape[1], masked, step, blocks.size
    row_block = blocks.index(masked.to(torch.uint8).argmax(dim=1))  # block of the first masked position
    first, last = torch.stack([row_block.min(), row_block.max()]).tolist()
    lo, hi = blocks.span(first)[0], blocks.span(last)[1]
    col_block = blocks.index(torch.arange(lo - p, hi - p, device=x.device))
    return lo, hi, masked[:, lo - p:hi - p] & (col_block == row_block.unsqueeze(1)), step, blocks.size


def _finished(s: SamplingSetup, x: torch.Tensor, eligible: torch.Tensor, reveal: torch.Tensor,
              adaptive: bool):
    """``(done, stopped, end, fill)`` after a step; ``done`` is None when no row is done (one host
    sync).  Rows are done when nothing is masked or a stop sequence qualifies (see
    :class:`StopRule`).  Adaptive unmaskers must reveal something in every row that can."""
    p = s.prompt.shape[1]
    done = ~(x[:, p:] == s.mask_id).any(dim=1)
    stopped = end = fill = None
    if s.stop is not None:
        stopped, end, fill = s.stop.find(x, p, s.mask_id)
        done = done | stopped
    flags = [done.any()]
    if adaptive:
        flags.append((eligible.any(dim=1) & ~reveal.any(dim=1)).any())
    any_done, *stuck = torch.stack(flags).tolist()
    if any(stuck):
        raise SamplingError(
            f"{s.unmasker!r} revealed nothing in a row that still has masked positions; an unmasker "
            "without a step budget must reveal at least one position per step"
        )
    return (done if any_done else None), stopped, end, fill


class _Recorder:
    """Builds the :class:`Trace`; its per-row tensors follow the batch as rows leave it."""

    def __init__(self, x: torch.Tensor, prompt_len: int, mask_id: int):
        b, n = x.shape
        self.reveal_step = torch.full((b, n), UNREVEALED, dtype=torch.long, device=x.device)
        self.reveal_step[:, :prompt_len] = PROMPT
        self.reveal_step[:, prompt_len:].masked_fill_(x[:, prompt_len:] != mask_id, PROMPT)  # template
        self.out_reveal_step = self.reveal_step.clone()
        self.values = torch.empty_like(x)
        self.padded = torch.zeros(b, n, dtype=torch.bool, device=x.device)
        self.stop_step = torch.full((b,), -1, dtype=torch.long, device=x.device)

    def reveal(self, lo: int, hi: int, reveal: torch.Tensor, step: int) -> None:
        self.reveal_step[:, lo:hi].masked_fill_(reveal, step)

    def finish(self, idx, rows, values, padded, stopped, step: int) -> None:
        """Rows ``idx`` of the batch (output rows ``rows``) leave after ``step``."""
        self.out_reveal_step[rows] = self.reveal_step[idx]
        self.values[rows] = values
        if padded is not None:
            self.padded[rows] = padded
            self.stop_step[rows] = torch.where(stopped, step, -1)

    def keep(self, idx) -> None:
        self.reveal_step = self.reveal_step[idx]

    def trace(self, tokens: torch.Tensor, num_steps: int, s: SamplingSetup) -> Trace:
        return Trace(
            reveal_step=self.out_reveal_step.cpu(), values=self.values.cpu(), tokens=tokens.cpu(),
            padded=self.padded.cpu(), stop_step=self.stop_step.cpu(), num_steps=num_steps,
            prompt_len=s.prompt.shape[1], mask_id=s.mask_id,
        )


def _model_call(denoiser, s: SamplingSetup) -> ModelCall:
    batch, p = s.prompt.shape
    attention = None
    real = torch.ones(batch, p, dtype=torch.bool, device=s.device)
    if s.prompt_mask is not None:
        real = s.prompt_mask
        attention = torch.cat([real, torch.ones(batch, s.length, dtype=torch.bool, device=s.device)], dim=1)
    return ModelCall(denoiser, vocab_size=s.vocab_size, mask_id=s.mask_id,
                     time_conditioned=s.time_conditioned, output_mask=s.output_mask, attention=attention,
                     prompt_real=real, cfg_scale=s.cfg_scale, cache=s.cache,
                     width=model_length(denoiser, p + s.length))


def _run(denoiser, s: SamplingSetup) -> SampleOutput:
    """Run :func:`_steps` to the end, answering each forward pass with the call's own logits."""
    steps = _steps(denoiser, s)
    try:
        f = next(steps)
        while True:
            f = steps.send(f.answer())
    except StopIteration as finished:
        return finished.value


def _steps(denoiser, s: SamplingSetup) -> Generator[Forward, tuple[torch.Tensor, bool], SampleOutput]:
    """The sampling loop; it yields each forward pass it needs and is sent ``(raw logits, owned)``."""
    prompt, mask_id, gen = s.prompt, s.mask_id, s.generator
    batch, p = prompt.shape
    start = s.init
    if start is None:
        start = torch.full((batch, s.length), mask_id, dtype=torch.long, device=s.device)
    x = torch.cat([prompt, start], dim=1)
    call = _model_call(denoiser, s)
    remasker = Remasker(s.unmasker, x) if hasattr(s.unmasker, "remask") else None
    out = torch.empty_like(x)
    nfe = torch.zeros(batch, dtype=torch.long, device=s.device)
    rows = torch.arange(batch, device=s.device)  # output row of each active row
    rec = _Recorder(x, p, mask_id) if s.trace else None
    budget = None if s.block_steps is None else sum(s.block_steps)

    step = 0
    while rows.numel() and (budget is None or step < budget):
        lo, hi, eligible, local, width = _window(s, x, step)
        if s.interior and budget is not None and not bool(eligible.any()):
            step += 1  # a budgeted step over template positions that are all fixed: no pass
            continue
        state = StepState(local, width, s.blocks.count, eligible, gen, lo=lo, prompt_len=p, length=s.length)
        reveal = s.unmasker.plan(state)
        if reveal is None:  # choose from the model's distribution at the eligible positions
            raw, owned = yield Forward(call, x, _times(s, denoiser, x), lo, hi, eligible, None,
                                       x, rows, out, nfe)
            nfe[rows] += call.passes
            state.dist = _distribution(s, raw, owned, (step, lo, eligible))
            reveal = s.unmasker.select(state) & eligible
            x[:, lo:hi].masked_scatter_(reveal, state.dist[reveal[eligible]].draw(gen))
        else:  # a model-free choice: forward only the rows that reveal something, only there
            reveal = reveal & eligible
            remask = remasker.choose(state, lo, hi) if remasker is not None else None  # from z_t
            fwd = reveal.any(dim=1).nonzero().squeeze(1)
            if fwd.numel():
                whole = fwd.numel() == x.shape[0]
                xf = x if whole else x[fwd]
                raw, owned = yield Forward(call, xf, _times(s, denoiser, xf), lo, hi, reveal[fwd],
                                           None if whole else fwd, x, rows, out, nfe)
                nfe[rows[fwd]] += call.passes
                dist = _distribution(s, raw, owned, (step, lo, reveal[fwd]))
                values = dist.draw(gen)
                x[:, lo:hi].masked_scatter_(reveal, values)
                if remasker is not None:
                    remasker.record(lo, hi, reveal, dist, values)
            if remasker is not None:
                remasker.apply(x, lo, hi, remask, mask_id)
        if rec is not None:
            rec.reveal(lo, hi, reveal, step)

        if s.stop is not None or budget is None:  # rows may finish at different steps
            done, stopped, end, fill = _finished(s, x, eligible, reveal, adaptive=budget is None)
            if done is not None:
                idx, keep = done.nonzero().squeeze(1), (~done).nonzero().squeeze(1)
                values = x[idx]
                padded = None
                if stopped is not None:
                    padded, stopped = pad_after(x, end, fill)[idx], stopped[idx]
                out[rows[idx]] = x[idx]
                if rec is not None:
                    rec.finish(idx, rows[idx], values, padded, stopped, step)
                    rec.keep(keep)
                x, rows = x[keep], rows[keep]
                call.keep(keep)
                if remasker is not None:
                    remasker.keep(keep)
        step += 1

    if rows.numel():  # a budgeted unmasker ran all its steps
        if (x[:, p:] == mask_id).any():
            raise SamplingError(f"{s.unmasker!r} left positions masked after its last step")
        out[rows] = x
        if rec is not None:
            rec.finish(slice(None), rows, x, None, None, step - 1)
    return SampleOutput(out, nfe, rec.trace(out, step, s) if rec is not None else None, s.prompt_mask)


def sample(
    denoiser: Denoiser,
    *,
    batch_size: int = 1,
    length: int | None = None,
    prompt: torch.Tensor | Sequence[torch.Tensor] | None = None,
    unmasker: Unmasker | None = None,
    block_size: int | None = None,
    temperature: float = 0.0,
    top_p: float = 1.0,
    stop: int | Sequence[int] | Sequence[Sequence[int]] | None = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    trace: bool = False,
    pad_id: int | None = None,
    prompt_mask: torch.Tensor | None = None,
    cfg_scale: float = 0.0,
    cache: Literal["prefix", "dual"] | None = None,
    cache_refresh: int | None = None,
    template: torch.Tensor | None = None,
) -> SampleOutput:
    """Sample ``batch_size`` sequences of ``length`` tokens after ``prompt`` from an MDM.

    * ``denoiser`` -- any Denoiser (``mdm.protocol``): an exact oracle, a trained model (call
      ``.eval()`` first: sampling runs under ``no_grad`` but leaves dropout to you), an HF adapter.
    * ``prompt`` -- LongTensor ``[P]`` (shared) or ``[B, P]``; never modified, never masked.  A
      ``[B, P]`` prompt sets the batch size when ``batch_size`` is left at 1.  A list of 1-D
      prompts of different lengths is left-padded (with ``pad_id``, else 0) into ``[B, P]``.
    * ``template`` -- infilling: LongTensor ``[L]`` (shared) or ``[B, L]``; ``denoiser.mask_id``
      marks the positions to generate, every other position is fixed and never changed (no
      ``length``/``prompt``/``prompt_mask`` with it).  The leading columns fixed in every row act
      as the prompt; ``length`` and ``block_size`` then count from there.  Fixed positions inside
      the generated region start out revealed: a time-conditioned denoiser's ``t`` counts them as
      unmasked, and a budgeted unmasker's step that finds nothing eligible in any row is skipped
      (no NFE), so ``Scheduled``/``TopK`` reveal their counts among the free positions and finish
      early.  ``stop``, ``cfg_scale`` and remasking unmaskers would touch or ignore those fixed
      positions and are refused with them.  ``out.tokens`` has the template's shape.
    * ``prompt_mask`` -- bool ``[B, P]``: False at left padding of a ``[B, P]`` prompt
      (:mod:`mdm.sampling.prompts`); the denoiser gets it as ``attention_mask``, so each row comes
      out as it would alone for a denoiser that honours it.  ``out.prompt_mask`` returns it.
    * ``cfg_scale`` -- classifier-free guidance ``s >= 0`` (:mod:`mdm.sampling.guidance`):
      ``uncond + (1 + s)(cond - uncond)``, the unconditional pass with the prompt masked; costs
      two forward passes per step (counted in NFE); 0 = off.
    * ``unmasker`` -- which positions to reveal per step (``mdm.sampling``: :class:`Ancestral`,
      :class:`Scheduled`, :class:`TopK`, :class:`EntropyBounded`, :class:`Threshold`, and
      :class:`ReMDM`, which may also send clean generated tokens back to the mask); default
      ``TopK(k=1, proxy="confidence")``: one position per step, the most confident first.  A spec
      string (``"eb:gamma=0.1"``) is not taken here: build it with :func:`mdm.sampling.from_spec`.
    * ``block_size`` -- semi-autoregressive blocks, left to right (must divide ``length``);
      budgeted unmaskers split their steps evenly over the blocks.  On a block-causal model it
      must divide the model's block size, and the blocks follow the model's grid: any ``length``
      and prompt length (:mod:`mdm.sampling.blocks`).
    * ``temperature`` / ``top_p`` -- values are drawn from softmax(logits / temperature) within the
      top-p nucleus with float64 Gumbel noise (argmax at temperature 0); the mask token never.
    * ``stop`` -- a token id, a sequence of ids, or a list of sequences: a row is done once one of
      them is fully revealed with every position before it clean; everything after it becomes
      the pad token and the row costs no further NFE.
    * ``pad_id`` -- the pad token; default ``denoiser.pad_id`` if it exists, else the last token of
      the stop sequence that matched.
    * ``seed`` / ``generator`` -- the only sources of randomness (one of them; neither draws a seed
      from torch's global RNG).
    * ``trace`` -- also return a :class:`~mdm.sampling.trace.Trace` of which position was revealed
      at which step.
    * ``cache`` / ``cache_refresh`` -- reuse keys/values across steps (:mod:`mdm.sampling.cache`):
      ``"prefix"`` or ``"dual"`` (Fast-dLLM; approximate on a bidirectional model, refreshed at
      every block and every ``cache_refresh`` passes); on a block-causal model (block diffusion)
      ``"prefix"`` is exact.

    Time-conditioned denoisers get ``t = denoiser.schedule.inverse(1 - f)``, ``f`` the fraction of
    the generated region still masked: the time at which training saw that much masking
    (``Linear()`` when the denoiser carries no schedule).  Returns a :class:`SampleOutput` with
    ``tokens [B, P+length]`` (prompt included), ``nfe [B]`` (forward passes that included each
    sequence) and ``trace``.
    """
    s = setup_sampling(denoiser, batch_size=batch_size, length=length, prompt=prompt, unmasker=unmasker,
               block_size=block_size, temperature=temperature, top_p=top_p, stop=stop, seed=seed,
               generator=generator, trace=trace, pad_id=pad_id, prompt_mask=prompt_mask, cfg_scale=cfg_scale,
               cache=cache, cache_refresh=cache_refresh, template=template)
    with torch.no_grad():
        return _run(denoiser, s)
