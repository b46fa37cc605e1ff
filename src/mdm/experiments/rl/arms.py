"""The parts of ``mdm exp rl``: the SFT start and the two RL arms, each trained by :func:`mdm.train.train`
(through :func:`mdm.experiments.training.finished_checkpoint`: trained when missing, reused when
finished) and scored per problem by greedy exact match (:func:`mdm.rl.evaluate.held_out_rewards`).

An RL arm trains once per learning rate in ``setup.lrs`` from the seed's SFT checkpoint and keeps the
one with the best validation accuracy (:func:`mdm.eval.stats.choose_on_validation`, rule
:func:`~mdm.eval.stats.best_on_validation`; the first listed on ties); its test
correctness is what the experiment reports.  Both arms run the same prompts (same seed and data), group
size, inner updates and steps: equal rollouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["ARMS", "RLSetup", "correctness", "resolved", "rl_arm", "sft_start"]

# arm -> the packaged RL config it trains with (the loss section: the objective)
ARMS = {"diffu-grpo": "rl-arithmetic", "spg": "rl-arithmetic-spg"}
REWARD = {"reverse": True, "format_penalty": 0.0}  # reward = 1[exact match]


@dataclass(frozen=True)
class RLSetup:
    """``task``: overrides of the model and data sections, shared by the SFT and RL runs; ``sft``: the
    SFT run's other overrides; ``rl``: both arms' overrides (steps, prompts, group size...); ``spg``: the
    SPG arm's own; ``lrs``: the RL learning rates chosen among on validation; ``n_valid``: validation
    problems (disjoint from train and test); ``n_test``: the test problems ``task`` sets."""

    task: tuple[str, ...]
    n_test: int
    sft: tuple[str, ...]
    rl: tuple[str, ...]
    spg: tuple[str, ...]
    lrs: tuple[float, ...]
    n_valid: int


def resolved(setup: RLSetup, arm: str | None) -> dict:
    """The training config the SFT run (``arm`` None) or an RL arm resolves to, before the seed, the
    start and the learning rate: a part's cache key, so editing a packaged YAML retrains."""
    from mdm.train import load_config

    if arm is None:
        return load_config("arithmetic-small", [*setup.task, *setup.sft]).to_dict()
    return load_config(ARMS[arm], [*setup.task, *setup.rl, *(setup.spg if arm == "spg" else ())]).to_dict()


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


def _splits(sft_ckpt: str, n_valid: int):
    from mdm.eval.splits import task_eval_splits

    valid, test, _ = task_eval_splits(sft_ckpt, None, n_valid)
    return valid, test


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
    """The part training arm ``arm`` (a key of :data:`ARMS`) at each learning rate, choosing on validation."""

    def run(setup: RLSetup, seed: int, ctx) -> dict:
        from mdm.eval.stats import best_on_validation, choose_on_validation
        from mdm.experiments.training import finished_checkpoint
        from mdm.train import load_config

        start = ctx.need("sft")
        valid, test = _splits(start["checkpoint"], setup.n_valid)
        own = setup.spg if arm == "spg" else ()
        by_lr = {}
        for lr in setup.lrs:
            cfg = load_config(ARMS[arm], [*setup.task, *setup.rl, *own, f"loss.init={start['checkpoint']}",
                                          f"optim.lr={lr}", f"seed={seed}"])
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
