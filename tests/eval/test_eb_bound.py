"""The EB-sampler's bound TC(S) <= sum H - max H, checked on exact HMM joints."""

import json
import math

import pytest
import torch

from mdm.errors import LanguageError
from mdm.eval import eb_bound as eb
from mdm.languages import HMM

LENGTH = 5


@pytest.fixture(scope="module")
def hmm():
    return HMM.random(3, 3, seed=0)  # V = 3 and one token per state: sparse, strongly correlated


def _partial(language, masked, seed):
    x = language.sample(1, LENGTH, torch.Generator().manual_seed(seed))[0]
    x[list(masked)] = language.mask_id
    return x


def _brute_joint(language, x, positions):
    """p(x_S | clean) by summing log_prob over all V^L sequences consistent with the clean tokens."""
    v = language.vocab_size
    seqs = torch.cartesian_prod(*[torch.arange(v)] * LENGTH)
    clean = x != language.mask_id
    w = language.log_prob(seqs).exp() * (seqs[:, clean] == x[clean]).all(dim=1)
    joint = torch.zeros([v] * len(positions), dtype=torch.float64)
    joint.index_put_(tuple(seqs[:, positions].T), w, accumulate=True)
    return joint / joint.sum()


@pytest.mark.parametrize(("masked", "positions", "seed"), [
    ((0, 2, 3), [3, 0], 1),  # axes follow the order given, not the position order
    ((0, 2, 3), [0, 2, 3], 2),
    (tuple(range(LENGTH)), [1, 4], 3),  # nothing clean
    ((1, 2, 3, 4), [4, 1, 2, 3], 4),
])
def test_joint_matches_enumerating_every_sequence(hmm, masked, positions, seed):
    x = _partial(hmm, masked, seed)
    got = eb.set_joint_log_probs(hmm, x, positions)
    want = _brute_joint(hmm, x, positions)
    assert got.shape == (hmm.vocab_size,) * len(positions) and got.dtype == torch.float64
    assert torch.equal(torch.isinf(got), want == 0)  # the same impossible assignments
    assert torch.allclose(got.exp(), want, rtol=0, atol=1e-10)
    assert abs(float(got.exp().sum()) - 1) < 1e-12
    assert (want == 0).any()  # the sparse HMM makes some assignments impossible: the -inf path is tested


def test_total_correlation_closed_forms():
    p, q = torch.tensor([0.2, 0.8], dtype=torch.float64), torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    assert abs(eb.total_correlation((p[:, None] * q[None]).log())) < 1e-12  # product: independent
    copies = torch.tensor([[0.5, 0.0], [0.0, 0.5]], dtype=torch.float64)  # two copies of a fair bit
    assert eb.total_correlation(copies.log()) == pytest.approx(math.log(2), abs=1e-12)
    assert eb.eb_quantity([math.log(2), math.log(2)]) == pytest.approx(math.log(2), abs=1e-12)  # tight
    noisy = torch.tensor([[0.4, 0.1], [0.1, 0.4]], dtype=torch.float64)  # uniform marginals
    want = 2 * math.log(2) + 0.8 * math.log(0.4) + 0.2 * math.log(0.1)
    assert eb.total_correlation(noisy.log()) == pytest.approx(want, abs=1e-12)
    assert eb.eb_quantity([0.3, 1.0, 0.2]) == pytest.approx(0.5, abs=1e-15)


@pytest.fixture(scope="module")
def result(hmm):
    return eb.check_bound(hmm, length=8, n_trials=30, seed=0)


def test_bound_holds_is_not_vacuous_and_eb_sets_respect_gamma(result):
    for k, s in result["random_sets"].items():
        assert s["n"] >= 20 and s["holds"] == 1.0, k
    assert max(s["ratio_max"] for s in result["random_sets"].values()) > 0.01  # TC is not always 0
    for gamma, s in result["eb_sets"].items():
        assert s["n"] == 30 and s["skipped"] == 0 and s["holds"] == 1.0
        assert s["tc_max"] <= float(gamma) + eb.HOLD_TOL, gamma
    assert any(s["size_mean"] > 1 and s["tc_max"] > 1e-6 for s in result["eb_sets"].values())
    # A bound ten times smaller is false: the check can fail.
    raw = result["raw"]
    assert any(tc > 0.1 * b + eb.HOLD_TOL for tc, b in zip(raw["tc"], raw["bound"], strict=True))
    assert json.loads(json.dumps(result)) == result


def test_check_bound_is_seeded(hmm, result):
    again = eb.check_bound(hmm, length=8, n_trials=30, seed=0)
    assert again["raw"] == result["raw"] and again["eb_raw"] == result["eb_raw"]


def test_bad_sets_raise(hmm):
    x = _partial(hmm, (0, 1), 5)
    with pytest.raises(LanguageError, match="not masked"):
        eb.set_joint_log_probs(hmm, x, [0, 3])
    with pytest.raises(LanguageError, match="distinct"):
        eb.set_joint_log_probs(hmm, x, [0, 0])
    big = HMM.random(2, 10, seed=0)
    with pytest.raises(LanguageError, match="exceeds"):
        eb.set_joint_log_probs(big, torch.full((7,), big.mask_id), range(7))
