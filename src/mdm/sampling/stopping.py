"""Early stopping: a sequence is done once a stop sequence is fully unmasked and every position
before it is clean (the EB-sampler paper's rule for counting NFE, Ben-Hamu et al., arXiv
2505.24857); everything after the stop sequence is then filled with a pad token."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mdm.errors import SamplingError

__all__ = ["StopRule", "pad_after"]


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _as_sequences(stop) -> list[list[int]]:
    """int -> one 1-token sequence; flat list / 1-D tensor -> one sequence; nested / 2-D -> several."""
    if isinstance(stop, torch.Tensor):
        if stop.is_floating_point() or stop.dtype == torch.bool or stop.dim() not in (1, 2):
            raise SamplingError(f"stop as a tensor must be a 1-D or 2-D integer tensor, got {stop.dtype} "
                                f"of shape {tuple(stop.shape)}")
        stop = stop.tolist()
    if _is_int(stop):
        return [[stop]]
    if isinstance(stop, (list, tuple)) and stop and all(_is_int(v) for v in stop):
        return [list(stop)]
    if isinstance(stop, (list, tuple)) and stop:
        seqs = []
        for s in stop:
            if isinstance(s, torch.Tensor):
                s = s.tolist()
            if _is_int(s):
                s = [s]
            if not isinstance(s, (list, tuple)) or not s or not all(_is_int(v) for v in s):
                break
            seqs.append(list(s))
        else:
            return seqs
    raise SamplingError(
        f"stop must be a token id, a sequence of ids, or a list of such sequences, got {stop!r}"
    )


@dataclass(frozen=True)
class StopRule:
    """Stop sequences as tensors on the sampling device, and the pad token (``None``: fill with the
    last token of the stop sequence that matched)."""

    sequences: tuple[torch.Tensor, ...]
    pad_id: int | None

    @classmethod
    def parse(cls, stop, *, vocab_size: int, mask_id: int, pad_id: int | None, device) -> StopRule:
        seqs = _as_sequences(stop)
        for s in seqs:
            bad = [v for v in s if not 0 <= v < vocab_size or v == mask_id]
            if bad:
                raise SamplingError(
                    f"stop sequence {s} holds ids {bad} that are outside [0, {vocab_size}) or the mask "
                    f"token {mask_id}: stop sequences must be real tokens"
                )
        return cls(tuple(torch.tensor(s, dtype=torch.long, device=device) for s in seqs), pad_id)

    def find(self, x: torch.Tensor, start: int, mask_id: int):
        """Which rows of ``x [b, N]`` are done, where their stop sequence ends, what to pad with.

        Only stop sequences lying entirely in the generated region ``x[:, start:]`` count.  Returns
        ``(done [b] bool, end [b] long, fill [b] long)``: ``end`` is the index just past the
        earliest qualifying stop sequence (``N + 1`` when none).
        """
        n = x.shape[1]
        masked = x == mask_id
        first_masked = torch.where(masked.any(dim=1), masked.to(torch.uint8).argmax(dim=1), n)
        no_stop = n + 1
        end = torch.full_like(first_masked, no_stop)
        fill = torch.zeros_like(first_masked)
        for seq in self.sequences:
            m = seq.numel()
            if n - start < m:
                continue
            match = (x[:, start:].unfold(1, m, 1) == seq).all(dim=-1)  # [b, n - start - m + 1]
            ends = torch.arange(start + m, n + 1, device=x.device)
            ok = match & (ends <= first_masked.unsqueeze(1))  # clean up to the stop sequence's end
            e = torch.where(ok, ends, no_stop).amin(dim=1)
            better = e < end
            end = torch.where(better, e, end)
            fill = torch.where(better, seq[-1], fill)
        if self.pad_id is not None:
            fill = torch.full_like(fill, self.pad_id)
        return end <= n, end, fill


def pad_after(x: torch.Tensor, end: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """Write ``fill[r]`` at every position ``>= end[r]`` of ``x [b, N]`` in place; returns that
    mask ``[b, N]``."""
    after = torch.arange(x.shape[1], device=x.device) >= end.unsqueeze(1)
    x.copy_(torch.where(after, fill.unsqueeze(1), x))
    return after
