"""The parts of ``mdm exp rl``: the SFT start and the RL arms, each trained by :func:`mdm.train.train`
(through :func:`mdm.experiments.training.finished_checkpoint`: trained when missing, reused when
finished) and scored per problem by greedy exact match (:func:`mdm.rl.evaluate.held_out_rewards`).

An RL arm trains once per learning rate in ``setup.lrs`` from the seed's SFT checkpoint and keeps the
one with the best validation accuracy (:func:`mdm.eval.stats.choose_on_validation`, rule
:func:`~mdm.eval.stats.best_on_validation`; the first listed on ties); its test
correctness is what the experiment reports.  All arms run the same prompts (same seed and data), group
size, inner updates and steps: equal rollouts.  An arm with ``lr_from`` (``spg-plain``) trains only at
the rate its source arm chose, so the pair differs in the arm's overrides alone.  Validation and test
problems: :func:`held_out_split` of the task's held-out split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mdm.errors import ConfigError

__all__ = ["ARMS", "Arm", "MIRROR", "RLSetup", "SWITCH_OFF", "correctness", "held_out_split", "resolved",
           "rl_arm", "sft_start"]



@dataclass(frozen=True)
class Arm:
    """An RL arm: the packaged RL ``config`` it trains with (its loss section: the objective), its own
    ``overrides``, whether it takes the setup's SPG overrides (``spg``), and ``lr_from``: None to
    choose its learning rate on validation among ``setup.lrs``, or another arm whose chosen rate it
    trains at (so the two differ in ``overrides`` alone)."""

    config: str
    overrides: tuple[str, ...] = ()
    spg: bool = False
    lr_from: str | None = None


# The variance-reduction switch of SPG's ELBO, at equal compute (2 model rows per sequence): the
# packaged rl-arithmetic-spg.yaml draws an antithetic pair of times per sequence (2 draws, Bernoulli
# masks); off (spg-plain) draws the 2 times independently; MIRROR (spg-mirror) draws one time and a
# MIRROR pair of masks.
SWITCH_OFF = ("loss.time_sampler=uniform", "loss.mask_sampler=bernoulli")
MIRROR = ("loss.time_sampler=uniform", "loss.mask_sampler=mirror", "loss.elbo_draws=1")
ARMS = {
    "diffu-grpo": Arm("rl-arithmetic"),
    "spg": Arm("rl-arithmetic-spg", spg=True),
    "spg-plain": Arm("rl-arithmetic-spg", SWITCH_OFF, spg=True, lr_from="spg"),
    "spg-mirror": Arm("rl-arithmetic-spg", MIRROR, spg=True, lr_from="spg"),
}
REWARD = {"reverse": True, "format_penalty": 0.0}  # reward = 1[exact match]


@dataclass(frozen=True)
class RLSetup:
    """``task``: overrides of the model and data sections, shared by the SFT and RL runs; ``sft``: the
    SFT run's other overrides; ``rl``: both arms' overrides (steps, prompts, group size...); ``spg``: the
    SPG arm's own; ``lrs``: the RL learning rates chosen among on validation; ``n_valid``: validation
    problems and ``n_test`` test problems (one held-out draw cut in two, :func:`held_out_split`);
    ``var_prompts``, ``var_repeats``, ``var_upper_repeats``: the fixed batch and estimator seeds of the
    ``variance`` part (:mod:`mdm.experiments.rl.spread`)."""

    task: tuple[str, ...]
    n_test: int
    sft: tuple[str, ...]
    rl: tuple[str, ...]
    spg: tuple[str, ...]
    lrs: tuple[float, ...]
    n_valid: int
    var_prompts: int = 4
    var_repeats: int = 3
    var_upper_repeats: int = 2


def resolved(setup: RLSetup, arm: str | None) -> dict:
    """The training config the SFT run (``arm`` None) or an RL arm resolves to, before the seed, the
    start and the learning rate, as far as the model depends on it (:func:`mdm.train.compat.model_identity`):
    a part's cache key, so editing a packaged YAML retrains."""
    from mdm.train import load_config
    from mdm.train.compat import model_identity

    if arm is None:
        return model_identity(load_config("arithmetic-small", [*setup.task, *setup.sft]).to_dict())
    return model_identity(load_config(ARMS[arm].config, _arm_overrides(setup, arm)).to_dict())


def _arm_overrides(setup: RLSetup, arm: str) -> list[str]:
    a = ARMS[arm]
    return [*setup.task, *setup.rl, *(setup.spg if a.spg else ()), *a.overrides]


def _model_dir(ctx, name: str, seed: int) -> Path:
    from mdm.experiments.training import seeded

    return ctx.out_dir / "models" / seeded(name, seed)


