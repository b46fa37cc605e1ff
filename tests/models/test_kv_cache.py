"""The transformer's KV cache and block-causal attention: a span run against the cache gives the
logits of the full pass wherever that is exact; the two-stream pass gives each block's logits
given the clean earlier blocks (checked against separate single-stream passes)."""

from __future__ import annotations

import pytest
import torch

from mdm.errors import MDMError, ModelConfigError
from mdm.losses import diffusion_loss, masked_logits
from mdm.models.transformer import TransformerConfig, TransformerDenoiser

V, MASK, L = 13, 12, 16


def make(seed: int = 0, **kw) -> TransformerDenoiser:
    torch.manual_seed(seed)
    cfg = dict(vocab_size=V, mask_id=MASK, d_model=32, n_layers=2, n_heads=4, max_len=32)
    cfg.update(kw)
    return TransformerDenoiser(TransformerConfig(**cfg)).eval()


def tokens(B: int = 3, seed: int = 1) -> torch.Tensor:
    x = torch.randint(0, V, (B, L), generator=torch.Generator().manual_seed(seed))
    return x


@pytest.mark.parametrize("kw", [{}, {"time_conditioned": True}, {"learned_positions": True}])
def test_bidirectional_span_equals_full_pass_on_the_same_tokens(kw):
    m = make(**kw)
    x = tokens()
    t = {"t": torch.full((3,), 0.4)} if kw.get("time_conditioned") else {}
    full = m(x, **t)
    cache = m.new_cache(L)
    m(x, cache=cache, **t)  # fills the cache
    for lo, hi in [(5, L), (5, 9), (0, 3)]:  # prefix- and dual-style spans
        span = m(x[:, lo:hi], cache=cache, start=lo, **t)
        torch.testing.assert_close(span, full[:, lo:hi], atol=1e-5, rtol=1e-5)


def test_span_reads_the_cache_for_positions_outside_it():
    m = make(n_layers=1)  # one layer: a position's keys/values depend on its own token only
    x, y = tokens(seed=1), tokens(seed=2)
    cache = m.new_cache(L)
    m(y, cache=cache)  # the cache now holds y's keys/values
    mixed = torch.cat([y[:, :8], x[:, 8:]], dim=1)
    # the span [8, L) with x sees y's keys at [0, 8): the full pass on the mixed sequence
    torch.testing.assert_close(m(x[:, 8:], cache=cache, start=8), m(mixed)[:, 8:], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("block", [4, 8])
def test_block_causal_prefix_cache_is_exact(block):
    m = make(block_size=block)
    x = tokens()
    full = m(x)
    cache = m.new_cache(L)
    m(x[:, :block], cache=cache)
    # each later block against the cache of the clean earlier ones, no recomputation of them
    for lo in range(block, L, block):
        out = m(x[:, lo:lo + block], cache=cache, start=lo)
        torch.testing.assert_close(out, full[:, lo:lo + block], atol=1e-5, rtol=1e-5)
    # and later positions never change earlier logits (causal across blocks)
    y = x.clone()
    y[:, -1] = (y[:, -1] + 1) % V
    torch.testing.assert_close(m(y)[:, :L - block], full[:, :L - block], atol=1e-6, rtol=1e-6)


def test_select_keeps_the_cache_rows_of_the_rows_kept():
    m = make(block_size=4)
    x = tokens(B=4)
    cache = m.new_cache(L)
    m(x[:, :8], cache=cache)
    rows = torch.tensor([3, 1])
    sub = cache.select(rows)
    out = m(x[rows, 8:12], cache=sub, start=8)
    torch.testing.assert_close(out, m(x[rows])[:, 8:12], atol=1e-5, rtol=1e-5)


def test_two_stream_pass_gives_each_block_given_the_clean_earlier_blocks():
    m = make(block_size=4)
    g = torch.Generator().manual_seed(3)
    x0 = torch.randint(0, MASK, (3, L), generator=g)
    xt = x0.masked_fill(torch.rand(3, L, generator=g) < 0.5, MASK)
    two = m(xt, clean=x0)
    for lo in range(0, L, 4):
        alone = m(torch.cat([x0[:, :lo], xt[:, lo:lo + 4]], dim=1))[:, lo:]
        torch.testing.assert_close(two[:, lo:lo + 4], alone, atol=1e-5, rtol=1e-5)
    # the output-mask path and padding keep the same logits
    where = xt == MASK
    torch.testing.assert_close(masked_logits(m, xt, where, clean=x0), two[where], atol=1e-5, rtol=1e-5)
    pad = torch.ones(3, L, dtype=torch.bool)
    torch.testing.assert_close(m(xt, clean=x0, attention_mask=pad), two)


def test_block_diffusion_loss_uses_the_clean_stream():
    m = make(block_size=4)
    calls = []

    class Spy(torch.nn.Module):
        vocab_size, mask_id, supports_output_mask, block_size = V, MASK, True, 4

        def forward(self, x, **kw):
            calls.append(kw.get("clean"))
            return m(x, **kw)

    x0 = torch.randint(0, MASK, (2, L), generator=torch.Generator().manual_seed(0))
    out = diffusion_loss(Spy(), x0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(calls[0], x0) and torch.isfinite(out.loss)
    out.loss.backward()


def test_bad_cache_and_block_arguments():
    with pytest.raises(ModelConfigError, match="block_size"):
        TransformerConfig(vocab_size=V, mask_id=MASK, max_len=30, block_size=4)
    with pytest.raises(ModelConfigError, match="time_conditioned"):
        TransformerConfig(vocab_size=V, mask_id=MASK, max_len=32, block_size=4, time_conditioned=True)
    m, x = make(), tokens()
    with pytest.raises(MDMError, match="block-causal"):
        m(x, clean=x)
    cache = m.new_cache(L)
    with pytest.raises(MDMError, match="does not fit"):
        m(x[:, :8], cache=cache, start=12)
    with pytest.raises(MDMError, match="start="):
        m(x, start=2)
    with pytest.raises(MDMError, match="cache length"):
        m.new_cache(64)
