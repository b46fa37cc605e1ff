"""Samplers against exact answers: an Enumerated language over all binary sequences of length 4.

Statistical checks use 20,000 seeded samples; with 16 outcomes the expected total variation of the
empirical law is about 0.01, so the 0.03 tolerance leaves room for noise while a wrong sampler
(e.g. the product of marginals, TV 0.35 here) fails by a wide margin.
"""

import itertools

import pytest
import torch

import mdm
from mdm.errors import SamplingError
from mdm.languages import Enumerated
from mdm.sampling import Ancestral, EntropyBounded, Scheduled, TopK
from mdm.sampling.exact import (
    OutputLaw,
    all_sequences,
    kl_divergence,
    output_law,
    ranked_output_law,
    sequence_codes,
)

L = 4
N_SAMPLES = 20_000
TV_TOL = 0.03
SEQS = torch.tensor(list(itertools.product([0, 1], repeat=L)))


@pytest.fixture(scope="module")
def language():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(len(SEQS), generator=g, dtype=torch.float64) ** 3  # strongly non-uniform
    p[[3, 9]] = 0.0  # and some impossible sequences
    return Enumerated(SEQS, p / p.sum())


@pytest.fixture(scope="module")
def truth(language):
    keep = language.probs > 0
    return OutputLaw(language.sequences[keep], language.probs[keep])


def empirical(tokens: torch.Tensor) -> OutputLaw:
    seqs, counts = torch.unique(tokens, dim=0, return_counts=True)
    return OutputLaw(seqs, counts.double() / tokens.shape[0])


def tv(p: OutputLaw, q: OutputLaw) -> float:
    return 0.5 * float((p.prob_of(SEQS) - q.prob_of(SEQS)).abs().sum())


def product_of_marginals(language) -> OutputLaw:
    """The law of revealing every position at once from the all-masked sequence."""
    masked = torch.full((1, L), language.mask_id)
    marg = language.log_conditionals(masked)[0].exp()  # [L, V]
    probs = marg[torch.arange(L), SEQS].prod(dim=1)
    return OutputLaw(SEQS, probs)


def draw(language, unmasker, seed=0, **kw):
    return mdm.sample(language.denoiser(), batch_size=N_SAMPLES, length=L, unmasker=unmasker,
                      temperature=1.0, seed=seed, **kw)


@pytest.mark.parametrize("unmasker", [TopK(k=1, proxy="random"), Scheduled(steps=L, proxy="random")])
def test_one_random_position_per_step_is_exact(language, truth, unmasker):
    out = draw(language, unmasker)
    assert tv(empirical(out.tokens), truth) < TV_TOL
    assert (out.nfe == L).all()
    assert kl_divergence(truth, output_law(language.denoiser(), unmasker, L)) < 1e-12


def test_ancestral_one_step_is_the_product_of_marginals(language, truth):
    product = product_of_marginals(language)
    assert tv(product, truth) > 0.2  # the check below can tell the two apart
    exact = output_law(language.denoiser(), Ancestral(steps=1), L)
    assert torch.allclose(exact.prob_of(SEQS), product.probs, atol=1e-12)
    out = draw(language, Ancestral(steps=1))
    assert tv(empirical(out.tokens), product) < TV_TOL
    assert (out.nfe == 1).all()


def test_ancestral_many_steps_is_close_and_skips_empty_steps(language, truth):
    out = draw(language, Ancestral(steps=1000))
    assert tv(empirical(out.tokens), truth) < TV_TOL
    assert (out.nfe <= L).all()  # steps that reveal nothing cost no forward pass
    # Two positions share a step with probability ~ 6/1000 per sequence: nearly always L forwards.
    assert out.nfe.double().mean() > L - 0.05


def test_ancestral_exact_kl_falls_with_steps(language, truth):
    den = language.denoiser()
    kl = [kl_divergence(truth, output_law(den, Ancestral(steps=n), L)) for n in (1, L, 1000)]
    assert kl[0] > kl[1] > kl[2]
    assert kl[1] > 1e-3  # steps = L is not exact: a step may reveal several positions
    assert kl[2] < 1e-3


@pytest.mark.parametrize(
    ("unmasker", "block_size"),
    [(Ancestral(steps=2), None), (Ancestral(steps=4), 2), (Scheduled(steps=2, proxy="random"), 2),
     (TopK(k=3, proxy="random"), None)],
)
def test_output_law_matches_the_engine(language, unmasker, block_size):
    exact = output_law(language.denoiser(), unmasker, L, block_size=block_size)
    assert abs(float(exact.probs.sum()) - 1.0) < 1e-12
    out = draw(language, unmasker, seed=1, block_size=block_size)
    assert tv(empirical(out.tokens), exact) < TV_TOL


def test_output_law_at_temperature_zero_is_the_greedy_point_mass(language):
    law = output_law(language.denoiser(), Ancestral(steps=1), L, temperature=0.0)
    out = mdm.sample(language.denoiser(), length=L, unmasker=Ancestral(steps=1), temperature=0.0)
    assert law.sequences.shape[0] == 1 and float(law.probs[0]) == pytest.approx(1.0)
    assert torch.equal(law.sequences, out.tokens)


@pytest.mark.parametrize("unmasker", [TopK(k=1), EntropyBounded(gamma=0.1)])
def test_output_law_rejects_model_dependent_choices(language, unmasker):
    with pytest.raises(SamplingError, match="random"):
        output_law(language.denoiser(), unmasker, L)


@pytest.mark.parametrize("unmasker", [Scheduled(steps=2, proxy="confidence"),
                                      Scheduled(steps=3, proxy="entropy")])
def test_output_law_of_a_ranked_schedule_matches_the_engine(language, unmasker):
    """Deterministic-proxy Scheduled goes to the ranked enumerator (one entry point for both)."""
    exact = output_law(language.denoiser(), unmasker, L)
    assert abs(float(exact.probs.sum()) - 1.0) < 1e-12
    assert tv(empirical(draw(language, unmasker, seed=2).tokens), exact) < TV_TOL
    ranked = ranked_output_law(language.denoiser(), L, [2, 2], proxy="confidence")
    if unmasker.proxy.__class__.__name__ == "Confidence":
        assert tv(ranked, exact) < 1e-12


def test_all_sequences_and_codes_agree():
    seqs = all_sequences(3, 4)
    assert seqs.shape == (81, 4) and torch.equal(seqs[5], torch.tensor([0, 0, 1, 2]))
    assert torch.equal(sequence_codes(seqs, 3), torch.arange(81))
