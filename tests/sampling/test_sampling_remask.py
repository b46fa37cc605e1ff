"""ReMDM (arXiv 2503.00307): eta = 0 is Ancestral (same tokens per seed, same law as the exact
enumeration), the sigma_t schedules keep MDLM's marginals, remasking really happens and never
touches the prompt, bad settings raise."""

import math

import pytest
import torch

import mdm
from mdm.errors import MDMError, SamplingError
from mdm.languages import HMM, Enumerated
from mdm.sampling import Ancestral, ReMDM
from mdm.sampling.exact import output_law
from mdm.sampling.remask import sigma_max
from mdm.schedules import Cosine, Linear


@pytest.fixture(scope="module")
def toy():
    return Enumerated([[0, 1, 2], [1, 1, 0], [2, 0, 2], [0, 0, 0]], [0.4, 0.3, 0.2, 0.1])


@pytest.mark.parametrize(("steps", "block_size", "schedule"), [(3, None, Linear()), (6, 3, Cosine()),
                                                                (10, None, Cosine())])
def test_eta_zero_gives_ancestral_tokens_for_the_same_seed(steps, block_size, schedule):
    hmm = HMM.random(n_states=3, vocab_size=4, seed=0)
    prompt = hmm.sample(5, 2, generator=torch.Generator().manual_seed(0))
    for strategy in ("cap", "rescale", "conf"):
        kw = dict(prompt=prompt, length=6, block_size=block_size, temperature=1.0, seed=3)
        a = mdm.sample(hmm.denoiser(), unmasker=Ancestral(steps, schedule), **kw)
        remdm = ReMDM(steps, eta=0.0, schedule=schedule, strategy=strategy)
        r = mdm.sample(hmm.denoiser(), unmasker=remdm, **kw)
        assert torch.equal(a.tokens, r.tokens) and torch.equal(a.nfe, r.nfe)


def test_eta_zero_has_the_exact_ancestral_law(toy):
    """n = 20000 draws of ReMDM(eta=0) against output_law(Ancestral) enumerated exactly: total
    variation below 0.02 (its sampling noise is about 0.006 with these outcomes; other schedules'
    laws differ from this one by 0.05 to 0.1)."""
    den, steps = toy.denoiser(), 2  # 2 steps on 3 positions: the factorisation error is visible
    law = output_law(den, Ancestral(steps), 3)
    truth = torch.exp(toy.log_prob(law.sequences))
    assert (law.probs - truth).abs().sum() / 2 > 0.05  # the law differs from the data: a real check
    out = mdm.sample(den, batch_size=20000, length=3, unmasker=ReMDM(steps, eta=0.0), temperature=1.0, seed=0)
    empirical = torch.stack([(out.tokens == s).all(dim=1).double().mean() for s in law.sequences])
    assert float(empirical.sum()) == pytest.approx(1.0)  # every draw lies in the enumerated support
    assert float((empirical - law.probs).abs().sum() / 2) < 0.02


@pytest.mark.parametrize("strategy", ["cap", "rescale"])
@pytest.mark.parametrize("loop_t", [None, (0.6, 0.2)])
def test_remasking_keeps_the_mdlm_marginal_mask_rate(strategy, loop_t):
    """One position's chain: P(masked at s) = P(masked at t)(1 - reveal) + P(clean at t) sigma_t must
    equal 1 - alpha(s) at every grid point (ReMDM's marginals are MDLM's)."""
    r = ReMDM(20, eta=0.3, schedule=Cosine(), strategy=strategy, loop_t=loop_t)
    masked = 1.0
    for step in range(20):
        a_t, a_s, sigma = r._step(step, 1)
        masked = masked * (1 - r.reveal_probability(step, 1)) + (1 - masked) * sigma
        assert masked == pytest.approx(1 - a_s, abs=1e-12)
        assert 0 <= sigma <= sigma_max(a_t, a_s)
    assert masked == 0.0
    if loop_t is not None:  # inside the loop alpha is held at alpha_on and sigma > 0
        assert r.alpha(0.5) == r.alpha(0.3) == 0.9 and r._step(10, 1)[2] > 0 and r._step(1, 1)[2] == 0


class Watch:
    """An exact oracle that checks every input keeps the prompt and counts revealed positions."""

    def __init__(self, den, prompt):
        self.den, self.prompt = den, prompt
        self.vocab_size, self.mask_id = den.vocab_size, den.mask_id
        self.supports_output_mask = True

    def __call__(self, x, attention_mask=None, output_mask=None):
        p = self.prompt.shape[1]
        assert (x[:, :p].unsqueeze(1) == self.prompt.unsqueeze(0)).all(-1).any(1).all()
        return self.den(x, output_mask=output_mask)


@pytest.mark.parametrize("strategy", ["cap", "rescale", "conf"])
def test_remasking_revises_tokens_and_never_touches_the_prompt(strategy):
    hmm = HMM.random(n_states=3, vocab_size=4, seed=1)
    prompt = hmm.sample(4, 3, generator=torch.Generator().manual_seed(0))
    den = Watch(hmm.denoiser(), prompt)
    kw = dict(prompt=prompt, length=4, temperature=1.0, seed=0, stop=2)
    plain = mdm.sample(den, unmasker=Ancestral(40), **kw)
    remdm = mdm.sample(den, unmasker=ReMDM(40, eta=1.0, strategy=strategy), **kw)
    assert torch.equal(remdm.tokens[:, :3], prompt) and not (remdm.tokens == hmm.denoiser().mask_id).any()
    assert int(plain.nfe.max()) <= 4  # each position is revealed once: at most one forward each
    assert int(remdm.nfe.sum()) > int(plain.nfe.sum())  # remasked positions were revealed again


def test_conf_remasks_the_least_confident_token_first():
    r = ReMDM(10, eta=1.0, strategy="conf")
    from mdm.sampling.unmaskers import StepState

    eligible = torch.tensor([[False, False, True]])
    state = StepState(5, 3, 1, eligible, torch.Generator().manual_seed(0))
    psi = torch.tensor([[0.99, 0.01, math.inf]], dtype=torch.float64)
    hits = torch.zeros(3)
    for _ in range(2000):
        hits += r.remask(state, ~eligible, psi)[0].float()
    assert hits[2] == 0 and hits[1] > 1.5 * hits[0] > 0


@pytest.mark.parametrize(("kwargs", "words"), [
    (dict(steps=0), "steps"), (dict(steps=4, eta=1.5), "eta"), (dict(steps=4, eta=float("nan")), "eta"),
    (dict(steps=4, strategy="maybe"), "strategy"), (dict(steps=4, loop_t=(0.2, 0.5)), "loop_t"),
    (dict(steps=4, loop_t=(0.5,)), "loop_t"), (dict(steps=4, loop_t=(0.5, 0.1), strategy="conf"), "loop"),
    (dict(steps=4, alpha_on=1.0), "alpha_on"), (dict(steps=4, schedule="linear"), "schedule"),
])
def test_bad_settings_raise(kwargs, words):
    with pytest.raises(SamplingError, match=words) as e:
        ReMDM(**kwargs)
    assert isinstance(e.value, MDMError)


def test_steps_must_split_over_blocks():
    hmm = HMM.random(n_states=3, vocab_size=4, seed=0)
    with pytest.raises(SamplingError, match="split evenly"):
        mdm.sample(hmm.denoiser(), length=6, block_size=3, unmasker=ReMDM(5))
