"""Enumerated languages against hand-computed values, and input validation of every language."""

import math

import pytest
import torch

from mdm.errors import LanguageError, MDMError, TokenError
from mdm.languages import HMM, Enumerated, NGram

M = 2  # mask id of the binary toy below


@pytest.fixture
def toy():
    # p(011) = 1/2, p(101) = 1/4, p(000) = 1/4.
    return Enumerated([[0, 1, 1], [1, 0, 1], [0, 0, 0]], [0.5, 0.25, 0.25])


def test_enumerated_conditionals_by_hand(toy):
    x = torch.tensor([
        [0, M, M],  # 011 or 000, weights 1/2 : 1/4
        [M, M, M],  # marginals
        [M, 0, M],  # 101 or 000, weights 1/4 : 1/4
        [0, 1, 1],  # fully clean
        [1, 1, M],  # impossible context -> uniform
    ])
    den = toy.denoiser()
    assert den.vocab_size == 3 and den.mask_id == 2 and toy.vocab_size == 2
    p = den(x).exp()
    assert p.dtype == torch.float64 and p.shape == (5, 3, 3)
    assert torch.all(p[..., 2] == 0)
    t = lambda *v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    assert torch.allclose(p[0, 1, :2], t(1 / 3, 2 / 3)) and torch.allclose(p[0, 2, :2], t(1 / 3, 2 / 3))
    assert torch.allclose(p[0, 0, :2], t(1, 0))
    assert torch.allclose(p[1, :, :2], t([0.75, 0.25], [0.5, 0.5], [0.25, 0.75]))
    assert torch.allclose(p[2, 0, :2], t(0.5, 0.5)) and torch.allclose(p[2, 2, :2], t(0.5, 0.5))
    assert torch.allclose(p[3, :, :2], t([1, 0], [0, 1], [0, 1]))
    assert torch.allclose(p[4, 2, :2], t(0.5, 0.5))


def test_enumerated_log_prob_sample_entropy(toy):
    x = torch.tensor([[0, 1, 1], [1, 0, 1], [1, 1, 1]])
    lp = toy.log_prob(x)
    assert torch.allclose(lp[:2], torch.tensor([math.log(0.5), math.log(0.25)], dtype=torch.float64))
    assert torch.isneginf(lp[2])
    assert toy.is_valid(x).tolist() == [True, True, False]
    s = toy.sample(20_000, 3, torch.Generator().manual_seed(0))
    freq = (s.unsqueeze(1) == toy.sequences).all(-1).double().mean(0)
    assert (freq - toy.probs).abs().max() < 0.015  # 3 sigma of a 20k-sample frequency is ~0.01
    h = toy.entropy(3)
    assert h.exact and h.stderr == 0 and h.value == pytest.approx(1.5 * math.log(2), rel=1e-12)


def test_enumerated_repeats_add_up_and_probs_renormalise():
    lang = Enumerated(torch.tensor([[1, 2], [1, 2], [0, 0]]), [0.3, 0.3, 0.4 + 5e-7], vocab_size=4)
    assert lang.vocab_size == 4
    assert lang.log_prob(torch.tensor([[1, 2]])).exp().item() == pytest.approx(0.6, abs=1e-6)
    assert lang.entropy(2).value == pytest.approx(-(0.6 * math.log(0.6) + 0.4 * math.log(0.4)), abs=1e-5)
    p = lang.denoiser()(torch.tensor([[4, 2]])).exp()[0, 0]
    assert torch.allclose(p, torch.tensor([0, 1, 0, 0, 0], dtype=torch.float64))


def test_mixed_batch_rows_are_independent():
    lang = NGram.random(3, order=2, seed=5)
    x = lang.sample(6, 5, torch.Generator().manual_seed(0))
    masks = torch.rand(6, 5, generator=torch.Generator().manual_seed(1)) < 0.5
    xm = torch.where(masks, 3, x)
    together = lang.denoiser()(xm)
    alone = torch.cat([lang.denoiser()(xm[i:i + 1]) for i in range(6)])
    assert torch.equal(together, alone)


@pytest.mark.parametrize("make, match", [
    (lambda: NGram.random(1), "vocab_size"),
    (lambda: NGram.random(4, order=0), "order"),
    (lambda: NGram.random(4, branching=0), "branching"),
    (lambda: NGram.random(4, branching=5), "branching"),
    (lambda: NGram.random(4.0), "vocab_size"),
    (lambda: NGram.random(1024, order=4), "states"),
    (lambda: HMM.random(0, 4), "n_states"),
    (lambda: HMM.random(3, 1), "vocab_size"),
    (lambda: HMM.random(3, 4, emitted=5), "emitted"),
    (lambda: HMM([0.5, 0.5], [[1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]), "transition"),
    (lambda: HMM([0.5, 0.6], [[1.0, 0.0], [0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]), "sum to 1"),
    (lambda: NGram([[0.5, 0.5], [1.5, -0.5]]), "non-negative"),
    (lambda: NGram([0.5, 0.5], initial=[1.0]), "initial"),
    (lambda: Enumerated([[0, 1], [1]], [0.5, 0.5]), "same length"),
    (lambda: Enumerated([[0, 1], [1, 1]], [0.5, 0.6]), "sum to 1"),
    (lambda: Enumerated([[0, 1], [1, 1]], [1.5, -0.5]), "non-negative"),
    (lambda: Enumerated([[0, 1], [1, 1]], [1.0]), "one probability per sequence"),
    (lambda: Enumerated([[0, 3]], [1.0], vocab_size=3), "vocab_size"),
    (lambda: Enumerated([[0.5, 1.0]], [1.0]), "integer"),
    (lambda: Enumerated([], []), "empty"),
])
def test_bad_parameters_raise_language_error(make, match):
    with pytest.raises(LanguageError, match=match):
        make()


def test_language_error_is_an_mdm_error():
    assert issubclass(LanguageError, MDMError) and issubclass(LanguageError, ValueError)


@pytest.mark.parametrize("lang", [NGram.random(3), HMM.random(2, 3), Enumerated([[0, 1, 2]], [1.0])],
                         ids=["ngram", "hmm", "enumerated"])
def test_bad_tokens_raise_token_error(lang):
    den = lang.denoiser()
    for bad in (torch.tensor([[0, 1, 4]]), torch.tensor([[0, -1, 1]]), torch.zeros(1, 3),
                torch.zeros(3, dtype=torch.long)):
        with pytest.raises(TokenError):
            den(bad)
        with pytest.raises(TokenError):
            lang.log_prob(bad)
    with pytest.raises(TokenError):  # the mask id is not a token of the language
        lang.log_prob(torch.tensor([[0, 1, 3]]))
    with pytest.raises(LanguageError):
        lang.sample(2, 0)
    with pytest.raises(LanguageError):
        lang.sample(-1, 3)


def test_enumerated_rejects_other_lengths(toy):
    with pytest.raises(TokenError, match="length"):
        toy.log_prob(torch.tensor([[0, 1]]))
    with pytest.raises(TokenError, match="length"):
        toy.denoiser()(torch.tensor([[0, 1, 1, 1]]))
    with pytest.raises(LanguageError, match="length"):
        toy.sample(3, 4)
