"""The scaled forward-backward of ``SparseChain`` against the log-space reference path and brute
force: same support, same probabilities to 1e-9, including the rows it must hand to the reference."""

import itertools
import math

import pytest
import torch

from mdm.languages import HMM, NGram

LANGUAGES = {
    "hmm": lambda: HMM.random(8, 8, seed=0, successors=2, emitted=4),
    "hmm-dense": lambda: HMM.random(5, 3, seed=3, successors=5, emitted=3),
    "bigram": lambda: NGram.random(8, order=2, branching=2, seed=0),
    "trigram": lambda: NGram.random(4, order=3, branching=2, seed=1),
    "unigram": lambda: NGram.random(4, order=1, branching=3, seed=2),
}


def _masked(lang, n: int, length: int, seed: int) -> torch.Tensor:
    """Samples plus random (mostly impossible) rows, each row masked at its own random rate."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randint(0, lang.vocab_size, (n // 4, length), generator=g)
    x = torch.cat([lang.sample(n, length, g), noise])
    rate = torch.rand(x.shape[0], 1, generator=g)
    return torch.where(torch.rand(x.shape, generator=g) < rate, lang.vocab_size, x)


def _normalised(joint: torch.Tensor) -> torch.Tensor:
    return joint - torch.logsumexp(joint, -1, keepdim=True)


@pytest.mark.parametrize("name", list(LANGUAGES))
@pytest.mark.parametrize("length", [1, 6, 48])
def test_scaled_equals_log_space_reference(name, length):
    lang = LANGUAGES[name]()
    xm = _masked(lang, 64, length, seed=length)
    fast = lang.chain.log_joint_masked(xm, lang.mask_id)
    ref = lang.chain.log_joint_masked_exact(xm, lang.mask_id)
    possible = torch.isfinite(torch.logsumexp(ref, -1))
    assert torch.equal(torch.isfinite(torch.logsumexp(fast, -1)), possible)
    p, q = _normalised(fast[possible]), _normalised(ref[possible])
    assert torch.equal(torch.isinf(p), torch.isinf(q))
    assert (p.exp() - q.exp()).abs().max() < 1e-9
    assert (p[torch.isfinite(q)] - q[torch.isfinite(q)]).abs().max() < 1e-9
    x = torch.where(xm == lang.mask_id, 0, xm)
    lp, lq = lang.log_prob(x), lang.chain.log_prob_exact(x)
    assert torch.equal(torch.isinf(lp), torch.isinf(lq))
    assert (lp[torch.isfinite(lq)] - lq[torch.isfinite(lq)]).abs().max() < 1e-9


@pytest.mark.parametrize("name", ["hmm", "trigram"])
def test_conditionals_equal_brute_force_to_1e9(name):
    lang, length = LANGUAGES[name](), 4
    seqs = torch.tensor(list(itertools.product(range(lang.vocab_size), repeat=length)))
    p = lang.log_prob(seqs).exp()
    assert abs(float(p.sum()) - 1) < 1e-12
    xm = _masked(lang, 32, length, seed=0)
    cond = lang.log_conditionals(xm).exp()
    for b in range(xm.shape[0]):
        clean = xm[b] != lang.mask_id
        w = p * ((seqs == xm[b]) | ~clean).all(dim=1)
        if w.sum() == 0:
            continue  # impossible evidence: uniform, checked in test_chain_languages
        for i in (~clean).nonzero().flatten().tolist():
            want = torch.zeros(lang.vocab_size, dtype=torch.float64).index_add_(0, seqs[:, i], w)
            assert (cond[b, i] - want / want.sum()).abs().max() < 1e-9


def test_vanishing_state_is_kept_by_the_reference_path():
    """State 1 starts at 1e-50 and emits the observed 'a' with 0.01: after 150 a's its scaled
    value (1e-350) underflows to 0, and a final 'b' is possible only through it."""
    tiny = 1e-50
    lang = HMM(initial=[1 - tiny, tiny], transition=[[1.0, 0.0], [0.0, 1.0]],
               emission=[[1.0, 0.0], [0.01, 0.99]])
    n = 150
    x = torch.tensor([[0] * n + [1]])
    want = math.log(tiny) + n * math.log(0.01) + math.log(0.99)
    assert lang.log_prob(x).item() == pytest.approx(want, rel=1e-12)
    _, _, risky = lang.chain.scaled(x, posteriors=False)
    assert risky.all()
    # Masked last position: 'b' keeps its (tiny) probability instead of being rounded to 0.
    xm = x.clone()
    xm[0, -1] = lang.mask_id
    cond = lang.log_conditionals(xm)[0, -1]
    assert math.isfinite(cond[1].item())
    assert cond[1].item() == pytest.approx(math.log(tiny) + n * math.log(0.01) + math.log(0.99), rel=1e-9)


def test_denoiser_output_mask_selects_positions():
    lang = LANGUAGES["hmm"]()
    xm = _masked(lang, 16, 7, seed=3)
    where = torch.rand(xm.shape, generator=torch.Generator().manual_seed(1)) < 0.5
    den = lang.denoiser()
    assert den.supports_output_mask
    assert torch.equal(den(xm, output_mask=where), den(xm)[where])
