"""Samplers against exact answers: an Enumerated language over all binary sequences of length 4.

Statistical checks use 20,000 seeded samples; with 16 outcomes the expected total variation of the
empirical law is about 0.01, so the 0.03 tolerance leaves room for noise while a wrong sampler
(e.g. the product of marginals, TV 0.35 here) fails by a wide margin.
"""

import dataclasses
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
from mdm.schedules import BetaEnergy, Linear, Polynomial, Schedule

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


# ---------------------------------------------------------------------- Ancestral follows its schedule
PAIR = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]])


def ancestral_two_steps_law(joint: torch.Tensor, schedule) -> torch.Tensor:
    """Closed form of Ancestral(2, schedule) at temperature 1 on two positions with joint ``joint``
    over PAIR: step 1 reveals each position with probability alpha(1/2) (t = 1 -> 1/2), step 2 the
    rest.  Both revealed together (or both left to the last step) draw from the product of
    marginals; one at a time draws from the exact joint."""
    p = schedule.alpha(0.5)
    m0 = torch.stack([joint[PAIR[:, 0] == v].sum() for v in (0, 1)])
    m1 = torch.stack([joint[PAIR[:, 1] == v].sum() for v in (0, 1)])
    product = m0[PAIR[:, 0]] * m1[PAIR[:, 1]]
    together = p**2 + (1 - p) ** 2
    return together * product + (1 - together) * joint


@pytest.mark.parametrize("schedule", [Polynomial(4.0), Polynomial(0.25), BetaEnergy(0.9, 0.3)], ids=repr)
def test_ancestral_follows_its_schedule_on_an_exact_toy(schedule):
    # A strongly correlated pair: the law depends on how often the two are revealed together,
    # i.e. on the schedule.  20,000 draws; every probability within 4 standard errors (<= 0.014).
    joint = torch.tensor([0.45, 0.05, 0.05, 0.45], dtype=torch.float64)
    language = Enumerated(PAIR, joint)
    expected = ancestral_two_steps_law(joint, schedule)
    linear = ancestral_two_steps_law(joint, Linear())
    assert (expected - linear).abs().max() > 0.04  # the schedule matters here (4 SE <= 0.014)

    law = output_law(language.denoiser(), Ancestral(2, schedule), 2)
    torch.testing.assert_close(law.prob_of(PAIR), expected, rtol=0, atol=1e-12)

    n = N_SAMPLES
    tokens = mdm.sample(language.denoiser(), batch_size=n, length=2, unmasker=Ancestral(2, schedule),
                        temperature=1.0, seed=3).tokens
    freq = empirical(tokens).prob_of(PAIR)
    se = (expected * (1 - expected) / n).sqrt()
    assert ((freq - expected).abs() <= 4 * se).all(), (freq, expected)


@dataclasses.dataclass
class PlainSquare(Schedule):
    """A user's schedule as a plain (mutable, unhashable) dataclass: alpha = 1 - t^2."""

    def _alpha(self, t):
        return 1.0 - t**2

    def _dalpha(self, t):
        return -2.0 * t

    def _inverse(self, a):
        return (1.0 - a) ** 0.5


def test_a_plain_dataclass_schedule_works_in_every_sampler():
    language = Enumerated(PAIR, torch.tensor([0.45, 0.05, 0.05, 0.45], dtype=torch.float64))
    schedule = PlainSquare()
    law = output_law(language.denoiser(), Ancestral(2, schedule), 2)
    torch.testing.assert_close(law.prob_of(PAIR), ancestral_two_steps_law(language.probs, Polynomial(2.0)))
    out = mdm.sample(language.denoiser(), batch_size=4, length=2, unmasker=Scheduled(2, schedule), seed=0)
    assert out.tokens.shape == (4, 2)
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
