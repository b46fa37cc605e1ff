"""Tests of the bidirectional transformer denoiser (CPU, fp32 unless stated, small sizes)."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from mdm.errors import MDMError, ModelConfigError, TokenError
from mdm.models.layers import _rotate
from mdm.models.transformer import TransformerConfig, TransformerDenoiser, default_d_ff
from mdm.protocol import Denoiser, call_denoiser

V, MASK = 13, 12  # 12 real tokens + the mask token


def make(seed: int = 0, **kw) -> TransformerDenoiser:
    torch.manual_seed(seed)
    cfg = dict(vocab_size=V, mask_id=MASK, d_model=32, n_layers=2, n_heads=4, max_len=32)
    cfg.update(kw)
    return TransformerDenoiser(TransformerConfig(**cfg)).eval()


def tokens(B: int = 3, L: int = 10, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, V, (B, L), generator=torch.Generator().manual_seed(seed))


def randomize_adaln(model: TransformerDenoiser, seed: int = 0) -> None:
    """Leave adaLN-Zero's zero init so that t actually reaches the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "ada" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


def test_shapes_dtype_and_protocol():
    m = make()
    x = tokens()
    out = m(x)
    assert out.shape == (3, 10, V) and out.dtype == torch.float32
    assert isinstance(m, Denoiser) and m.vocab_size == V and m.mask_id == MASK
    assert m.time_conditioned is False and m.supports_output_mask is True
    sel = x > 6
    assert m(x, output_mask=sel).shape == (int(sel.sum()), V)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("time_conditioned", [False, True])
def test_output_mask_equals_full_path_gathered(time_conditioned):
    m = make(time_conditioned=time_conditioned)
    if time_conditioned:
        randomize_adaln(m)
    x = tokens(B=4, L=12)
    sel = torch.rand(4, 12, generator=torch.Generator().manual_seed(3)) < 0.4
    t = torch.tensor([0.1, 0.4, 0.7, 0.95])
    kw = {"t": t} if time_conditioned else {}
    full = m(x, **kw)
    part = m(x, output_mask=sel, **kw)
    torch.testing.assert_close(part, full[sel], atol=1e-5, rtol=1e-5)
    # the masked-CE loss an MDM trains on, computed both ways, and its gradients
    target = tokens(B=4, L=12, seed=9)
    loss_full = F.cross_entropy(full[sel], target[sel])
    loss_part = F.cross_entropy(part, target[sel])
    torch.testing.assert_close(loss_part, loss_full, atol=1e-6, rtol=1e-6)
    g_full = torch.autograd.grad(loss_full, m.head.weight)[0]
    g_part = torch.autograd.grad(loss_part, m.head.weight)[0]
    torch.testing.assert_close(g_part, g_full, atol=1e-6, rtol=1e-5)


def test_bidirectional_and_causal_flag():
    x = tokens(B=2, L=10)
    x2 = x.clone()
    x2[:, -1] = (x[:, -1] + 1) % MASK
    bi = make()
    # a bidirectional model lets the last token change the first position's logits
    assert (bi(x)[:, 0] - bi(x2)[:, 0]).abs().max() > 1e-4
    ar = make(causal=True)
    # with the causal flag, earlier positions never see later tokens
    torch.testing.assert_close(ar(x)[:, :-1], ar(x2)[:, :-1], atol=1e-6, rtol=0)
    assert (ar(x)[:, -1] - ar(x2)[:, -1]).abs().max() > 1e-4