def correctness(ckpt: Path, split) -> list[int]:
    """Greedy (``topk:k=1``, temperature 0) exact match of the checkpoint's model on each problem of
    ``split``, in order: 1 correct, 0 not."""
    import torch

    from mdm.rl.evaluate import held_out_rewards
    from mdm.rl.policy import prompt_length
    from mdm.rl.rewards import REWARDS
    from mdm.rl.rollout import RolloutSettings
    from mdm.train import checkpoint

    model, tokenizer = checkpoint.load(ckpt)
    ids = torch.stack([split[i]["input_ids"] for i in range(len(split))])
    eligible = torch.stack([split[i]["eligible"] for i in range(len(split))])
    p = prompt_length(eligible)
    eos, pad = getattr(tokenizer, "eos_id", None), getattr(tokenizer, "pad_id", None)
    settings = RolloutSettings(length=ids.shape[1] - p, unmasker="topk:k=1", temperature=0.0,
                               stop=None if eos is None else (eos,), pad_id=pad)
    rewards = held_out_rewards(model, ids[:, :p], REWARDS.get("arithmetic")(**REWARD), settings)
    return [int(r) for r in rewards.round().tolist()]


SPLIT_SEED = 0  # the fixed shuffle of the held-out problems into validation and test (every seed)


def held_out_split(n_items: int, n_valid: int) -> tuple[list[int], list[int]]:
    """``(validation, test)`` indices of ``n_items`` held-out problems: one fixed random permutation
    (seed :data:`SPLIT_SEED`), its first ``n_valid`` for validation and the rest for test.  The
    problems are drawn together before the train split, so the two halves are exchangeable: the same
    distribution (operand lengths included), disjoint items."""
    import torch

    if not 0 < n_valid < n_items:
        raise ConfigError(f"n_valid must be in (0, {n_items}), got {n_valid}")
    order = torch.randperm(n_items, generator=torch.Generator().manual_seed(SPLIT_SEED)).tolist()
    return sorted(order[:n_valid]), sorted(order[n_valid:])


def _splits(sft_ckpt: str, n_valid: int):
    """The validation and test problems of the checkpoint's task: its held-out split (``n_valid +
    n_test`` problems, none in training in either operand order) cut by :func:`held_out_split`."""
    from torch.utils.data import Subset

    from mdm.eval.splits import task_test_split

    held_out, _ = task_test_split(sft_ckpt, None)
    valid, test = held_out_split(len(held_out), n_valid)
    return Subset(held_out, valid), Subset(held_out, test)


def sft_start(setup: RLSetup, seed: int, ctx) -> dict:
    """Train (or reuse) the seed's SFT model; its per-problem correctness on validation and test."""
    from mdm.experiments.training import finished_checkpoint
    from mdm.train import load_config

    cfg = load_config("arithmetic-small", [*setup.task, *setup.sft, f"seed={seed}"])
    ckpt = finished_checkpoint(cfg, _model_dir(ctx, "sft", seed), ctx.progress)
    valid, test = _splits(str(ckpt), setup.n_valid)
    return {"checkpoint": str(ckpt), "steps": cfg.max_steps,
            "valid": correctness(ckpt, valid), "test": correctness(ckpt, test)}


def rl_arm(arm: str):
    """The part training arm ``arm`` (a key of :data:`ARMS`) at each learning rate, choosing on
    validation (or at the rate its ``lr_from`` arm chose)."""

    def run(setup: RLSetup, seed: int, ctx) -> dict:
        from mdm.eval.stats import best_on_validation, choose_on_validation
        from mdm.experiments.training import finished_checkpoint
        from mdm.train import load_config

        start = ctx.need("sft")
        valid, test = _splits(start["checkpoint"], setup.n_valid)
        source = ARMS[arm].lr_from
        lrs = setup.lrs if source is None else (float(ctx.need(source)["lr"]),)
        by_lr = {}
        for lr in lrs:
            cfg = load_config(ARMS[arm].config, [*_arm_overrides(setup, arm), f"optim.lr={lr}",
                                                 f"loss.init={start['checkpoint']}", f"seed={seed}"])
            ckpt = finished_checkpoint(cfg, _model_dir(ctx, f"{arm}-lr{lr:g}", seed), ctx.progress)
            by_lr[f"{lr:g}"] = {"valid": correctness(ckpt, valid), "test": correctness(ckpt, test)}
            ctx.log(f"rl: {arm} lr {lr:g}, seed {seed}: validation accuracy "
                    f"{sum(by_lr[f'{lr:g}']['valid']) / len(valid):.3f}")
        choice = choose_on_validation({k: v["valid"] for k, v in by_lr.items()},
                                      {k: v["test"] for k, v in by_lr.items()}, rule=best_on_validation)
        return {"steps": cfg.max_steps, "lr": choice.key, "choice": choice.to_dict(),
                "valid_accuracy": {k: sum(v["valid"]) / len(v["valid"]) for k, v in by_lr.items()},
                "test": by_lr[choice.key]["test"]}

    return run
