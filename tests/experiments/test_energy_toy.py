"""The energy paper's exact toy: computed output laws, checked in closed form and against sampling."""

import math

import numpy as np
import pytest
import torch

import mdm
from mdm.errors import SamplingError
from mdm.experiments.energy_schedules import toy
from mdm.languages import energy_toy_target
from mdm.sampling import Ancestral, Scheduled
from mdm.sampling.exact import ranked_output_law, sequence_codes
from mdm.schedules import BetaEnergy, Linear, unmask_counts

MC_SAMPLES = 20_000
# Empirical TV of 20,000 draws from a law on <= 32 strings is about 0.01 (sum of binomial
# fluctuations); 0.025 leaves room for that, while a wrong law is off by >= 0.06 (checked below).
MC_TOL = 0.025


def _target(name):
    return toy.dense_law(energy_toy_target(name), 2)


def _law(target, ab, sampler, steps=3):
    return toy.toy_law(energy_toy_target(target).denoiser(), BetaEnergy(*ab), steps, sampler, 5, {})


def _ranked(den, counts, proxy="confidence"):
    return toy.dense_law(ranked_output_law(den, 5, counts, proxy=proxy), 2)


def _empirical(x: torch.Tensor) -> np.ndarray:
    return np.bincount(sequence_codes(x, 2).numpy(), minlength=2**5) / x.shape[0]


def test_beta_references_are_linear_and_sin2():
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    assert torch.allclose(BetaEnergy(0.5, 0.5).alpha(t), Linear().alpha(t), atol=1e-12)
    assert torch.allclose(BetaEnergy(1.0, 1.0).alpha(t), torch.sin(math.pi / 2 * (1 - t)) ** 2, atol=1e-12)
    assert unmask_counts(BetaEnergy(0.5, 0.5), 5, 3) == unmask_counts(Linear(), 5, 3) == [2, 1, 2]
    assert unmask_counts(BetaEnergy(1.0, 1.0), 5, 3) == [1, 3, 1]


@pytest.mark.parametrize(
    "target, ab, sampler, kl, tv",
    [
        # A: two tokens drawn together from the empty context agree with probability 1/2.
        ("A", (0.5, 0.5), "scheduled/random", math.log(2), 0.5),
        ("A", (1.0, 1.0), "scheduled/random", 0.0, 0.0),  # one token first fixes the rest
        ("A", (1.0, 1.0), "scheduled/confidence", 0.0, 0.0),
        # B: everything at once = uniform on all 32 strings, of which 20 are in the support.
        ("B", (1.0, 0.2), "scheduled/random", math.log(32 / 20), 1 - 20 / 32),
    ],
)
def test_closed_form_values(target, ab, sampler, kl, tv):
    law = _law(target, ab, sampler)
    assert law.sum() == pytest.approx(1.0, abs=1e-12)
    assert toy.kl_divergence(_target(target), law) == pytest.approx(kl, abs=1e-12)
    assert toy.total_variation(_target(target), law) == pytest.approx(tv, abs=1e-12)


def test_target_b_three_then_one_then_one_is_exact():
    # Revealing 3 random positions independently then 1 + 1 reproduces B exactly (a symmetry of
    # B: averaged over which 3 positions go first, every string gets 1/20).
    law = _law("B", (0.1, 0.15), "scheduled/random")
    assert unmask_counts(BetaEnergy(0.1, 0.15), 5, 3) == [3, 1, 1]
    assert toy.total_variation(_target("B"), law) < 1e-12


def _mc(den, unmasker, seed):
    x = mdm.sample(den, batch_size=MC_SAMPLES, length=5, unmasker=unmasker, temperature=1.0, seed=seed).tokens
    return _empirical(x)


@pytest.mark.parametrize(
    "target, ab, sampler",
    [
        ("A", (0.5, 0.5), "scheduled/random"),
        ("B", (1.0, 1.0), "scheduled/random"),
        ("B", (0.5, 0.5), "scheduled/confidence"),
        ("B", (1.0, 1.0), "scheduled/confidence"),
        ("A", (0.9, 0.3), "ancestral/random"),
        ("B", (0.4, 0.55), "ancestral/random"),
    ],
)
def test_exact_law_matches_monte_carlo_through_mdm_sample(target, ab, sampler):
    den = energy_toy_target(target).denoiser()
    schedule = BetaEnergy(*ab)
    exact = _law(target, ab, sampler)
    kind, order = sampler.split("/")
    unmasker = Ancestral(3, schedule) if kind == "ancestral" else Scheduled(3, schedule, order)
    emp = _mc(den, unmasker, seed=11)
    assert toy.total_variation(exact, emp) < MC_TOL


def test_monte_carlo_check_would_catch_a_wrong_law():
    # The confidence enumerator with the wrong counts is far outside the tolerance.
    den = energy_toy_target("B").denoiser()
    emp = _mc(den, Scheduled(3, BetaEnergy(0.5, 0.5), "confidence"), seed=11)  # counts [2, 1, 2]
    wrong = _ranked(den, [1, 3, 1])
    assert toy.total_variation(wrong, emp) > 2 * MC_TOL


def test_ranked_enumerator_checks_its_input():
    den = energy_toy_target("A").denoiser()
    with pytest.raises(SamplingError, match="output_law"):
        _ranked(den, [2, 1, 2], proxy="random")
    with pytest.raises(SamplingError, match="sum to length"):
        _ranked(den, [2, 1, 1])
    law = _ranked(den, [2, 1, 2], proxy="entropy")
    assert law.sum() == pytest.approx(1.0)


def test_targets_prefer_different_schedules():
    res = toy.run_toy(toy.ToyConfig(grid=(0.1, 0.3, 0.5, 0.7, 1.0), samplers=("scheduled/random",)))
    best_a, best_b = (res["targets"][t]["best"]["scheduled/random"] for t in "AB")
    assert best_a["kl"] == pytest.approx(0.0, abs=1e-12) and best_a["counts"][0] <= 1  # slow start
    assert best_b["kl"] == pytest.approx(0.0, abs=1e-12) and best_b["counts"] == [3, 1, 1]  # fast start
    ref_a = res["targets"]["A"]["reference"]["scheduled/random"]
    assert ref_a["sin2=Beta(1,1)"]["frac_cells_better"] == 0.0
    assert ref_a["linear=Beta(0.5,0.5)"]["kl"] == pytest.approx(math.log(2))
    assert np.array(res["targets"]["B"]["heatmaps"]["scheduled/random"]["kl"]).shape == (5, 5)
    assert sum(res["distinct_counts"].values()) == 25 and len(res["distinct_counts"]) < 25
