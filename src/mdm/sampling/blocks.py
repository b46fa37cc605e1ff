"""The semi-autoregressive sampling blocks of one :func:`mdm.sample` call.

For most denoisers the blocks start at the prompt's end and ``block_size`` must divide ``length``.
A block-causal model (block diffusion, BD3-LM: Arriola et al., arXiv 2503.09573) cuts positions
into its own blocks from position 0, so its sampling blocks follow that grid instead: any prompt
length and any generation length, the first and the last sampling block possibly partial (the
first shares a model block with the prompt's end; the last ends where the generation does).
The model itself still sees whole blocks: :class:`~mdm.sampling.guidance.ModelCall` completes
the last one with masked positions that are never revealed.  For an exact model, a masked
position is marginalised out, so the real positions are drawn from their exact marginal
``p(x^b_real | x^{<b})``; for a trained one, this is a mask pattern it saw in training (it was
trained on whole blocks only, never on a cut one).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mdm.errors import SamplingError
from mdm.protocol import block_size_of
from mdm.sampling.stopping import _is_int

__all__ = ["Blocks", "make_blocks", "model_length"]


def model_length(denoiser, n: int) -> int:
    """The width the denoiser sees for ``n`` positions: ``n`` rounded up to a whole model block
    for a block-causal model (module docstring), ``n`` otherwise."""
    model_block = block_size_of(denoiser)
    return n if model_block is None else -(-n // model_block) * model_block


@dataclass(frozen=True)
class Blocks:
    """Sampling blocks of ``size`` over the generated positions ``[0, length)`` after a prompt of
    ``prompt_len``; generated position ``j`` lies in block ``(j + offset) // size``."""

    prompt_len: int
    length: int
    size: int
    offset: int = 0  # prompt_len % size on a block-causal model's grid, else 0

    @property
    def count(self) -> int:
        return -(-(self.length + self.offset) // self.size)

    def span(self, k: int) -> tuple[int, int]:
        """Columns ``[lo, hi)`` of block ``k``."""
        p, start = self.prompt_len, k * self.size - self.offset
        return p + max(0, start), p + min(self.length, start + self.size)

    def width(self, k: int) -> int:
        lo, hi = self.span(k)
        return hi - lo

    def index(self, j: torch.Tensor) -> torch.Tensor:
        """Block of each generated position ``j`` (a LongTensor)."""
        return (j + self.offset) // self.size

    def steps(self, unmasker) -> tuple[int, ...] | None:
        """Steps of a budgeted unmasker in each block (a partial block may need fewer), or None."""
        per = [unmasker.steps_per_block(self.width(k), self.count) for k in range(self.count)]
        return None if per[0] is None else tuple(per)

    @staticmethod
    def at_step(steps: tuple[int, ...], step: int) -> tuple[int, int]:
        """``(block, step within it)`` of a budgeted run's global ``step``."""
        for k, n in enumerate(steps):
            if step < n:
                return k, step
            step -= n
        raise IndexError(step)


def make_blocks(denoiser, block_size, *, prompt_len: int, length: int) -> Blocks:
    """Validate ``block_size`` (None: one block) for ``denoiser``; the call's :class:`Blocks`."""
    model_block = block_size_of(denoiser)
    if block_size is None:
        block_size = length
    elif not _is_int(block_size) or block_size < 1 or (model_block is None and length % block_size):
        raise SamplingError(
            f"block_size must be an int >= 1 that divides length={length}, got {block_size!r}")
    if model_block is None:
        return Blocks(prompt_len, length, block_size)
    if model_block % block_size:
        raise SamplingError(
            f"block_size={block_size} does not divide the model's block size {model_block}: a block "
            f"diffusion model decodes one of its blocks at a time; pass block_size={model_block} "
            "(or a divisor of it)")
    return Blocks(prompt_len, length, block_size, prompt_len % block_size)
