"""The scaling part of ``mdm exp steps-vs-length``: the sampled TER of an order-4 language against
brute force, and the SER of a sparse one (the search and the fit: ``tests/eval/test_scaling.py``)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from mdm.experiments.steps_vs_length.scaling import sampled_error
from mdm.languages import NGram


def _one_or_two_step_law(language: NGram, length: int, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(all sequences, q(x)): the exact law of ``Ancestral(steps)`` for steps 1 or 2, by brute force.

    Linear schedule: with 2 steps each position is revealed in step 1 with probability 1/2 (a
    subset S, probability 2^-L), drawn from its marginal, independently of the others; the rest in
    step 2, each independently from p(x_j | x_S).  One step: S = every position.
    """
    v = language.vocab_size
    seqs = torch.tensor(list(itertools.product(range(v), repeat=length)))
    p = language.log_prob(seqs).exp()
    marg = torch.stack([torch.zeros(v, dtype=torch.float64).index_add_(0, seqs[:, i], p)
                        for i in range(length)])
    subsets = [(1,) * length] if steps == 1 else list(itertools.product((0, 1), repeat=length))
    q = torch.zeros(len(seqs), dtype=torch.float64)
    for s in subsets:
        first = torch.tensor(s, dtype=torch.bool)
        for k, x in enumerate(seqs):
            prob = marg[first.nonzero().flatten(), x[first]].prod()
            agree = (seqs[:, first] == x[first]).all(1)
            for j in (~first).nonzero().flatten():
                prob = prob * p[agree & (seqs[:, j] == x[j])].sum() / p[agree].sum()
            q[k] += prob / len(subsets)
    return seqs, q


@pytest.mark.parametrize("steps", [1, 2])
def test_sampled_ter_of_an_order_4_language_equals_brute_force(steps):
    """Order 4 over 2 tokens at L = 5 (full support): E_q[-log p(x)] / L - H / L from the exact law q
    of the sampler, against 20,000 samples; tolerance 4 standard errors of the sample mean."""
    language, length, count = NGram.random(2, order=4, branching=2, seed=11), 5, 20_000
    seqs, q = _one_or_two_step_law(language, length, steps)
    nll = -language.log_prob(seqs) / length
    h = language.entropy(length).value / length
    want = float((q * nll).sum()) - h
    sd = math.sqrt(float((q * (nll - (q * nll).sum()) ** 2).sum()))
    got = sampled_error(language, "ter", length, count, steps, seed=5)
    assert want > 0.05  # the step budget really costs something here
    assert abs(got - want) < 4 * sd / math.sqrt(count), (got, want)


def test_sampled_ser_counts_impossible_sequences():
    sparse = NGram.random(3, order=3, branching=1, seed=2)  # one successor per context
    assert sampled_error(sparse, "ser", 12, 256, 12 * 64, seed=0) < 0.1  # ~one token per step
    assert sampled_error(sparse, "ser", 12, 256, 1, seed=0) > 0.9  # all at once: independent marginals


def test_invalid_window_mass_by_hand():
    """Alternating chain 0 -> 1 -> 0 (marginals 1/2, 1/2): an independent pair is impossible iff it
    repeats a token, c = 1/2.  A chain whose tokens 0, 1 may all follow each other (2 only at the
    start, never re-entered): c = 0, whatever the probabilities."""
    from mdm.experiments.steps_vs_length.scaling import invalid_window_mass

    alternating = NGram(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([0.5, 0.5]))
    assert invalid_window_mass(alternating) == pytest.approx(0.5, abs=1e-12)
    closed = NGram(torch.tensor([[0.3, 0.7, 0.0], [0.6, 0.4, 0.0], [1.0, 0.0, 0.0]]),
                   torch.tensor([0.0, 0.0, 1.0]))
    assert invalid_window_mass(closed) == pytest.approx(0.0, abs=1e-12)
    # Order 3 over {0, 1}: x_t = x_{t-2} (period-2 patterns); an independent triple breaks it w.p. 1/2.
    period = torch.zeros(2, 2, 2)
    period[0, :, 0] = period[1, :, 1] = 1.0
    assert invalid_window_mass(NGram(period, torch.full((2, 2), 0.25))) == pytest.approx(0.5, abs=1e-12)
