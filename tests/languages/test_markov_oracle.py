"""``MarkovOracle``: the closed-form conditionals of a first-order token chain, checked against
brute-force enumeration.

For a chain over ``V = 3`` tokens and lengths up to 5, EVERY input is enumerated (each position
clean with one of the ``V`` tokens or masked: ``(V + 1)^L`` rows) and every masked position's
conditional ``p(x_i = v | clean)`` is summed directly over all ``V^L`` sequences, with the joint
probability written from ``initial`` and ``next_probs`` by hand (not through the language's own
inference).  Rows whose clean evidence has probability zero must get the uniform distribution,
the languages' rule.  Tolerance 1e-12 on probabilities (float64 throughout).
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from mdm.errors import LanguageError
from mdm.languages import HMM, ExactDenoiser, MarkovOracle, NGram, fast_oracle


def _joint(language: NGram, seqs: torch.Tensor) -> torch.Tensor:
    """p(x) for every row of ``seqs`` [N, L], written out from the chain's tables."""
    if language.order == 1:
        return language.next_probs[seqs].prod(dim=1)
    p = language.initial[seqs[:, 0]]
    for t in range(1, seqs.shape[1]):
        p = p * language.next_probs[seqs[:, t - 1], seqs[:, t]]
    return p


def _brute_force_conditionals(language: NGram, inputs: torch.Tensor) -> torch.Tensor:
    """p(x_i = v | clean positions of the input) [n, L, V] by summing over all V^L sequences."""
    v, length = language.vocab_size, inputs.shape[1]
    seqs = torch.tensor(list(itertools.product(range(v), repeat=length)), dtype=torch.long)
    joint = _joint(language, seqs)  # [N]
    clean = inputs != v
    agree = ((inputs.unsqueeze(1) == seqs.unsqueeze(0)) | ~clean.unsqueeze(1)).all(-1)  # [n, N]
    weight = agree * joint  # p(sequence, evidence)
    one_hot = torch.nn.functional.one_hot(seqs, v).double()  # [N, L, V]
    num = torch.einsum("nk,klv->nlv", weight, one_hot)
    z = weight.sum(-1)[:, None, None]
    return torch.where(z > 0, num / z.clamp_min(1e-300), torch.full_like(num, 1.0 / v))


def _all_inputs(v: int, length: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(v + 1), repeat=length)), dtype=torch.long)


@pytest.mark.parametrize(
    "language",
    [
        NGram.random(3, order=2, branching=2, seed=1),  # sparse: impossible evidence occurs
        NGram.random(3, order=2, branching=3, seed=2),  # full support, asymmetric P
        NGram.random(3, order=1, seed=3),  # i.i.d. tokens
    ],
    ids=["bigram-sparse", "bigram-dense", "unigram"],
)
@pytest.mark.parametrize("length", [1, 2, 5])
def test_conditionals_equal_brute_force_enumeration(language, length):
    oracle = MarkovOracle(language)
    assert (oracle.vocab_size, oracle.mask_id) == (language.vocab_size + 1, language.vocab_size)
    x = _all_inputs(language.vocab_size, length)
    logits = oracle(x)
    assert logits.shape == (len(x), length, language.vocab_size + 1)
    assert torch.all(logits[..., -1] == -math.inf), "the mask token must never be predicted"
    probs = logits[..., :-1].exp()
    masked = x == oracle.mask_id
    want = _brute_force_conditionals(language, x)
    assert torch.allclose(probs[masked], want[masked], atol=1e-12, rtol=0)
    # Clean positions: a one-hot on their own token.
    clean_rows = torch.nn.functional.one_hot(x[~masked], language.vocab_size).double()
    assert torch.equal(probs[~masked], clean_rows)
    if length == 5 and language.order == 2 and (language.next_probs == 0).any():
        dead = (want[masked] == 1 / 3).all(-1)
        assert dead.any(), "the sparse case should exercise impossible evidence"


def test_output_mask_returns_the_selected_positions_in_order():
    language = NGram.random(3, order=2, branching=2, seed=1)
    oracle = MarkovOracle(language)
    x = _all_inputs(3, 4)
    where = torch.rand(x.shape, generator=torch.Generator().manual_seed(0)) < 0.5
    assert torch.equal(oracle(x, output_mask=where), oracle(x)[where])


def test_fast_oracle_picks_the_closed_form_only_for_first_order_chains():
    assert isinstance(fast_oracle(NGram.random(3, order=2, seed=0)), MarkovOracle)
    assert isinstance(fast_oracle(NGram.random(3, order=1, seed=0)), MarkovOracle)
    trigram = NGram.random(3, order=3, branching=2, seed=0)
    assert isinstance(fast_oracle(trigram), ExactDenoiser)
    assert isinstance(fast_oracle(HMM.random(3, 4, seed=0)), ExactDenoiser)
    with pytest.raises(LanguageError, match="order 1 or 2"):
        MarkovOracle(trigram)
