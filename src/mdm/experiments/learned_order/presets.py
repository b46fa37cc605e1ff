"""The presets of ``mdm exp learned-order`` (what each part trains and measures)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PRESETS", "SEED_STRIDE", "Preset"]

SEED_STRIDE = 1000  # more than any preset's largest training seed


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
    extra: dict = field(default_factory=dict)


_TINY = ("batch_size=16", "model.d_model=16", "model.n_layers=1")
PRESETS = {
    "quick": Preset(
        planted_seeds=(0, 1),
        planted_length=6,
        planted_vocab=4,
        planted_train=("max_steps=40", "optim.warmup_steps=4", "eval_every=20", *_TINY),
        tables=("iris",),
        table_seeds=(0, 1),
        table_train=("max_steps=30", "optim.warmup_steps=3", "eval_every=15", *_TINY),
        pathwise_seeds=(0,),
        nelbo_samples=2,
        decode_samples=100,
        fidelity_samples=100,
        grad_repeats=4,
        n_train=512,
        n_heldout=64,
    ),
    "full": Preset(
        planted_seeds=(0, 1, 2, 3, 4),
        planted_length=8,
        planted_vocab=8,
        planted_train=("max_steps=300", "optim.warmup_steps=30"),
        tables=("iris", "wine", "breast_cancer", "diabetes", "digits"),
        table_seeds=(0, 1, 2, 3, 4),
        table_train=("max_steps=120", "optim.warmup_steps=12", "eval_every=40"),
        pathwise_seeds=(0, 1, 2, 3, 4),
    ),
}
