"""Rollouts: groups, NFE, replay from the recorded generator state, and -- with the random-order
one-token-per-step sampler -- the exact distribution whose log-likelihood the estimators target."""

from __future__ import annotations

import itertools
import math

import torch

from mdm.rl.rollout import RolloutSettings, replay, rollout
from mdm.rl.tabular import TabularPolicy, exact_log_prob


def test_random_order_rollouts_follow_the_exact_likelihood():
    policy = TabularPolicy(2, 4, scale=1.5, seed=0)
    prompts = torch.tensor([[1], [0]])
    n = 12000
    out = rollout(
        policy,
        prompts,
        n,
        RolloutSettings(length=3, unmasker="topk:k=1,proxy=random"),
        torch.Generator().manual_seed(0),
    )
    assert out.tokens.shape == (2 * n, 4) and (out.nfe == 3).all()
    assert (out.tokens[:n, 0] == 1).all() and (out.tokens[n:, 0] == 0).all()  # row p * G + g
    for p, prompt in enumerate((1, 0)):
        rows = out.tokens[p * n : (p + 1) * n, 1:]
        for o in itertools.product((0, 1), repeat=3):
            freq = float((rows == torch.tensor(o)).all(1).double().mean())
            prob = float(exact_log_prob(policy, torch.tensor([prompt, *o]), 1).detach().exp())
            assert abs(freq - prob) <= 4.5 * math.sqrt(prob * (1 - prob) / n) + 1e-4, (o, freq, prob)


def test_replay_is_exact_and_blocks_stop_and_eligible_are_recorded():
    policy = TabularPolicy(3, 4, scale=1.0, seed=1)
    prompts = torch.tensor([[0, 1], [2, 2], [1, 0]])
    s = RolloutSettings(length=2, unmasker="topk:k=1", block_size=1, temperature=1.0, stop=(2,))
    g = torch.Generator().manual_seed(5)
    first = rollout(policy, prompts, 4, s, g)
    again = replay(policy, prompts, 4, s, first)
    assert torch.equal(first.tokens, again.tokens) and torch.equal(first.nfe, again.nfe)
    assert first.eligible[:, 2:].all() and not first.eligible[:, :2].any()
    assert (first.nfe >= 1).all() and (first.nfe <= 2).all()
    assert torch.equal(first.tokens[:, :2], prompts.repeat_interleave(4, 0))
