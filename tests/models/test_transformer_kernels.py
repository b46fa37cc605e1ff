"""The faster RoPE and RMSNorm formulations give the same bits as the textbook ones (float32), and
the bf16 RMSNorm path still computes in float32."""

import pytest
import torch

from mdm.models.transformer import RMSNorm, _rotate


def _rotate_reference(x, cos, sin):
    x1, x2 = x.float().chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).to(x.dtype)


@pytest.mark.parametrize("head_dim", [8, 32, 64])
def test_rotate_matches_the_half_split_formula_bit_for_bit(head_dim):
    g = torch.Generator().manual_seed(0)
    qkv = torch.randn(2, 16, 3, 4, head_dim, generator=g).permute(2, 0, 3, 1, 4)  # strided, as in Attention
    angles = torch.rand(16, head_dim // 2, generator=g) * 10
    for x in (qkv[0], qkv[1], qkv[0].bfloat16()):
        cos, sin = angles.cos(), angles.sin()
        assert torch.equal(_rotate(x, cos, sin), _rotate_reference(x, cos, sin))


@pytest.mark.parametrize("dim", [32, 96, 128])
def test_rmsnorm_fused_path_matches_the_float32_formula(dim):
    norm = RMSNorm(dim)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(dim, generator=torch.Generator().manual_seed(1)) + 0.5)
    x = torch.randn(3, 7, dim, generator=torch.Generator().manual_seed(2)) * 3
    ref = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.eps) * norm.weight
    torch.testing.assert_close(norm(x), ref, rtol=1e-6, atol=1e-6)
    xb = x.bfloat16()
    want = (xb.float() * torch.rsqrt(xb.float().pow(2).mean(-1, keepdim=True) + norm.eps)).bfloat16()
    assert torch.equal(norm(xb), want * norm.weight.bfloat16())
