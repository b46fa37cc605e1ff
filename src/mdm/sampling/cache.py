"""KV caching for :func:`mdm.sample` (``cache="prefix" | "dual"``).

Two kinds of denoiser, one mechanism (:class:`~mdm.models.kv_cache.KVCache`: a forward pass over a
span of positions writes that span's keys/values and reads the rest from the cache):

* **Bidirectional models -- approximate** (Fast-dLLM, Wu et al., arXiv 2505.22618).  A *refresh* is
  a full forward pass that also fills the cache.  Between refreshes, ``"prefix"`` recomputes the
  current block and everything after it, reading the prompt and the finished blocks from the
  cache; ``"dual"`` recomputes only the current block and also reads the masked suffix from the
  cache.  The cache is refreshed whenever the sampling window (the current block) moves and, with
  ``cache_refresh=k``, every ``k`` forward passes; ``cache_refresh=1`` is the uncached run.  The
  reused keys/values are stale -- computed before the latest reveals -- which is the approximation.
* **Block-causal models -- exact** (block diffusion, BD3-LM, Arriola et al., arXiv 2503.09573).
  Keys/values of a block depend only on that block and earlier ones, so once a model block is
  fully clean its keys/values are final: each pass recomputes only from the first uncommitted
  model block to the end of the model block holding the sampling window, and commits the blocks
  that became clean.  The
  tokens equal the uncached run's (up to float rounding) and the law is the same.  Any prompt and
  generation length: the last model block is completed with masked positions
  (:mod:`mdm.sampling.blocks`).

Refreshes and commits are per row: a pass over some rows (a model-free step forwards only the rows
that reveal something) refreshes the rows that need it and reuses the others' caches.  Rows leaving
the batch drop their cache rows (:meth:`SampleCache.keep`).  With an
adaptive unmasker and several blocks the window spans the rows' blocks, so under an approximate
cache a row's output may depend on the rest of its batch; budgeted unmaskers move in lockstep.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mdm.errors import SamplingError
from mdm.protocol import block_size_of, call_denoiser, capability
from mdm.sampling.stopping import _is_int

__all__ = ["CACHE_MODES", "SampleCache", "make_cache"]

CACHE_MODES = ("prefix", "dual")
_STALE = 2**62  # the age of a row whose cache must be refreshed before use


def make_cache(denoiser, mode, refresh, *, total_len: int, batch: int):
    """Validate ``cache`` / ``cache_refresh`` of a :func:`mdm.sample` call; a :class:`SampleCache`
    or None.  ``total_len``: the width the denoiser sees (:func:`mdm.sampling.blocks.model_length`)."""
    if mode is None:
        if refresh is not None:
            raise SamplingError("cache_refresh needs cache='prefix' or 'dual'")
        return None
    if mode not in CACHE_MODES:
        raise SamplingError(f"cache must be None, 'prefix' or 'dual', got {mode!r}")
    if not capability(denoiser, "supports_kv_cache"):
        raise SamplingError(
            f"cache={mode!r} needs a denoiser with a KV cache (mdm.models.transformer.TransformerDenoiser); "
            f"{type(denoiser).__name__} has none: use cache=None")
    if refresh is not None and (not _is_int(refresh) or refresh < 1):
        raise SamplingError(
            f"cache_refresh must be None (block boundaries only) or an int >= 1, got {refresh!r}")
    exact = block_size_of(denoiser) is not None
    if exact and mode != "prefix":
        raise SamplingError("a block-causal model never reads later blocks: use cache='prefix' (it is exact)")
    return SampleCache(denoiser, mode, refresh, total_len, exact, batch)


class SampleCache:
    """The cache state of one :func:`mdm.sample` call (see the module docstring).  State is per
    row, so a row's passes do not depend on which other rows run with it."""

    def __init__(self, denoiser, mode: str, refresh: int | None, total_len: int, exact: bool, batch: int):
        self.denoiser, self.mode, self.total_len, self.batch = denoiser, mode, total_len, batch
        self.model_block = block_size_of(denoiser) if exact else None
        self.kv = denoiser.new_cache(total_len)
        self.committed = torch.zeros(batch, dtype=torch.long)  # exact: [0, committed) is final
        self.limit = refresh if refresh is not None else _STALE
        self.age = torch.full((batch,), _STALE, dtype=torch.long)  # passes since the row's refresh
        self.window: tuple[int, int] | None = None

    def logits(self, x: torch.Tensor, kw: dict, lo: int, hi: int, positions: torch.Tensor,
               rows: torch.Tensor | None) -> torch.Tensor:
        """Raw logits ``[n, V]`` at ``positions [b, hi - lo]`` of the window (row-major), for the
        batch's rows (``rows=None``) or the subset ``rows`` that ``x`` holds.

        The per-row state lives on the CPU; a pass over the whole batch reads and updates it in
        place (no row index), and one host read decides between one pass and two."""
        b, n = x.shape
        if rows is not None:
            rows = rows.cpu()
        if self.model_block is not None:
            committed = self.committed if rows is None else self.committed[rows]
            start = int(committed.min())
            end = -(-hi // self.model_block) * self.model_block  # the model block is bidirectional; x
            # holds whole model blocks (mdm.sampling.blocks), so a partial last one is completed
            raw = self._pass(x, kw, rows, start, end, lo, hi, positions)
            done = lo // self.model_block * self.model_block
            if rows is None:
                self.committed.clamp_(min=done)
            else:
                self.committed[rows] = committed.clamp(min=done)
            return raw
        if self.window != (lo, hi):  # a new block: every row refreshes on its next pass
            self.window = (lo, hi)
            self.age.fill_(_STALE)
        age = self.age if rows is None else self.age[rows]
        full = age >= self.limit
        n_full = int(full.sum())
        end = n if self.mode == "prefix" else hi
        if n_full in (0, b):  # every row refreshes, or none does: one pass
            start = 0 if n_full else lo
            raw = self._pass(x, kw, rows, start, n if start == 0 else end, lo, hi, positions)
        else:  # some rows refresh, the others reuse their cache: two passes, logits merged
            owner = full[:, None].expand(b, hi - lo)[positions]
            every = torch.arange(b) if rows is None else rows
            raw = None
            for part, start, stop in ((full, 0, n), (~full, lo, end)):
                idx = part.nonzero().squeeze(1)
                sub_kw = {k: v[idx] for k, v in kw.items()}  # t of the rows in this part
                got = self._pass(x[idx], sub_kw, every[idx], start, stop, lo, hi, positions[idx])
                raw = got.new_empty((owner.numel(), got.shape[1])) if raw is None else raw
                raw[owner if part is full else ~owner] = got
        aged = age.add(1).masked_fill_(full, 1)
        if rows is None:
            self.age = aged
        else:
            self.age[rows] = aged
        return raw

    def _pass(self, x, kw, rows, start, end, lo, hi, positions):
        """One forward pass of ``x`` (the cache rows ``rows``; None: the whole batch) over
        positions ``[start, end)``."""
        if (start, end) == (lo, hi):  # the window itself (a dual-cache pass): no padding
            where = positions
        else:
            where = F.pad(positions, (lo - start, end - hi))
        whole = rows is None or (rows.numel() == self.batch and self.kv.batch in (None, self.batch))
        if not whole:
            rows = rows.to(x.device)
        kv = self.kv if whole else self.kv.select(rows)
        raw = call_denoiser(self.denoiser, x[:, start:end], None, kw.get("t"), output_mask=where,
                            time_conditioned="t" in kw, cache=kv, start=start)
        if not whole:
            self.kv.put(rows, kv, self.batch)
        return raw

    def keep(self, idx: torch.Tensor) -> None:
        """Rows ``idx`` stay in the batch; the others' cache rows go."""
        if self.kv.batch is not None:
            self.kv = self.kv.select(idx)
        cpu = idx.cpu()
        self.committed, self.age, self.batch = self.committed[cpu], self.age[cpu], idx.numel()
