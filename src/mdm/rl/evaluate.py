"""Held-out evaluation of an RL run: per-problem rewards of greedy rollouts, and the paired bootstrap
CI of the change over several RL seeds.  ``mdm exp rl`` (:mod:`mdm.experiments.rl`) scores with
:func:`held_out_rewards` and reports its differences with :mod:`mdm.eval.stats` (per problem, and
the two-stage :func:`~mdm.eval.stats.paired_difference_clustered` over seeds).

The paired bootstrap (Efron & Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 16; over
seeds as well, a two-level resample): with per-problem scores ``before [n]`` (the SFT model) and
``after [S, n]`` (S RL seeds), each replicate draws ``n`` problems with replacement (the same problems
for both sides: paired) and ``S`` seeds with replacement, and computes

    delta* = mean_s mean_i (after[s*, i*] - before[i*]);

the CI is the percentile interval of ``delta*``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mdm.errors import ConfigError
from mdm.rl.rewards import Reward
from mdm.rl.rollout import RolloutSettings, rollout

__all__ = ["held_out_rewards", "PairedCI", "paired_bootstrap"]


@torch.no_grad()
def held_out_rewards(
    model,
    prompts: torch.Tensor,
    reward: Reward,
    settings: RolloutSettings,
    *,
    batch_size: int = 256,
    seed: int = 0,
) -> torch.Tensor:
    """The reward of one completion per prompt (``settings``; temperature 0 for greedy), float ``[n]``."""
    was = model.training
    model.eval()
    g = torch.Generator(device=prompts.device).manual_seed(seed)
    out = []
    try:
        for start in range(0, len(prompts), batch_size):
            ro = rollout(model, prompts[start : start + batch_size], 1, settings, g)
            out.append(reward(ro.tokens.cpu(), ro.prompt_len))
    finally:
        model.train(was)
    return torch.cat(out)


@dataclass(frozen=True)
class PairedCI:
    """The mean change ``delta`` and its percentile interval ``[low, high]`` at ``level``."""

    delta: float
    low: float
    high: float
    level: float


def paired_bootstrap(
    before: torch.Tensor,
    after: torch.Tensor,
    *,
    iters: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    resample_seeds: bool = True,
) -> PairedCI:
    """Paired (problems) and seed-resampled bootstrap CI of ``mean(after) - mean(before)`` (module
    docstring); ``before [n]``, ``after [S, n]`` (or ``[n]`` for one seed).  ``resample_seeds=False``
    keeps the seeds fixed (valid when seeds differ only by problem-level noise; the two-level
    interval is then conservative: 99.3% coverage at level 0.95 in ``tests/rl/test_evaluate.py``)."""
    before = torch.as_tensor(before, dtype=torch.float64)
    after = torch.as_tensor(after, dtype=torch.float64)
    if after.dim() == 1:
        after = after.unsqueeze(0)
    if before.dim() != 1 or after.dim() != 2 or after.shape[1] != before.shape[0] or before.numel() == 0:
        raise ConfigError(
            f"paired_bootstrap needs before [n] and after [S, n], got {tuple(before.shape)}, "
            f"{tuple(after.shape)}"
        )
    if not 0 < level < 1 or iters < 1:
        raise ConfigError(f"level must be in (0, 1) and iters >= 1, got {level}, {iters}")
    g = torch.Generator().manual_seed(seed)
    n, s = before.numel(), after.shape[0]
    diff = after - before  # [S, n]
    problems = torch.randint(0, n, (iters, n), generator=g)
    seeds = (
        torch.randint(0, s, (iters, s), generator=g) if resample_seeds else torch.arange(s).expand(iters, s)
    )
    rows = diff[seeds]  # [iters, S, n]
    stats = rows.gather(2, problems.unsqueeze(1).expand(-1, s, -1)).mean((1, 2))
    alpha = (1 - level) / 2
    low, high = torch.quantile(stats, torch.tensor([alpha, 1 - alpha], dtype=torch.float64)).tolist()
    return PairedCI(float(diff.mean()), low, high, level)
