"""Traces of the denoising: which positions were revealed at which step, as data, a PNG and text.

``mdm.sample(..., trace=True).trace`` is a :class:`Trace`.  :func:`plot_trace` draws position x
step for a few sequences; :func:`render_denoising` returns one text frame per step for a terminal
(the CLI's ``mdm sample --show`` prints them in turn).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["PROMPT", "UNREVEALED", "Trace", "plot_trace", "render_denoising"]

PROMPT = -1  # reveal_step of prompt positions
UNREVEALED = -2  # reveal_step of positions padded before they were revealed


@dataclass
class Trace:
    """What happened in one :func:`mdm.sample` call (all tensors on the CPU).

    * ``reveal_step [B, N]`` -- loop step (from 0) at which each position got its value;
      :data:`PROMPT` for the prompt, :data:`UNREVEALED` for positions padded before being revealed.
    * ``values [B, N]`` -- the value each position got (``mask_id`` where never revealed);
      equals ``tokens`` except where a stop padded over it.
    * ``tokens [B, N]`` -- the final output (``out.tokens``).
    * ``padded [B, N]`` -- positions overwritten by the pad token after a stop.
    * ``stop_step [B]`` -- the step after which the row stopped (-1: it ran to the end).
    * ``num_steps`` -- loop steps run (steps that revealed nothing included); ``prompt_len``;
      ``mask_id``.
    """

    reveal_step: torch.Tensor
    values: torch.Tensor
    tokens: torch.Tensor
    padded: torch.Tensor
    stop_step: torch.Tensor
    num_steps: int
    prompt_len: int
    mask_id: int

    def unmasked(self, step: int) -> torch.Tensor:
        """BoolTensor ``[B, N]``: the positions revealed at ``step``."""
        return self.reveal_step == step

    def counts(self) -> torch.Tensor:
        """LongTensor ``[num_steps, B]``: how many positions each row revealed at each step."""
        steps = self.reveal_step.clamp_min(-1) + 1  # prompt / unrevealed -> bin 0, dropped below
        counts = torch.zeros(self.reveal_step.shape[0], self.num_steps + 1, dtype=torch.long)
        counts.scatter_add_(1, steps, torch.ones_like(steps))
        return counts[:, 1:].T.contiguous()

    def first_half_reveals(self, values, steps_per_block: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per row: ``(reveals of one of values, all reveals)`` in the first half of each block's steps.

        A position counts when revealed at a step whose index within its block (a budgeted unmasker
        runs ``steps_per_block`` loop steps per block) is ``< steps_per_block // 2``; its revealed
        value counts, not a pad the stop rule wrote later.  Prompt positions and positions padded
        before being revealed never count.  The padding regime's mechanism (Chen et al., arXiv
        2509.13866, measured with confidence order): how much end-of-text a schedule reveals first.
        Two LongTensors ``[B]``."""
        step = self.reveal_step
        early = (step >= 0) & (step % steps_per_block < steps_per_block // 2)
        hit = torch.isin(self.values, torch.tensor(list(values), dtype=self.values.dtype))
        return (early & hit).sum(dim=1), early.sum(dim=1)

    def frame(self, step: int) -> torch.Tensor:
        """The tokens after ``step`` (``step = -1``: before the first), mask where still hidden."""
        shown = (self.reveal_step == PROMPT) | ((self.reveal_step >= 0) & (self.reveal_step <= step))
        x = torch.where(shown, self.values, self.mask_id)
        stopped = (self.stop_step >= 0) & (self.stop_step <= step)
        return torch.where(self.padded & stopped.unsqueeze(1), self.tokens, x)

    def active_steps(self, row: int) -> list[int]:
        """Steps at which ``row`` changed (revealed something or stopped)."""
        steps = set(self.reveal_step[row][self.reveal_step[row] >= 0].tolist())
        if int(self.stop_step[row]) >= 0:
            steps.add(int(self.stop_step[row]))
        return sorted(steps)


def plot_trace(trace: Trace, path: str | Path | None = None, *, rows: Sequence[int] = (0,),
               compress: bool = True, sampler: str | None = None):
    """Draw position (x) by step (y, top = first) for each of ``rows``; save a PNG at ``path``.

    Cells: grey = prompt, blue = the position revealed (given its value) at that step, orange =
    padded after the stop.  With ``compress`` only steps at which the row changed are drawn
    (Ancestral with many steps reveals nothing at most of them); the y ticks are the real step
    numbers and each panel says how many of the ``trace.num_steps`` steps that is.  ``sampler`` (e.g.
    ``repr(unmasker)``) names what drew the trace in the title.  Returns the matplotlib Figure.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend alone
    from matplotlib.patches import Patch

    colours = ["white", "#bbbbbb", "#1f5fbf", "#f39c12"]
    cmap = ListedColormap(colours)
    fig = Figure(figsize=(8, 1.0 + 2.2 * len(rows)))
    axes = fig.subplots(len(rows), 1, squeeze=False)
    for ax, row in zip(axes[:, 0], rows):
        steps = trace.active_steps(row) if compress else list(range(trace.num_steps))
        rs = trace.reveal_step[row]
        grid = torch.zeros(max(len(steps), 1), rs.numel(), dtype=torch.long)
        grid[:, rs == PROMPT] = 1
        for i, s in enumerate(steps):
            grid[i, rs == s] = 2
            if int(trace.stop_step[row]) == s:
                grid[i, trace.padded[row]] = 3
        ax.imshow(grid.numpy(), cmap=cmap, vmin=0, vmax=3, aspect="auto", interpolation="nearest")
        ticks = list(range(0, len(steps), max(1, -(-len(steps) // 8))))
        ax.set_yticks(ticks, [str(steps[i]) for i in ticks] if steps else [])
        ax.set_xlabel("position in the sequence (token index)")
        ax.set_ylabel("step (from 0)")
        shown = (f"the {len(steps)} that revealed something are drawn" if compress
                 else "all drawn")
        ax.set_title(f"sequence {row}: {trace.num_steps} steps, {shown}", fontsize=9)
    legend = [Patch(facecolor=colours[1], label="prompt (never masked)"),
              Patch(facecolor=colours[2], label="position revealed at this step"),
              Patch(facecolor=colours[3], label="padding after the stop"),
              Patch(facecolor="white", edgecolor="#888888", label="still masked / revealed at another step")]
    fig.legend(handles=legend, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle("Denoising trace" + (f": {sampler}" if sampler else ""), fontsize=10)
    fig.tight_layout(rect=(0, 0.45 / fig.get_figheight(), 1, 1))
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def render_denoising(trace: Trace, row: int = 0, *, decode: Callable[[int], str] | None = None,
                     sep: str = " ", mask: str = "_", color: bool = False) -> list[str]:
    """Text frames of ``row`` denoising: the all-masked start, then one frame per step at which the
    row changed.  ``decode(id) -> str`` renders a token (default: the id), ``sep`` joins them (use
    ``""`` for character tokenizers), ``mask`` stands for a hidden position; ``color`` highlights
    the tokens revealed in that frame with ANSI codes (bold green; padding dim).
    """
    decode = decode or str

    def show(tokens: list[int], fresh: list[bool], padded: list[bool]) -> str:
        parts = []
        for tok, new, pad in zip(tokens, fresh, padded):
            text = mask if tok == trace.mask_id else decode(tok)
            if color and new:
                text = f"\x1b[{'2' if pad else '1;32'}m{text}\x1b[0m"
            parts.append(text)
        return sep.join(parts)

    frames = []
    prev = trace.frame(-1)[row]
    frames.append(show(prev.tolist(), [False] * prev.numel(), [False] * prev.numel()))
    for s in trace.active_steps(row):
        cur = trace.frame(s)[row]
        frames.append(show(cur.tolist(), (cur != prev).tolist(), trace.padded[row].tolist()))
        prev = cur
    return frames
