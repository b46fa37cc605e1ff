"""The presets of ``mdm exp any-process``: the training configs of its models and the setups."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PARITY_TRAIN", "PRESETS", "REWRITE_TRAIN", "SUDOKU_TRAIN", "ParitySetup", "Preset",
           "RewriteSetup", "SudokuSetup"]

# The training configs (mdm.train) of the models: a base config each, changed by the setups'
# ``key=value`` overrides (``mdm train``'s syntax).  The paper's parity model is a DiT of width 4;
# ours: width 8, 2 layers, 1 head, attention radius 1 (the rule reads at most two positions back),
# lr 1e-2 as in the paper.
_COMMON = {"precision": "fp32", "threads": 1, "eval_every": 0}
PARITY_TRAIN = {**_COMMON, "data": {"task": "ap-parity", "seq_len": 4, "options": {"lengths": [2]}},
                "model": {"family": "anyprocess", "d_model": 8, "n_layers": 2, "n_heads": 1, "window": 1,
                          "chunk": 64},
                "optim": {"lr": 1e-2, "warmup_steps": 20}, "batch_size": 32, "max_steps": 800,
                "log_every": 50}
REWRITE_TRAIN = {**PARITY_TRAIN, "data": {"task": "ap-rewrite", "seq_len": 18,
                                          "options": {"n_train": 2000, "max_len": 8}},
                 "model": {**PARITY_TRAIN["model"], "d_model": 16, "n_heads": 2}, "max_steps": 400}
# Sudoku: the AP-MDM (family anyprocess, on ap-sudoku) and the plain MDM baseline (on sudoku) share
# this config and the setup's overrides: equal size and training steps by construction.
SUDOKU_TRAIN = {**_COMMON, "model": {"d_model": 64, "n_layers": 3, "n_heads": 4, "learned_positions": True},
                "optim": {"lr": 2e-3, "warmup_steps": 20}, "batch_size": 64, "max_steps": 400,
                "log_every": 10}


@dataclass(frozen=True)
class ParitySetup:
    """``train``: overrides of :data:`PARITY_TRAIN` (``data.options.lengths``: the training lengths,
    ``data.seq_len`` = the longest + 2); ``tests``: ``(length, number of inputs)``."""

    label: str
    train: tuple[str, ...]
    tests: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class RewriteSetup:
    """``train``: overrides of :data:`REWRITE_TRAIN` (``data.options.max_len``: the longest training
    input, ``data.seq_len`` = 2 x that + 2); tested at each of ``lengths`` on ``n_eval`` inputs."""

    train: tuple[str, ...] = ()
    lengths: tuple[int, ...] = (8, 16, 32, 64)
    n_eval: int = 200


@dataclass(frozen=True)
class SudokuSetup:
    """The puzzles (training and evaluation), ``train``: overrides of :data:`SUDOKU_TRAIN` for both
    models, and the AP-MDM's generation: at most ``generate_steps`` transitions (restarts after a
    wrong guess need several passes), temperatures chosen on ``n_valid`` validation puzzles."""

    n_train: int = 1000
    n_test: int = 200
    n_valid: int = 50
    n_eval: int = 200
    min_clues: int = 34
    max_clues: int = 40
    traces: int = 1
    train: tuple[str, ...] = ()
    generate_steps: int = 64
    temperatures: tuple[float, ...] = (0.0, 1.0)


@dataclass(frozen=True)
class Preset:
    parity: tuple[ParitySetup, ...]
    rewrite: RewriteSetup = field(default_factory=RewriteSetup)
    sudoku: SudokuSetup = field(default_factory=SudokuSetup)
    sudoku_small: object = None  # a SmallSudokuSetup (sudoku_small_presets): adds the sudoku-NxN parts


_LENGTHS_1_5 = ("data.options.lengths=[1, 2, 3, 4, 5]", "data.seq_len=7")
_FULL_TESTS = ((10, 200), (100, 50), (1000, 8), (10000, 1))
PRESETS: dict[str, Preset] = {
    "quick": Preset(
        parity=(ParitySetup("length 2 (paper)", ("max_steps=300",), ((10, 32), (100, 4))),
                ParitySetup("lengths 1-5", (*_LENGTHS_1_5, "max_steps=300"), ((10, 32), (100, 4)))),
        rewrite=RewriteSetup(train=("data.options.n_train=300", "max_steps=150"), lengths=(8, 32), n_eval=50),
        sudoku=SudokuSetup(n_train=100, n_test=16, n_valid=8, n_eval=16, generate_steps=32,
                           train=("max_steps=30", "batch_size=32", "model.d_model=32", "model.n_layers=1",
                                  "model.n_heads=2")),
    ),
    # ~15 min on 2 contended cores: one 10,000-bit input is ~17,500 sequential transitions.
    "full": Preset(
        parity=(ParitySetup("length 2 (paper)", (), _FULL_TESTS),
                ParitySetup("lengths 1-5", _LENGTHS_1_5, _FULL_TESTS)),
        sudoku=SudokuSetup(train=("max_steps=300",)),
    ),
}


# --- small Sudoku, 4x4 / 6x6 (issue 27 item 3b): the sudoku-NxN parts' setups --------------------------
from dataclasses import replace as _replace  # noqa: E402

from mdm.experiments.any_process import sudoku_small_presets as _small  # noqa: E402

# only on the full preset: the quick preset's result stays the baseline's (its tests use _small.QUICK)
PRESETS["full"] = _replace(PRESETS["full"], sudoku_small=_small.FULL)
