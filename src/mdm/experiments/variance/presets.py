"""The presets of ``mdm exp variance``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DECOMP_EPS", "PRESETS", "Preset"]


# decompose() draws t on [0.05, 0.95]: with P = 4 answer tokens the loss 1/(P t) sum CE has a 1/t tail
# whose second moment grows like log(1/eps) but whose fourth moment grows like 1/eps, so at the
# training eps = 1e-3 a Monte-Carlo variance of a few hundred draws is dominated by rare small-t draws.
DECOMP_EPS = 0.05


@dataclass(frozen=True)
class Preset:
    n_train: int
    n_valid: int  # the split the setting probes looked at (the task's first-drawn "test" stream)
    n_test: int  # the held-out test split: drawn last, disjoint from train and validation
    d_model: int
    n_layers: int
    n_heads: int
    pretrain_steps: int
    pretrain_batch: int
    pretrain_lr: float
    sft_steps: int
    sft_batch: int
    sft_lr: float
    seeds: int
    decomp_rows: int
    decomp_n_t: int
    decomp_masks: int
    decomp_reps: int
    est_draws: int
    decomp_end_seeds: int = 1  # A/B/C after SFT for the first seeds of each arm (it costs a few s each)
    ppots_grid: int = 70
    ppots_examples: int = 12
    ppots_masks: int = 12
    ppots_restarts: int = 20
    # --- learning curves: steps and forward passes to a test accuracy (parts curves, half-batch,
    # double-batch); the SFT settings are the ones above, only longer and with more seeds
    curve_seeds: int = 10
    curve_steps: int = 1000
    curve_every: int = 50  # test accuracy every this many steps (the grid that locates the crossing)
    curve_chunks: int = 1  # the seeds cut into this many `curves` parts (separate processes, caches)
    extra_chunks: int = 1  # ... and into this many `half-batch` and `double-batch` parts
    curve_arms: tuple[str, ...] = ("standard", "MIRROR", "MIRROR-indep", "P-POTS", "P-POTS+MIRROR")
    half_batch_arms: tuple[str, ...] = ("MIRROR", "P-POTS+MIRROR")
    # --- the long-answer task (part long): sorting `long_length` digits, A/B/C and P-POTS there
    long_length: int = 32
    long_n_train: int = 2000
    long_n_test: int = 200
    long_pretrain_steps: int = 400
    long_pretrain_batch: int = 32
    long_sft_steps: int = 300
    long_decomp_rows: int = 32


PRESETS = {
    "quick": Preset(n_train=600, n_valid=100, n_test=100, d_model=32, n_layers=1, n_heads=2,
                    pretrain_steps=40, pretrain_batch=32, pretrain_lr=2e-3, sft_steps=12, sft_batch=16,
                    sft_lr=1e-3, seeds=2, decomp_rows=8, decomp_n_t=4, decomp_masks=2, decomp_reps=2,
                    est_draws=4, ppots_grid=12, ppots_examples=4, ppots_masks=4, ppots_restarts=2,
                    curve_seeds=2, curve_steps=12, curve_every=4, long_n_train=64, long_n_test=16,
                    long_pretrain_steps=4, long_pretrain_batch=8, long_sft_steps=4, long_decomp_rows=4),
    "full": Preset(n_train=4000, n_valid=500, n_test=500, d_model=64, n_layers=2, n_heads=4,
                   pretrain_steps=600, pretrain_batch=64, pretrain_lr=3e-3, sft_steps=600, sft_batch=32,
                   sft_lr=2e-3, seeds=5, decomp_rows=48, decomp_n_t=8, decomp_masks=4, decomp_reps=4,
                   est_draws=32, curve_steps=600, curve_chunks=10, extra_chunks=2,
                   curve_arms=("standard", "MIRROR", "MIRROR-indep", "P-POTS+MIRROR")),
}