def test_rope_scores_depend_only_on_relative_position():
    m = make(d_model=32, n_heads=2)
    cos, sin = m._rope_tables(32, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(16, generator=g), torch.randn(16, generator=g)

    def score(i, j):
        return (_rotate(q, cos[i], sin[i]) * _rotate(k, cos[j], sin[j])).sum()

    torch.testing.assert_close(score(3, 7), score(20, 24), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(score(9, 2), score(29, 22), atol=1e-5, rtol=1e-5)
    assert abs(score(3, 7) - score(3, 8)) > 1e-3
    # rotations keep norms: cos^2 + sin^2 = 1
    torch.testing.assert_close(_rotate(q, cos[11], sin[11]).norm(), q.norm())


def test_where_position_information_comes_from():
    # RoPE is relative: with every token equal (e.g. a fully masked input) all queries, keys and
    # values coincide up to rotation, attention averages identical values, and every position gets
    # the same logits. One different token breaks the symmetry; learned positions always do.
    const = torch.full((1, 8), MASK)
    out = make()(const)[0]
    torch.testing.assert_close(out, out[:1].expand_as(out), atol=1e-6, rtol=0)
    out = make(learned_positions=True)(const)[0]
    assert (out - out[0]).abs().amax(dim=-1)[1:].min() > 1e-4
    one_clean = const.clone()
    one_clean[0, 4] = 3
    out = make()(one_clean)[0]  # positions 1 and 7 are 3 before and 3 after the clean token
    assert (out[1] - out[7]).abs().max() > 1e-5 and (out[1] - out[2]).abs().max() > 1e-5


def test_padding_keys_do_not_influence_real_positions():
    m = make()
    x = tokens(B=3, L=10)
    am = torch.ones(3, 10, dtype=torch.bool)
    am[0, 7:] = False  # right padding
    am[1, :4] = False  # left padding
    x_other_pads = torch.where(am, x, (x + 5) % V)
    a, b = m(x, attention_mask=am), m(x_other_pads, attention_mask=am)
    assert torch.isfinite(a).all() and torch.isfinite(b).all()
    torch.testing.assert_close(a[am], b[am], atol=1e-5, rtol=1e-5)
    # a long 0/1 mask means the same as the bool one
    torch.testing.assert_close(m(x, attention_mask=am.long()), a)
    # an unpadded row is unaffected by padding elsewhere in the batch
    torch.testing.assert_close(a[2], m(x[2:]).squeeze(0), atol=1e-5, rtol=1e-5)
    # ...and equals the same row cropped to its real tokens (right padding)
    torch.testing.assert_close(a[0, :7], m(x[:1, :7])[0], atol=1e-5, rtol=1e-5)


def test_right_padding_with_learned_positions_equals_the_unpadded_sequence():
    # Mixed-length training pads on the right: real positions keep their index (so their learned
    # position) and no real query sees a padded key, so a padded row predicts as the bare row.
    m = make(learned_positions=True)
    x = tokens(B=2, L=12)
    am = torch.ones(2, 12, dtype=torch.bool)
    am[0, 5:] = False
    out = m(x, attention_mask=am)
    torch.testing.assert_close(out[0, :5], m(x[:1, :5])[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[1], m(x[1:])[0], atol=1e-5, rtol=1e-5)


def test_fully_padded_rows_do_not_produce_nan():
    x = tokens(B=2, L=6)
    am = torch.tensor([[0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1]])
    for m in (make(), make(causal=True)):  # causal + left padding: early rows see no real key
        out = m(x, attention_mask=am)
        assert torch.isfinite(out).all()
        out.sum().backward()
        assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


def test_time_conditioning_adaln_zero():
    m = make(time_conditioned=True)
    x = tokens()
    t_lo, t_hi = torch.full((3,), 0.1), torch.tensor([0.9, 0.5, 0.3])
    # adaLN-Zero init: every block is the identity and the final modulation is zero, so t has no effect
    torch.testing.assert_close(m(x, t=t_lo), m(x, t=t_hi), atol=0, rtol=0)
    randomize_adaln(m)
    out_lo, out_hi = m(x, t=t_lo), m(x, t=t_hi)
    assert (out_lo - out_hi).abs().max() > 1e-3
    # a scalar t broadcasts over the batch
    torch.testing.assert_close(m(x, t=torch.tensor(0.1)), out_lo)
    # the protocol helper passes t to a time-conditioned model and insists on it
    torch.testing.assert_close(call_denoiser(m, x, t=t_hi), out_hi)
    with pytest.raises(TokenError, match="time conditioned"):
        m(x)
    with pytest.raises(TokenError, match=r"\[B\]"):
        m(x, t=torch.rand(2))


def test_gradients_reach_adaln_at_init():
    # adaLN-Zero must still be trainable: the gates' gradients are nonzero at the zero init
    m = make(time_conditioned=True).train()
    x = tokens()
    m(x, t=torch.rand(3)).logsumexp(-1).sum().backward()
    assert m.blocks[0].ada.weight.grad.abs().max() > 0
    assert m.final_ada.weight.grad.abs().max() > 0


def test_bf16_autocast_close_to_fp32():
    m = make()
    x = tokens(B=2, L=16)
    ref = m(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = m(x)
        low_sel = m(x, output_mask=x > 3)
    assert low.dtype == torch.float32 and low_sel.dtype == torch.float32
    # bf16 keeps ~3 significant digits; the error must be a small fraction of the logits' spread
    rel = (low - ref).norm() / (ref - ref.mean()).norm()
    assert rel < 0.05, rel
    p_ref, p_low = ref.softmax(-1), low.softmax(-1)
    assert (p_ref - p_low).abs().max() < 0.01


def test_dropout_only_in_training():
    m = make(dropout=0.3)
    x = tokens()
    torch.testing.assert_close(m(x), m(x))
    m.train()
    assert (m(x) - m(x)).abs().max() > 1e-4


def test_inference_mode_first_then_training():
    # the RoPE cache is built lazily; building it under inference_mode must not break training
    m = make().train()
    with torch.inference_mode():
        m(tokens())
    m(tokens()).sum().backward()
    assert m.embed.weight.grad is not None


def test_config_round_trip_and_defaults():
    cfg = TransformerConfig(vocab_size=50, mask_id=49, d_model=48, n_layers=3, n_heads=6, max_len=64,
                            time_conditioned=True, dropout=0.1, tie_embeddings=True, rope_base=500.0)
    back = TransformerConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg
    m1, m2 = TransformerDenoiser(cfg), TransformerDenoiser(back)
    assert m1.num_parameters() == m2.num_parameters()
    assert TransformerConfig(vocab_size=5, mask_id=4, d_model=384).hidden_ff == 1024
    assert default_d_ff(256) % 64 == 0 and abs(default_d_ff(256) - 8 * 256 / 3) < 64
    assert TransformerConfig(vocab_size=5, mask_id=4, d_ff=100).hidden_ff == 100


def test_num_parameters_and_tying():
    untied, tied = make(), make(tie_embeddings=True)
    assert tied.head.weight is tied.embed.weight
    assert untied.num_parameters() - tied.num_parameters() == V * 32
    assert untied.num_parameters() == sum(p.numel() for p in untied.parameters())
    assert untied.num_parameters(exclude_embeddings=True) == untied.num_parameters() - V * 32


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(vocab_size=1, mask_id=0), "vocab_size"),
        (dict(vocab_size=10, mask_id=10), "mask_id"),
        (dict(vocab_size=10, mask_id=-1), "mask_id"),
        (dict(vocab_size=10, mask_id=9, d_model=30, n_heads=4), "divisible"),
        (dict(vocab_size=10, mask_id=9, d_model=12, n_heads=4), "even"),
        (dict(vocab_size=10, mask_id=9, n_layers=0), "n_layers"),
        (dict(vocab_size=10, mask_id=9, max_len=0), "max_len"),
        (dict(vocab_size=10, mask_id=9, d_ff=0), "d_ff"),
        (dict(vocab_size=10, mask_id=9, dropout=1.0), "dropout"),
        (dict(vocab_size=10, mask_id=9, rope_base=0.5), "rope_base"),
        (dict(vocab_size=10.0, mask_id=9), "vocab_size"),
        (dict(vocab_size=10, mask_id=9, causal="yes"), "causal"),
    ],
)
def test_bad_configs_raise(kw, match):
    with pytest.raises(ModelConfigError, match=match):
        TransformerConfig(**kw)


def test_bad_dicts_and_inputs_raise():
    with pytest.raises(ModelConfigError, match="unknown"):
        TransformerConfig.from_dict({"vocab_size": 5, "mask_id": 4, "width": 3})
    with pytest.raises(ModelConfigError, match="missing"):
        TransformerConfig.from_dict({"vocab_size": 5})
    with pytest.raises(ModelConfigError):
        TransformerDenoiser({"vocab_size": 5, "mask_id": 4})
    m = make(max_len=8)
    with pytest.raises(TokenError, match="max_len"):
        m(tokens(L=9))
    with pytest.raises(TokenError, match="long"):
        m(tokens(L=8).float())
    with pytest.raises(TokenError, match="output_mask"):
        m(tokens(L=8), output_mask=torch.ones(3, 7, dtype=torch.bool))
    with pytest.raises(TokenError, match="bool"):
        m(tokens(L=8), output_mask=torch.ones(3, 8, dtype=torch.long))
    assert issubclass(TokenError, MDMError)


@pytest.fixture
def one_thread():
    # ~100 tiny matmuls per step: a second OpenMP thread only adds synchronisation, which on a
    # loaded 2-core machine made this test 20x slower (190 s vs 10 s measured)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_overfits_a_tiny_fixed_batch(one_thread):
    """MDM training on 4 fixed random sequences must drive the masked CE at 50% masking to < 0.1 nats.

    Why 0.1 is meaningful: at 50% masking 8 random tokens are visible, which identify the sequence
    (another of the 4 sharing all 8: probability ~16^-8), so the optimum is ~0 nats. A model that
    ignores context can at best predict each position's marginal over the 4 sequences, which costs
    the `context_free` entropy computed below (> 0.7 nats here); a model that ignores the data
    costs log 16 = 2.77. Measured over seeds 0-3 the loss ends at 0.018-0.030 after 400 steps.
    """
    n_real, L, B, steps = 16, 16, 4, 400
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    x0 = torch.randint(0, n_real, (B, L), generator=g)
    # learned absolute positions: random sequences have a fixed layout (see TransformerConfig)
    cfg = TransformerConfig(vocab_size=n_real + 1, mask_id=n_real, d_model=64, n_layers=2, n_heads=4,
                            max_len=L, learned_positions=True)
    m = TransformerDenoiser(cfg)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3, betas=(0.9, 0.98), weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 20) * (1 - s / steps))

    def masked_ce(t: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        mask = torch.rand(B, L, generator=gen) < t[:, None]
        mask[:, 0] |= ~mask.any(1)  # at least one target per row
        logits = m(torch.where(mask, n_real, x0), output_mask=mask)
        return F.cross_entropy(logits, x0[mask])

    m.train()
    for _ in range(steps):
        loss = masked_ce(torch.rand(B, generator=g), g)  # MDM: t ~ U(0, 1), mask each token w.p. t
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()

    m.eval()
    ge = torch.Generator().manual_seed(123)
    with torch.no_grad():
        final = torch.stack([masked_ce(torch.full((B,), 0.5), ge) for _ in range(8)]).mean().item()
    counts = torch.stack([torch.bincount(x0[:, i], minlength=n_real) for i in range(L)]).float() / B
    context_free = -(counts * counts.clamp_min(1e-12).log()).sum(1).mean().item()
    assert context_free > 0.7 and math.log(n_real) > 2.7
    assert final < 0.1, f"masked CE {final:.3f} nats after {steps} steps (context-free {context_free:.2f})"


def test_logits_are_computed_in_float32_under_autocast():
    # A bf16 head rounds every logit to bf16 (and trained a much weaker sudoku-hard model, see
    # mdm.models.layers.float32_logits): under autocast the logits must not all be bf16 values, and
    # must equal the float32 head applied to the (autocast) hidden state.
    m = make()
    x = tokens(B=2, L=16)
    hidden = {}
    m.norm.register_forward_hook(lambda mod, inp, out: hidden.setdefault("h", out))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = m(x)
    assert low.dtype == torch.float32
    assert (low.to(torch.bfloat16).float() != low).float().mean() > 0.5
    torch.testing.assert_close(low, hidden["h"].float() @ m.head.weight.T, rtol=1e-5, atol=1e-5)
    m.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        m(x).logsumexp(-1).sum().backward()
    assert m.head.weight.grad.dtype == torch.float32


def test_a_bf16_model_keeps_its_bf16_head():
    m = make().to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m(tokens(B=2, L=16))
    assert out.dtype == torch.float32 and (out.to(torch.bfloat16).float() == out).all()
