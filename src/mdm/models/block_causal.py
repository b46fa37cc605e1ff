"""Attention structure of block-causal denoisers (block diffusion, BD3-LM: Arriola et al.,
arXiv 2503.09573).

Positions are cut into blocks of ``block_size`` from position 0.  Attention is bidirectional inside
a block and causal across blocks, so the model factorises ``p(x) = prod_b p(x^b | x^{<b})`` and each
factor is a masked diffusion model of one block given the clean earlier blocks.

Training uses the paper's vectorised two-stream input ``[x_t ; x_0]`` (length ``2L``): the noised
copy of block ``b`` attends to itself and to the CLEAN copies of blocks ``< b``; the clean copy is
block-causal over itself.  One forward pass then scores every block's conditional, which is what
the block diffusion NELBO sums (BD3-LM eq. 8):

    L_BD(x_0) = sum_b int_0^1 w(t) E_{x_t^b ~ q(.|x_0^b)}
                      [ sum_{l in block b, masked in x_t} -log p(x_0^l | x_t^b, x_0^{<b}) ] dt

estimated like the MDM NELBO (:func:`mdm.losses.diffusion_loss`, which passes ``clean=x_0`` to
a block-causal model) with one ``t`` per sequence shared by its blocks.
"""

from __future__ import annotations

import torch

__all__ = ["attention_for", "structure_mask", "two_stream_mask"]


def structure_mask(q_pos: torch.Tensor, k_pos: torch.Tensor, *, causal: bool,
                   block_size: int | None) -> torch.Tensor | None:
    """Bool ``[n, K]`` (True = query may attend to key) for queries at positions ``q_pos`` and keys
    at ``k_pos`` of one sequence; None when every query sees every key (bidirectional)."""
    if block_size is not None:
        return (k_pos // block_size)[None, :] <= (q_pos // block_size)[:, None]
    if causal:
        return k_pos[None, :] <= q_pos[:, None]
    return None


def two_stream_mask(length: int, block_size: int, device: torch.device) -> torch.Tensor:
    """Bool ``[2L, 2L]`` over ``[x_t ; x_0]``: x_t block b sees x_t block b and x_0 blocks < b;
    x_0 block b sees x_0 blocks <= b; x_0 never sees x_t (module docstring)."""
    blk = torch.arange(length, device=device) // block_size
    same = blk[:, None] == blk[None, :]
    before = blk[None, :] < blk[:, None]
    upto = blk[None, :] <= blk[:, None]
    noisy_rows = torch.cat([same, before], dim=1)
    clean_rows = torch.cat([torch.zeros_like(same), upto], dim=1)
    return torch.cat([noisy_rows, clean_rows], dim=0)


def attention_for(attention_mask: torch.Tensor | None, q_pos: torch.Tensor, n_keys: int, *, causal: bool,
                  block_size: int | None, two_stream: bool, cached: bool):
    """``(attn_mask, is_causal)`` for ``F.scaled_dot_product_attention``: a bool mask
    ``[B|1, 1, n, K]`` (True = may attend) or None, queries at ``q_pos``, keys at positions
    ``[0, n_keys)`` (the two-stream pass: its ``2L`` entries).  Padded keys (``attention_mask``
    False) are excluded; every query may attend to its own key, so a fully padded row still has
    one finite score and gives no NaN."""
    dev = q_pos.device
    keys = None if attention_mask is None else attention_mask.bool()[:, :n_keys]
    if keys is not None and bool(keys.all()):  # nothing padded: keep SDPA's fast paths
        keys = None
    if two_stream:
        structure = two_stream_mask(q_pos.numel() // 2, block_size, dev)
        own_key = torch.arange(q_pos.numel(), device=dev)
    else:
        if causal and not cached and keys is None:
            return None, True  # SDPA's own causal kernel
        structure = structure_mask(q_pos, torch.arange(n_keys, device=dev), causal=causal,
                                   block_size=block_size)
        own_key = q_pos
    if keys is None:
        return (None if structure is None else structure[None, None]), False
    allowed = keys[:, None, None, :]
    if structure is not None:
        allowed = allowed & structure
    return allowed | (torch.arange(n_keys, device=dev)[None, :] == own_key[:, None]), False
