"""Per-layer key/value cache of :class:`~mdm.models.transformer.TransformerDenoiser`.

A :class:`KVCache` holds, for every layer, the rotated keys and the values of ``length`` positions
``[B, H, length, head_dim]``.  A forward pass over a *span* of positions ``[start, start + n)``
(``model(x_span, cache=kv, start=start)``) first writes the span's fresh keys/values into the cache
and then attends over the cache's first ``kv_len`` positions, so the positions outside the span are
read back as they were stored by an earlier pass.  That one mechanism gives

* the approximate caches of Fast-dLLM (Wu et al., arXiv 2505.22618) for bidirectional models:
  a full pass fills the cache; later passes recompute only the current block and what follows
  (prefix cache) or only the current block (dual cache);
* the exact cache of block diffusion (BD3-LM, Arriola et al., arXiv 2503.09573): with block-causal
  attention the keys/values of a clean block never change once it is committed.

Rows that leave the sampling batch take their cache rows with them (:meth:`KVCache.select`).
"""

from __future__ import annotations

import torch

from mdm.errors import TokenError

__all__ = ["KVCache", "check_span"]


class KVCache:
    """Keys/values of ``length`` positions for each of ``n_layers`` layers, allocated on first write
    (so the dtype follows the model's compute dtype, autocast included)."""

    def __init__(self, n_layers: int, length: int):
        self.n_layers, self.length = n_layers, length
        self.keys: list[torch.Tensor | None] = [None] * n_layers
        self.values: list[torch.Tensor | None] = [None] * n_layers

    @property
    def batch(self) -> int | None:
        """Rows held, or None before the first write."""
        return None if self.keys[0] is None else self.keys[0].shape[0]

    def write(self, layer: int, start: int, kv_len: int, k: torch.Tensor, v: torch.Tensor):
        """Store ``k``/``v`` ``[B, H, n, D]`` at positions ``[start, start + n)`` of ``layer`` and
        return the keys/values of positions ``[0, kv_len)``."""
        if self.keys[layer] is None:
            shape = (k.shape[0], k.shape[1], self.length, k.shape[3])
            self.keys[layer] = k.new_zeros(shape)
            self.values[layer] = v.new_zeros(shape)
        end = start + k.shape[2]
        keys, values = self.keys[layer], self.values[layer]
        keys[:, :, start:end] = k
        values[:, :, start:end] = v
        if kv_len == self.length:  # a bidirectional model reads every position: no slicing
            return keys, values
        return keys[:, :, :kv_len], values[:, :, :kv_len]

    def put(self, rows: torch.Tensor, other: KVCache, batch: int) -> None:
        """Copy ``other`` (a cache of ``len(rows)`` rows) into rows ``rows`` of this cache of
        ``batch`` rows (allocated here if it is still empty)."""
        for i in range(self.n_layers):
            k, v = other.keys[i], other.values[i]
            if self.keys[i] is None:
                self.keys[i] = k.new_zeros((batch, *k.shape[1:]))
                self.values[i] = v.new_zeros((batch, *v.shape[1:]))
            self.keys[i][rows] = k
            self.values[i][rows] = v

    def select(self, rows: torch.Tensor) -> KVCache:
        """A cache of the rows ``rows`` only (a copy: writes to it do not reach this one)."""
        out = KVCache(self.n_layers, self.length)
        if self.keys[0] is not None:
            out.keys = [k[rows] for k in self.keys]
            out.values = [v[rows] for v in self.values]
        return out


def check_span(model, x, attention_mask, clean, cache, start) -> int:
    """Validate a transformer call's ``clean`` / ``cache`` / ``start``; return how many key
    positions its attention covers."""
    B, n = x.shape
    if clean is not None:
        if model.block_size is None:
            raise TokenError("clean= (the two-stream block diffusion pass) needs a block-causal model "
                             "(TransformerConfig(block_size=...))")
        if cache is not None or not isinstance(clean, torch.Tensor) or clean.shape != x.shape:
            raise TokenError(f"clean must be a [B, L]={(B, n)} tensor like x, and cannot go with cache=")
        return 2 * n
    if cache is None:
        if start != 0:
            raise TokenError("start= only applies with cache=")
        return n
    layers = model.config.n_layers
    if not isinstance(cache, KVCache) or cache.n_layers != layers:
        raise TokenError(f"cache must be a KVCache of this model ({layers} layers, see new_cache), "
                         f"got {cache!r}")
    if not isinstance(start, int) or start < 0 or start + n > cache.length or cache.batch not in (None, B):
        raise TokenError(f"the span [{start}, {start}+{n}) of {B} rows does not fit the cache "
                         f"({cache.length} positions, {cache.batch} rows)")
    if attention_mask is not None and tuple(attention_mask.shape) != (B, cache.length):
        raise TokenError(f"with cache=, attention_mask covers all {cache.length} cached positions: "
                         f"[B, {cache.length}], got {tuple(attention_mask.shape)}")
    causal_keys = model.block_size is not None or model.config.causal
    return start + n if causal_keys else cache.length
