"""The sampling cache's bookkeeping as it was on main@1e8e70f, kept so ``benchmarks/sampling.py
--before`` can time it beside the current code in one process (sides alternated).

Only the methods that changed are kept: ``SampleCache.logits`` / ``_pass`` (a row index built and
gathered on every pass, up to three host reads to choose the passes, the output mask built by
zeros + slice assignment) and ``KVCache.write`` (always slicing the cache it returns).
:func:`patched` swaps them in for the duration of a ``with`` block.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from mdm.models.kv_cache import KVCache
from mdm.protocol import call_denoiser
from mdm.sampling.cache import _STALE, SampleCache

__all__ = ["patched"]


def logits(self, x, kw, lo, hi, positions, rows):
    b, n = x.shape
    rows = torch.arange(b) if rows is None else rows.cpu()
    if self.model_block is not None:
        start = int(self.committed[rows].min())
        end = -(-hi // self.model_block) * self.model_block
        raw = self._pass(x, kw, rows, start, end, lo, hi, positions)
        done = lo // self.model_block * self.model_block
        self.committed[rows] = self.committed[rows].clamp(min=done)
        return raw
    if self.window != (lo, hi):
        self.window = (lo, hi)
        self.age.fill_(_STALE)
    full = self.age[rows] >= self.limit
    end = n if self.mode == "prefix" else hi
    if bool(full.all()) or not bool(full.any()):
        start = 0 if bool(full[0]) else lo
        raw = self._pass(x, kw, rows, start, n if start == 0 else end, lo, hi, positions)
    else:
        owner = full[:, None].expand(b, hi - lo)[positions]
        raw = None
        for part, start, stop in ((full, 0, n), (~full, lo, end)):
            idx = part.nonzero().squeeze(1)
            sub_kw = {k: v[idx] for k, v in kw.items()}
            got = self._pass(x[idx], sub_kw, rows[idx], start, stop, lo, hi, positions[idx])
            raw = got.new_empty((owner.numel(), got.shape[1])) if raw is None else raw
            raw[owner if part is full else ~owner] = got
    self.age[rows] = torch.where(full, 1, self.age[rows] + 1)
    return raw


def _pass(self, x, kw, rows, start, end, lo, hi, positions):
    where = torch.zeros(x.shape[0], end - start, dtype=torch.bool, device=x.device)
    where[:, lo - start:hi - start] = positions
    whole = rows.numel() == self.batch and self.kv.batch in (None, self.batch)
    rows = rows.to(x.device)
    kv = self.kv if whole else self.kv.select(rows)
    raw = call_denoiser(self.denoiser, x[:, start:end], None, kw.get("t"), output_mask=where,
                        time_conditioned="t" in kw, cache=kv, start=start)
    if not whole:
        self.kv.put(rows, kv, self.batch)
    return raw


def write(self, layer, start, kv_len, k, v):
    if self.keys[layer] is None:
        shape = (k.shape[0], k.shape[1], self.length, k.shape[3])
        self.keys[layer] = k.new_zeros(shape)
        self.values[layer] = v.new_zeros(shape)
    end = start + k.shape[2]
    keys, values = self.keys[layer], self.values[layer]
    keys[:, :, start:end] = k
    values[:, :, start:end] = v
    return keys[:, :, :kv_len], values[:, :, :kv_len]


@contextmanager
def patched():
    """Run the ``with`` block with main@1e8e70f's cache methods."""
    saved = SampleCache.logits, SampleCache._pass, KVCache.write
    SampleCache.logits, SampleCache._pass, KVCache.write = logits, _pass, write
    try:
        yield
    finally:
        SampleCache.logits, SampleCache._pass, KVCache.write = saved
