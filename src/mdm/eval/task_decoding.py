"""Decode a verified task's prompts with one unmasker: per-item correctness and forward passes.

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
def decode_verified(model, dataset, unmasker: Unmasker, *, n: int, batch_size: int,
                    block_size: int | None = None, stop: int | None = None, pad_id: int | None = None,
                    seed: int = 0, counted: torch.Tensor | None = None) -> Decoded:
    """Decode the first ``n`` prompts of ``dataset`` (a verified task split: ``prompts()``,
    ``answer_len``, ``verify``) in batches of ``batch_size``, batch ``b`` with ``seed + b *
    batch_size``; ``stop``/``pad_id``: the stop rule (DESIGN.md).  ``counted [n, answer_len]``
    (bool): also count the passes that revealed at least one of those answer positions."""
    device = next(model.parameters()).device if isinstance(model, torch.nn.Module) else torch.device("cpu")
    prompts = dataset.prompts()[:n]
    correct, nfe, kept = [], [], []
    for start in range(0, len(prompts), batch_size):
        out = sample(model, prompt=prompts[start:start + batch_size].to(device), length=dataset.answer_len,
                     unmasker=unmasker, block_size=block_size, temperature=0.0, stop=stop, pad_id=pad_id,
                     seed=seed + start, trace=counted is not None)
        correct.append(dataset.verify(out.tokens.cpu()))
        nfe.append(out.nfe.cpu().double())
        if counted is not None:
            answer = out.trace.reveal_step[:, out.trace.prompt_len:]
            kept.append(passes_revealing(answer, counted[start:start + len(answer)]))
    return Decoded(torch.cat(correct), torch.cat(nfe), torch.cat(kept) if counted is not None else None)
