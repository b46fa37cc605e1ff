"""The transformer's previous attention and SwiGLU kernels (before issue 32), kept as references: the
test suite checks that the current ones give the same bits (tests/models/test_transformer_kernels.py)
and ``benchmarks/transformer_kernels.py`` times them side by side.  Patch them in as
``Attention.forward`` / ``SwiGLU.forward``."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rotate_before(x, cos, sin):
    """RoPE as it was: ``x * [cos, cos] + [-x2, x1] * [sin, sin]`` in float32, per tensor."""
    xf = x.float()
    x1, x2 = xf.chunk(2, dim=-1)
    out = xf * torch.cat((cos, cos), dim=-1) + torch.cat((-x2, x1), dim=-1) * torch.cat((sin, sin), dim=-1)
    return out.to(x.dtype)


def attention_before(self, h, cos, sin, attn_mask, is_causal, kv=None):
    """``Attention.forward`` before the one-pass RoPE of q and k: unbind q, k, v, rotate each."""
    B, L, D = h.shape
    q, k, v = self.qkv(h).view(B, L, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
    q, k = rotate_before(q, cos, sin), rotate_before(k, cos, sin)
    if kv is not None:
        k, v = kv(k, v)
    dropout_p = self.dropout if self.training else 0.0
    y = F.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p=dropout_p, is_causal=is_causal)
    return self.out(y.transpose(1, 2).reshape(B, L, D))


def swiglu_before(self, h):
    """``SwiGLU.forward`` before the one-buffer backward: autograd's own chain."""
    gate, up = self.gate_up(h).chunk(2, dim=-1)
    return self.down(F.silu(gate) * up)
