"""Likelihood estimators against the exact log-likelihood of a tabular policy (mdm.rl.tabular).

Toy: V = 2 clean tokens, L = 4, prompt length 1, completion 3 (6 orders); logit scale 2 makes the
conditionals far from consistent, so ELBO < log p < U_beta strictly.  Each Monte-Carlo check uses a
fixed seed, M i.i.d. estimates per sequence, and a tolerance of 4.5 standard errors (plus 0.01 nats
for the t_eps = 1e-3 truncation of the ELBO's time integral).
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from mdm.masking import AntitheticTime, StratifiedTime
from mdm.rl.likelihood import Elbo, OneStep, PerSequenceTime, RenyiUpper, order_log_ratios
from mdm.rl.tabular import (
    TabularPolicy,
    exact_elbo,
    exact_log_prob,
    exact_log_ratios,
    exact_one_step,
    exact_upper,
)

P = 1
SEQS = torch.tensor([[0, 1, 1, 0], [1, 0, 1, 0], [1, 1, 0, 0]])  # ELBOs -5.7, -1.9, -7.3: far apart


@pytest.fixture(scope="module")
def policy():
    return TabularPolicy(2, 4, scale=2.0, seed=3)


def _draws(estimator, policy, m: int, seed: int = 0) -> torch.Tensor:
    """``[m, S]`` i.i.d. estimates (one per repeated row)."""
    g = torch.Generator().manual_seed(seed)
    x = SEQS.repeat(m, 1)
    with torch.no_grad():
        est = estimator(policy, x, P, g)
    return est.sequence().view(m, len(SEQS)).double()


def _close(draws: torch.Tensor, target: torch.Tensor, slack: float = 0.0) -> None:
    mean, se = draws.mean(0), draws.std(0) / math.sqrt(len(draws))
    assert ((mean - target).abs() <= 4.5 * se + slack).all(), (mean, target, se)


def test_the_toy_separates_the_bounds(policy):
    for s in SEQS:
        lp = exact_log_prob(policy, s, P)
        assert exact_elbo(policy, s, P) < lp - 0.05
        for beta in (1.5, 2.0, 4.0):
            assert exact_upper(policy, s, P, beta) > lp + 0.01
        assert torch.isclose(exact_upper(policy, s, P, 1.0), lp)


@pytest.mark.parametrize(
    "times,masks,k",
    [
        ("uniform", "bernoulli", 1),
        ("antithetic", "bernoulli", 2),
        ("stratified", "bernoulli", 4),
        ("uniform", "mirror", 1),
        ("antithetic", "mirror", 2),
    ],
)
def test_elbo_estimate_is_unbiased_for_the_elbo_and_below_log_p(policy, times, masks, k):
    draws = _draws(Elbo(draws=k, time_sampler=times, mask_sampler=masks), policy, 6000)
    elbo = torch.stack([exact_elbo(policy, s, P) for s in SEQS]).detach()
    logp = torch.stack([exact_log_prob(policy, s, P) for s in SEQS]).detach()
    _close(draws, elbo, slack=0.01)
    se = draws.std(0) / math.sqrt(len(draws))
    assert (draws.mean(0) + 4.5 * se < logp).all()  # the sign: below log p in expectation
    print(times, masks, k, "bias vs log p", (draws.mean(0) - logp).tolist(), "sd", draws.std(0).tolist())


def test_order_ratios_match_the_enumeration(policy):
    # every one of the 6 orders is drawn; the set of values drawn must be the exact log R_sigma set
    g = torch.Generator().manual_seed(1)
    scored = torch.zeros_like(SEQS, dtype=torch.bool)
    scored[:, P:] = True
    with torch.no_grad():
        r = order_log_ratios(policy, SEQS, scored, 200, g)
    for j, s in enumerate(SEQS):
        exact = exact_log_ratios(policy, s, P).detach()
        drawn = r[:, j]
        assert (torch.cdist(drawn.view(-1, 1), exact.view(-1, 1)).min(1).values < 1e-9).all()
        assert torch.isclose(drawn.mean(), exact.mean(), atol=4.5 * exact.std() / math.sqrt(200))


def _expected_upper(policy, s, beta, k):
    """E over K i.i.d. uniform orders of the K-order estimate, by enumerating all 6^K tuples."""
    r = exact_log_ratios(policy, s, P).detach()
    vals = [
        (torch.logsumexp(beta * r[list(c)], 0) - math.log(k)) / beta
        for c in itertools.product(range(len(r)), repeat=k)
    ]
    return torch.stack(vals).mean()


@pytest.mark.parametrize("beta,k", [(2.0, 1), (2.0, 3), (4.0, 2)])
def test_upper_estimate_has_the_expectation_derived(policy, beta, k):
    draws = _draws(RenyiUpper(beta=beta, draws=k), policy, 4000, seed=2)
    target = torch.stack([_expected_upper(policy, s, beta, k) for s in SEQS])
    _close(draws, target)


def test_upper_estimate_is_above_log_p_with_enough_orders(policy):
    beta = 2.0
    draws = _draws(RenyiUpper(beta=beta, draws=48), policy, 800, seed=4)
    logp = torch.stack([exact_log_prob(policy, s, P) for s in SEQS]).detach()
    upper = torch.stack([exact_upper(policy, s, P, beta) for s in SEQS]).detach()
    se = draws.std(0) / math.sqrt(len(draws))
    assert (draws.mean(0) - 4.5 * se > logp).all()
    assert (draws.mean(0) <= upper + 4.5 * se).all()  # log of a mean: biased low, never above U_beta
    print(
        "upper K=48 bias vs log p", (draws.mean(0) - logp).tolist(), "vs U", (draws.mean(0) - upper).tolist()
    )
    # with one order the estimate is log R_sigma, whose mean is the ELBO: below log p
    one = _draws(RenyiUpper(beta=beta, draws=1), policy, 4000, seed=5)
    assert (one.mean(0) < logp).all()


def test_one_step_estimate_matches_its_expectation_and_reports_its_bias(policy):
    draws = _draws(OneStep(p_mask=0.3), policy, 4000, seed=6)
    target = torch.stack([exact_one_step(policy, s, P, 0.3) for s in SEQS]).detach()
    _close(draws, target)
    logp = torch.stack([exact_log_prob(policy, s, P) for s in SEQS]).detach()
    print("one-step bias vs log p", (target - logp).tolist())
    per_token = OneStep(p_mask=0.0)(policy, SEQS, P, torch.Generator().manual_seed(0))
    assert per_token.logp.shape == (3, 3) and per_token.mask.all()
    assert torch.allclose(
        per_token.sequence(), torch.stack([exact_one_step(policy, s, P, 0.0) for s in SEQS])
    )


def test_per_sequence_times_are_stratified_and_antithetic_within_each_sequence():
    g = torch.Generator().manual_seed(0)
    t, w = PerSequenceTime(StratifiedTime(eps=0.0), 4)(4 * 5, generator=g)
    strata = (t.view(4, 5) * 4).floor().long()  # row k * B + b: draw k of sequence b
    assert torch.equal(strata.sort(0).values, torch.arange(4).view(4, 1).expand(4, 5)) and (w == 1).all()
    t, _ = PerSequenceTime(AntitheticTime(eps=0.0), 2)(2 * 7, generator=g)
    assert torch.allclose(t.view(2, 7).sum(0), torch.ones(7))


def test_elbo_estimate_agrees_with_mdm_elbo_on_a_transformer():
    """On a (random, time-independent) transformer through the output-mask path: the RL ELBO estimate
    and ``mdm.elbo``'s discrete estimator have the same expectation (4.5 combined SE)."""
    import mdm
    from mdm.losses import elbo_draws
    from mdm.models.transformer import TransformerConfig, TransformerDenoiser

    torch.manual_seed(0)
    model = TransformerDenoiser(
        TransformerConfig(vocab_size=6, mask_id=5, d_model=16, n_layers=1, n_heads=2, max_len=6)
    ).eval()
    x = torch.tensor([[0, 1, 2, 3, 4, 0], [4, 4, 3, 2, 1, 0]])
    ours = _draws_on(Elbo(draws=1, time_sampler="stratified"), model, x, 2, 4000)
    ref = -elbo_draws(model, x, samples=4000, prompt_len=2, seed=1)
    se = (ours.var(0) / len(ours) + ref.var(0) / len(ref)).sqrt()
    assert ((ours.mean(0) - ref.mean(0)).abs() < 4.5 * se + 0.01).all(), (ours.mean(0), ref.mean(0), se)
    assert mdm.elbo is not None


def _draws_on(estimator, model, x, prompt_len, m, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return estimator(model, x.repeat(m, 1), prompt_len, g).sequence().view(m, len(x)).double()
