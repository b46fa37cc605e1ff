"""Held-out rewards and the paired bootstrap CI (coverage checked by simulation)."""

from __future__ import annotations

import torch

from mdm.rl.evaluate import held_out_rewards, paired_bootstrap
from mdm.rl.rollout import RolloutSettings
from mdm.rl.tabular import TabularPolicy


def test_paired_bootstrap_covers_a_known_difference():
    # before ~ Bernoulli(0.3); each of 3 seeds flips wrong answers to right w.p. 0.1: true delta 0.07.
    # Over 300 simulated studies (n = 200 problems) the 95% interval over problems must cover 0.07 in
    # 90-99% of them (binomial 300 x 0.95 has sd 3.8 studies = 1.3%); resampling seeds too (no seed
    # effect here) is conservative: measured 298 / 300.
    g = torch.Generator().manual_seed(0)
    hits = {True: 0, False: 0}
    for k in range(300):
        before = (torch.rand(200, generator=g) < 0.3).double()
        flips = (torch.rand(3, 200, generator=g) < 0.1).double()
        after = torch.maximum(before.expand(3, -1), flips)
        for both in (True, False):
            ci = paired_bootstrap(before, after, iters=400, seed=k, resample_seeds=both)
            hits[both] += ci.low <= 0.07 <= ci.high
    assert 270 <= hits[False] <= 297 and hits[True] >= 285, hits


def test_paired_bootstrap_is_exact_for_a_constant_change_and_pairs_problems():
    before = torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0])
    ci = paired_bootstrap(before, before + 0.5, iters=200)
    assert ci.delta == 0.5 and ci.low == 0.5 and ci.high == 0.5
    # a broken (unpaired) version would resample the two sides separately and give a wide interval
    noisy = torch.rand(400, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    paired = paired_bootstrap(noisy, noisy + 0.01, iters=500)
    assert paired.high - paired.low < 1e-12


def test_held_out_rewards_are_one_per_prompt_and_deterministic():
    policy = TabularPolicy(2, 4, seed=2)
    prompts = torch.tensor([[0], [1], [0], [1], [1]])
    reward = lambda tokens, p: (tokens[:, p:] == 1).double().mean(1)  # noqa: E731
    s = RolloutSettings(length=3, temperature=0.0)
    a = held_out_rewards(policy, prompts, reward, s, batch_size=2)
    assert a.shape == (5,) and torch.equal(a, held_out_rewards(policy, prompts, reward, s, batch_size=5))
    assert torch.equal(a[0], a[2]) and torch.equal(a[1], a[3])  # greedy: the same prompt, the same answer
