"""Accuracy on a task with a verifier: decode the prompts with one unmasker, check every answer.

A *verified task dataset* (Sudoku, arithmetic, the copy and planted tasks of :mod:`mdm.tasks`) has
``prompts() -> LongTensor [n, P]``, ``answer_len`` and ``verify(tokens [n, P + answer_len]) ->
BoolTensor [n]``.  :func:`decode_verified` returns each item's correctness and NFE, so callers can
pair two samplers (or two models) on the same items.

The measurement behind every accuracy-vs-NFE sweep: greedy values (temperature 0), the task's
verifier, and NFE as DESIGN.md counts it (forward passes actually run, per sequence).  A second
count, ``counted_nfe``, keeps only the passes that revealed at least one of a chosen set of
positions: for Sudoku the blank cells, so that a pass spent copying a clue or a row separator is not
counted (Ben-Hamu et al., arXiv 2505.24857, count against the positions that need solving; PAPERS.md
sec. 2: "counting NFE against the full padded length inflates speed-ups").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mdm.sampling import Unmasker, sample

__all__ = ["Decoded", "decode_verified", "passes_revealing"]


@dataclass(frozen=True)
class Decoded:
    """``correct [n]`` (bool), ``nfe [n]`` and, when asked, ``counted_nfe [n]`` (float64)."""

    correct: torch.Tensor
    nfe: torch.Tensor
    counted_nfe: torch.Tensor | None = None


def passes_revealing(reveal_step: torch.Tensor, counted: torch.Tensor) -> torch.Tensor:
    """Per row, how many distinct steps revealed at least one ``counted`` position.

    ``reveal_step [B, N]``: the step each position got its value (negative: prompt or never
    revealed, :class:`mdm.sampling.trace.Trace`); ``counted [B, N]`` bool.  Returns float64 ``[B]``.
    """
    steps = torch.where(counted & (reveal_step >= 0), reveal_step + 1, 0)  # bin 0: not counted
    hit = torch.zeros(steps.shape[0], int(steps.max()) + 1 if steps.numel() else 1, dtype=torch.bool)
    hit.scatter_(1, steps, True)
    return hit[:, 1:].sum(dim=1).double()


@torch.no_grad()
def decode_verified(model, dataset, unmasker: Unmasker, *, n: int | None = None, batch_size: int = 256,
                    block_size: int | None = None, stop: int | None = None, pad_id: int | None = None,
                    seed: int | None = 0, counted: torch.Tensor | None = None) -> Decoded:
    """Decode the first ``n`` prompts of ``dataset`` (all when ``None``) in batches of ``batch_size``,
    the batch starting at item ``i`` with seed ``seed + i`` (``seed=None``: unseeded);
    ``stop``/``pad_id``: the stop rule (DESIGN.md).  ``counted [n, answer_len]`` (bool): also count
    the passes that revealed at least one of those answer positions."""
    device = next(model.parameters()).device if isinstance(model, torch.nn.Module) else torch.device("cpu")
    prompts = dataset.prompts()[:n]
    correct, nfe, kept = [], [], []
    for start in range(0, len(prompts), batch_size):
        out = sample(model, prompt=prompts[start:start + batch_size].to(device), length=dataset.answer_len,
                     unmasker=unmasker, block_size=block_size, temperature=0.0, stop=stop, pad_id=pad_id,
                     seed=None if seed is None else seed + start, trace=counted is not None)
        correct.append(dataset.verify(out.tokens.cpu()))
        nfe.append(out.nfe.cpu().double())
        if counted is not None:
            answer = out.trace.reveal_step[:, out.trace.prompt_len:]
            kept.append(passes_revealing(answer, counted[start:start + len(answer)]))
    return Decoded(torch.cat(correct), torch.cat(nfe), torch.cat(kept) if counted is not None else None)
