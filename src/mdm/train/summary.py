"""The lines a finished (or interrupted) training prints: ``mdm train`` and ``python -m mdm.train``
(the torchrun entry point) print the same ones."""

from __future__ import annotations

__all__ = ["summary_lines"]


def summary_lines(res) -> list[str]:
    """Status, steps, tokens, time and final validation figure of a :class:`TrainResult`, then where
    the checkpoint is and how to sample it."""
    status = "interrupted" if res.interrupted else "done"
    line = f"{status}: {res.steps} steps, {res.tokens_seen:,} tokens in {res.wall_time:.0f}s"
    val = res.final_val or {}
    if "val_bits_per_char" in val:
        line += f"; validation {val['val_bits_per_char']:.4f} bits/char"
    elif "val_bits_per_token" in val:
        line += f"; validation {val['val_bits_per_token']:.4f} bits/token"
    elif "val_loss_per_position" in val:  # a family with its own loss (AP-MDM)
        line += f"; validation loss {val['val_loss_per_position']:.4f} per position"
    return [line, f"checkpoint: {res.checkpoint}   sample with: mdm sample {res.checkpoint}"]
