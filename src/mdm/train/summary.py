"""The lines a finished (or interrupted) training prints: ``mdm train`` and ``python -m mdm.train``
(the torchrun entry point) print the same ones."""

from __future__ import annotations

__all__ = ["summary_lines"]


def summary_lines(res, objective) -> list[str]:
    """Status, steps, tokens, time and the final validation figure of a :class:`TrainResult` (as
    the training ``objective`` words it: :meth:`~mdm.train.objective.Objective.val_summary`), then
    where the checkpoint is and how to sample it."""
    status = "interrupted" if res.interrupted else "done"
    line = f"{status}: {res.steps} steps, {res.tokens_seen:,} tokens in {res.wall_time:.0f}s"
    if res.final_val:
        line += "; validation " + objective.val_summary(res.final_val)
    return [line, f"checkpoint: {res.checkpoint}   sample with: mdm sample {res.checkpoint}"]
