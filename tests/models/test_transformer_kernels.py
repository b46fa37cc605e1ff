"""The faster RoPE and RMSNorm formulations give the same bits as the textbook ones (float32), and
the bf16 RMSNorm path still computes in float32."""

import pytest
import torch
from kernels_support import attention_before, swiglu_before  # the previous kernels (tests/models)

from mdm.models.layers import RMSNorm, _rotate, swiglu
from mdm.models.transformer import Attention, SwiGLU, TransformerConfig, TransformerDenoiser


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


def _logits_and_grads(model, call):
    model.zero_grad(set_to_none=True)
    logits = call()
    logits.logsumexp(-1).sum().backward()
    return logits.detach(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize(
    "kw",
    [
        dict(d_model=32, n_heads=2),
        dict(d_model=40, n_heads=5, learned_positions=True),
        dict(d_model=32, n_heads=4, time_conditioned=True),
        dict(d_model=32, n_heads=2, block_size=4),
    ],
)
def test_one_pass_rope_attention_gives_the_same_bits_forward_and_backward(kw, monkeypatch):
    """The whole model's logits and every parameter's gradient are bit-identical to the
    previous attention (unbind q, k, v; rotate q and k separately with the textbook formula) and
    SwiGLU (autograd's chain through ``silu(gate) * up``)."""
    torch.manual_seed(0)
    model = TransformerDenoiser(TransformerConfig(vocab_size=17, mask_id=16, n_layers=2, max_len=16, **kw))
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 17, (3, 16), generator=g)
    mask = torch.rand(3, 16, generator=g) < 0.5
    t = torch.rand(3, generator=g)
    clean = x if kw.get("block_size") else None  # the two-stream BD3-LM pass

    def call():
        return model(torch.where(mask, 16, x), t=t, output_mask=mask, clean=clean)

    new = _logits_and_grads(model, call)
    monkeypatch.setattr(Attention, "forward", attention_before)
    monkeypatch.setattr(SwiGLU, "forward", swiglu_before)
    old = _logits_and_grads(model, call)
    assert torch.equal(new[0], old[0])
    assert all(torch.equal(a, b) for a, b in zip(new[1], old[1]))


def test_swiglu_matches_the_formula_with_and_without_grad_in_fp32_and_bf16():
    gu = torch.randn(4, 6, 2 * 24, generator=torch.Generator().manual_seed(5))
    gate, up = gu.chunk(2, dim=-1)
    for x in (gu, gu.bfloat16()):
        g, u = x.chunk(2, dim=-1)
        with torch.no_grad():
            assert torch.equal(swiglu(x), torch.nn.functional.silu(g) * u)
    w = torch.randn(4, 6, 24, generator=torch.Generator().manual_seed(6))
    for dtype in (torch.float32, torch.bfloat16):
        x = gu.to(dtype).clone().requires_grad_()
        (swiglu(x) * w.to(dtype)).sum().backward()
        ref = gu.to(dtype).clone().requires_grad_()
        g, u = ref.chunk(2, dim=-1)
        (torch.nn.functional.silu(g) * u * w.to(dtype)).sum().backward()
        assert torch.equal(x.grad, ref.grad), dtype
