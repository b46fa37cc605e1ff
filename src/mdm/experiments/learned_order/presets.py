"""The presets of ``mdm exp learned-order`` and the training config behind every model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["ARMS", "ORDER_TRAIN", "PRESETS", "SEED_STRIDE", "Preset", "train_config", "train_model"]

SEED_STRIDE = 1000  # more than any preset's largest training seed

# The training config (mdm.train) of every model here; a preset changes it with key=value overrides.
# ``loss.order_times``: ``power`` (unbiased) or ``shared`` (the eps-truncated sampler before the fix).
ORDER_TRAIN = {"model": {"d_model": 32, "n_layers": 2, "n_heads": 2, "learned_positions": True},
               "loss": {"schedule": "per-position", "order_lr": 0.05, "order_draws": 4,
                        "order_times": "power"},
               "batch_size": 32, "max_steps": 200, "eval_every": 50, "eval_batches": 4, "eval_samples": 2,
               "log_every": 10, "threads": 1, "device": "cpu", "precision": "fp32",
               "optim": {"lr": 3e-3, "warmup_steps": 20}}

# The models compared: name -> (schedule, gradient estimator of w, extra overrides).  ``control``
# trains like ``learned`` (same draws per example) with w frozen at 1 (to 1e-6).
ARMS = {"learned": ("per-position", "rloo", ()), "fixed": ("linear", "rloo", ()),
        "pathwise": ("per-position", "pathwise", ()),
        "control": ("per-position", "rloo", ("loss.order_lr=1e-12",))}


@dataclass(frozen=True)
class Preset:
    planted_seeds: tuple[int, ...]
    planted_length: int
    planted_vocab: int
    planted_train: tuple[str, ...]  # overrides of ORDER_TRAIN for the planted-order models
    tables: tuple[str, ...]
    table_seeds: tuple[int, ...]
    table_train: tuple[str, ...]  # ... and for the table models
    pathwise_seeds: tuple[int, ...]
    nelbo_samples: int = 8
    decode_samples: int = 1000
    fidelity_samples: int = 500
    grad_repeats: int = 16
    planted_noise: float = 0.05
    n_train: int = 4096
    n_heldout: int = 512
    table_controls: tuple[str, ...] = ()  # tables that also train the w-frozen control
    # part "hard-orders": registers whose per-position difficulty does not point to the best order
    hard_tasks: tuple[str, ...] = ("circular", "stationary")
    hard_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    hard_length: int = 8
    hard_vocab: int = 4
    hard_draws: tuple[int, ...] = (8, 16)  # RLOO draws per example; pathwise and control use the first
    hard_train: tuple[str, ...] = ("max_steps=2000", "optim.warmup_steps=200", "eval_every=1000",
                                   "batch_size=16")


def train_config(data: dict, overrides=(), *, schedule: str = "per-position", seed: int = 0,
                 estimator: str = "rloo"):
    """:data:`ORDER_TRAIN` on ``data`` with ``overrides``: the learned schedule (``per-position``,
    the order knobs of ``loss``, gradient ``estimator``) or a fixed one (``linear``: the loss's
    defaults otherwise)."""
    from mdm.train import load_config

    loss = {**ORDER_TRAIN["loss"], "order_estimator": estimator} if schedule == "per-position" else {
        "schedule": schedule}
    return load_config({**ORDER_TRAIN, "data": data, "loss": loss}, [*overrides, f"seed={seed}"])


def train_model(data: dict, overrides, *, arm: str, seed: int, out: Path):
    """Train one model of ``arm`` (:data:`ARMS`); returns ``(model in eval mode, metrics rows)``.
    A training stopped early raises :class:`~mdm.experiments.runner.TrainingInterrupted` (not cached)."""
    from mdm.experiments.training import train_to_end
    from mdm.train.checkpoint import load

    schedule, estimator, extra = ARMS[arm]
    cfg = train_config(data, [*overrides, *extra], schedule=schedule, seed=seed, estimator=estimator)
    result = train_to_end(cfg, out)
    model, _ = load(result.checkpoint)
    return model, result.metrics


_TINY = ("batch_size=16", "model.d_model=16", "model.n_layers=1")
PRESETS = {
    "quick": Preset(
        planted_seeds=(0, 1), planted_length=6, planted_vocab=4, pathwise_seeds=(0,),
        planted_train=("max_steps=40", "optim.warmup_steps=4", "eval_every=20", *_TINY),
        tables=("iris",), table_seeds=(0, 1), table_controls=("iris",),
        table_train=("max_steps=30", "optim.warmup_steps=3", "eval_every=15", *_TINY),
        nelbo_samples=2, decode_samples=100, fidelity_samples=100, grad_repeats=4, n_train=512, n_heldout=64,
        hard_seeds=(0, 1), hard_length=5, hard_draws=(4, 6),
        hard_train=("max_steps=30", "optim.warmup_steps=3", "eval_every=30", *_TINY)),
    "full": Preset(
        planted_seeds=(0, 1, 2, 3, 4), planted_length=8, planted_vocab=8, pathwise_seeds=(0, 1, 2, 3, 4),
        planted_train=("max_steps=300", "optim.warmup_steps=30"),
        tables=("iris", "wine", "breast_cancer", "diabetes", "digits"), table_seeds=(0, 1, 2, 3, 4),
        table_controls=("iris", "wine", "breast_cancer", "diabetes"),
        table_train=("max_steps=120", "optim.warmup_steps=12", "eval_every=40")),
}
