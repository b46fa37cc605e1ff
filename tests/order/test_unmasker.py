"""LearnedOrder: the exact data law at k=1, temperature 1; PL reveal order; prompt, blocks, errors."""

from __future__ import annotations

import pytest
import torch

import mdm
from mdm.errors import MDMError
from mdm.order import LearnedOrder
from mdm.sampling.exact import sequence_codes

W = torch.tensor([0.4, 3.0, 1.0, 0.2], dtype=torch.float64)
N = 40_000


def _law(tokens, vocab=2):
    codes = sequence_codes(tokens, vocab)
    return torch.bincount(codes, minlength=vocab ** tokens.shape[1]).double() / tokens.shape[0]


def test_k1_temperature1_samples_the_exact_law(language):
    out = mdm.sample(language.denoiser(), batch_size=N, length=4, unmasker=LearnedOrder(W, k=1),
                     temperature=1.0, seed=0)
    exact = language.log_prob(mdm.sampling.exact.all_sequences(2, 4)).exp()
    emp = _law(out.tokens)
    # n = 40000 draws over 16 sequences: each frequency within 5 standard errors of its probability
    se = (exact * (1 - exact) / N).sqrt()
    assert ((emp - exact).abs() <= 5 * se + 1e-12).all(), (emp, exact)
    assert (out.nfe == 4).all()


def test_parallel_reveal_is_not_exact(language):
    """The same check fails for k = 4 (all positions at once): the test can tell laws apart."""
    out = mdm.sample(language.denoiser(), batch_size=N, length=4, unmasker=LearnedOrder(W, k=4),
                     temperature=1.0, seed=0)
    exact = language.log_prob(mdm.sampling.exact.all_sequences(2, 4)).exp()
    se = (exact * (1 - exact) / N).sqrt()
    assert ((_law(out.tokens) - exact).abs() > 5 * se).any()


def test_reveal_order_is_plackett_luce(language):
    out = mdm.sample(language.denoiser(), batch_size=N, length=4, unmasker=LearnedOrder(W, k=1),
                     temperature=1.0, seed=1, trace=True)
    steps = out.trace.reveal_step
    first = torch.bincount(steps.argmin(1), minlength=4).double() / N
    expect = W / W.sum()
    assert ((first - expect).abs() <= 5 * (expect * (1 - expect) / N).sqrt()).all(), (first, expect)
    second_given_1 = steps[steps[:, 1] == 0]  # first revealed was position 1
    nxt = torch.bincount((second_given_1 == 1).double().argmax(1), minlength=4).double()
    nxt = nxt / nxt.sum()
    rest = W.clone()
    rest[1] = 0
    assert ((nxt - rest / rest.sum()).abs() < 0.02).all()  # memoryless: PL on what is left


def test_prompt_positions_are_skipped_and_weights_may_cover_them(language):
    den = language.denoiser()
    prompt = torch.tensor([1, 0])
    for w in (W[2:], W):  # per generated position, or per sequence position
        out = mdm.sample(den, prompt=prompt, length=2, unmasker=LearnedOrder(w), batch_size=64,
                         temperature=1.0, seed=0, trace=True)
        assert (out.tokens[:, :2] == prompt).all() and (out.nfe == 2).all()
        assert (out.tokens[:, 2:] != den.mask_id).all()


def test_blocks_go_left_to_right(language):
    out = mdm.sample(language.denoiser(), length=4, block_size=2, unmasker=LearnedOrder(W), batch_size=256,
                     temperature=1.0, seed=0, trace=True)
    steps = out.trace.reveal_step
    assert (steps[:, :2].max(1).values < steps[:, 2:].min(1).values).all()
    # within the second block, position 3 (w=0.2) comes after position 2 (w=1.0) w.p. 1/1.2
    frac = float((steps[:, 2] < steps[:, 3]).double().mean())
    assert abs(frac - 1.0 / 1.2) < 0.1


def test_stop_rule_behaves_as_for_other_unmaskers(language):
    den = language.denoiser()
    kw = dict(length=4, batch_size=64, temperature=1.0, seed=0, stop=[[1, 1]], pad_id=0)
    out = mdm.sample(den, unmasker=LearnedOrder(W), **kw)
    assert (out.tokens != den.mask_id).all() and (out.nfe <= 4).all()


def test_bad_input_raises(language):
    with pytest.raises(MDMError, match="k"):
        LearnedOrder(W, k=0)
    with pytest.raises(MDMError, match="w"):
        LearnedOrder(torch.tensor([1.0, 0.0]))
    with pytest.raises(MDMError, match="weights"):
        mdm.sample(language.denoiser(), length=4, unmasker=LearnedOrder(W[:3]), seed=0)
