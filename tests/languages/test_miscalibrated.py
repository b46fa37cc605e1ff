"""The miscalibrated oracle: its conditionals are the exact ones, end-of-text reweighted by the
stated factor and renormalised -- checked against brute-force enumeration of a tiny padded HMM."""

import itertools
import math

import pytest
import torch

from mdm.errors import ConfigError
from mdm.languages import HMM, Miscalibrated

LENGTH = 4


def _brute_force_conditionals(language, x, group, factor):
    """For one sequence ``x [L]``: q(x_i = v | clean) by hand, from every sequence of [0, V)^L."""
    v = language.vocab_size
    seqs = torch.tensor(list(itertools.product(range(v), repeat=len(x))))
    p = language.log_prob(seqs).exp()
    clean = x != language.mask_id
    consistent = ((seqs == x) | ~clean).all(-1)
    weight = torch.tensor([factor if u in group else 1.0 for u in range(v)], dtype=torch.float64)
    out = {}
    for i in torch.nonzero(~clean).flatten().tolist():
        joint = torch.stack([(p * consistent * (seqs[:, i] == u)).sum() for u in range(v)])
        out[i] = weight * joint / (weight * joint).sum()
    return out


@pytest.mark.parametrize("factor", [1 / 8, 0.5, 1.0, 4.0, 8.0])
def test_conditionals_are_the_exact_ones_reweighted_and_normalised(factor):
    language = HMM.random(3, 3, seed=2, successors=2, end=2)  # tokens 0-2, eos 3, pad 4
    group = language.end_tokens
    oracle = Miscalibrated(language.denoiser(), group, factor)
    m = language.mask_id
    contexts = torch.tensor([[m, m, m, m], [0, m, m, m], [m, m, 3, m], [m, 1, m, 4], [2, m, m, 4]])
    probs = oracle(contexts).exp()
    for row, x in enumerate(contexts):
        for i, expected in _brute_force_conditionals(language, x, group, factor).items():
            assert torch.allclose(probs[row, i, :m], expected, atol=1e-12), (row, i)
            assert probs[row, i, m] == 0.0  # the mask is never predicted
        clean = x != m
        assert torch.equal(probs[row, clean].argmax(-1), x[clean])  # clean positions stay one-hot


def test_factor_one_is_the_exact_oracle_and_a_factor_moves_mass_the_stated_way():
    language = HMM.random(3, 3, seed=2, successors=2, end=2)
    x = torch.tensor([[0, language.mask_id, language.mask_id, language.mask_id]])
    exact = language.denoiser()(x).exp()
    assert torch.allclose(Miscalibrated(language.denoiser(), language.end_tokens, 1.0)(x).exp(), exact)
    end = list(language.end_tokens)
    p_end = exact[0, 3, end].sum()
    q_end = Miscalibrated(language.denoiser(), end, 4.0)(x).exp()[0, 3, end].sum()
    assert 0 < p_end < 1
    assert float(q_end) == pytest.approx(float(4 * p_end / (4 * p_end + 1 - p_end)), abs=1e-12)


@pytest.mark.parametrize("factor, group",
                         [(0.0, (3,)), (-1.0, (3,)), (math.inf, (3,)), (2.0, ()), (2.0, (5,))])
def test_bad_arguments_raise(factor, group):
    language = HMM.random(3, 3, seed=2, successors=2, end=2)
    with pytest.raises(ConfigError):
        Miscalibrated(language.denoiser(), group, factor)
