"""Any-process generation (AP-MDM): ``mdm exp any-process``.

Yang et al., "On Powerful Ways to Generate: Autoregression, Diffusion, and Beyond" (arXiv 2510.06190).
An AP-MDM (:class:`mdm.models.anyprocess.AnyProcessModel`) is trained on solver trajectories and
generated from with :func:`mdm.sampling.anyprocess.generate`.  Three claims are measured:

1. **Parity** (:mod:`mdm.tasks.anyprocess.parity`): a tiny model trained on length-2 inputs solves
   any length (the paper tests up to 10,000).  We train the paper's setting (every length-2 input)
   and, beside it, on every input of lengths 1-5, and test at 10 ... 10,000 bits.
2. **Sudoku** with remask / unmask only (:mod:`mdm.tasks.anyprocess.sudoku`) vs a plain MDM with
   confidence decoding (top-1) trained on the same puzzles, at equal model size and training steps.
   The AP sampling temperature (0 or 1: the solver's guesses are random) is chosen on validation
   puzzles and reported on test puzzles.
3. **An edit task that needs insert and delete** (:mod:`mdm.tasks.anyprocess.rewrite`): validity at
   4x (and 8x) the training length.

Writes ``result.json``, ``report.md`` and the plots of :mod:`mdm.experiments.any_process_report`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from mdm.errors import ConfigError
from mdm.experiments.any_process_parts import parity_part, rewrite_part, sudoku_part, train_model
from mdm.experiments.common import provenance

__all__ = ["PRESETS", "Preset", "ParitySetup", "RewriteSetup", "SudokuSetup", "run"]

# The paper's parity model is a DiT of width 4; ours: width 8, 2 layers, 1 head, attention radius 1
# (the rule reads at most two positions back), lr 1e-2 as in the paper.
PARITY_MODEL = {"family": "anyprocess", "d_model": 8, "n_layers": 2, "n_heads": 1, "window": 1, "chunk": 64}
REWRITE_MODEL = {"family": "anyprocess", "d_model": 16, "n_layers": 2, "n_heads": 2, "window": 1, "chunk": 64}


@dataclass(frozen=True)
class ParitySetup:
    label: str
    train_lengths: tuple[int, ...]
    steps: int
    tests: tuple[tuple[int, int], ...]  # (length, number of inputs)


@dataclass(frozen=True)
class RewriteSetup:
    n_train: int = 2000
    max_len: int = 8
    steps: int = 400
    lengths: tuple[int, ...] = (8, 16, 32, 64)
    n_eval: int = 200


@dataclass(frozen=True)
class SudokuSetup:
    n_train: int = 1000
    n_test: int = 200
    n_valid: int = 50
    n_eval: int = 200
    min_clues: int = 34
    max_clues: int = 40
    traces: int = 1
    steps: int = 400
    batch_size: int = 64
    lr: float = 2e-3
    warmup: int = 20
    d_model: int = 64
    n_layers: int = 3
    n_heads: int = 4
    max_steps: int = 64  # generation step cap (restarts after a wrong guess need several passes)
    temperatures: tuple[float, ...] = (0.0, 1.0)


@dataclass(frozen=True)
class Preset:
    parity: tuple[ParitySetup, ...]
    rewrite: RewriteSetup = field(default_factory=RewriteSetup)
    sudoku: SudokuSetup = field(default_factory=SudokuSetup)


PRESETS: dict[str, Preset] = {
    "quick": Preset(
        parity=(ParitySetup("length 2 (paper)", (2,), 300, ((10, 32), (100, 4))),
                ParitySetup("lengths 1-5", (1, 2, 3, 4, 5), 300, ((10, 32), (100, 4)))),
        rewrite=RewriteSetup(n_train=300, steps=150, lengths=(8, 32), n_eval=50),
        sudoku=SudokuSetup(n_train=100, n_test=16, n_valid=8, n_eval=16, steps=30, batch_size=32,
                           d_model=32, n_layers=1, n_heads=2, max_steps=32),
    ),
    # ~15 min on 2 contended cores: one 10,000-bit input is ~17,500 sequential transitions.
    "full": Preset(
        parity=(ParitySetup("length 2 (paper)", (2,), 800, ((10, 200), (100, 50), (1000, 8), (10000, 1))),
                ParitySetup("lengths 1-5", (1, 2, 3, 4, 5), 800,
                            ((10, 200), (100, 50), (1000, 8), (10000, 1)))),
        sudoku=SudokuSetup(steps=300),
    ),
}


def _parity(preset: Preset, out: Path, seed: int) -> dict:
    runs = {}
    for setup in preset.parity:
        cfg = {"model": PARITY_MODEL, "seed": seed, "precision": "fp32", "threads": 1,
               "data": {"task": "ap-parity", "seq_len": max(setup.train_lengths) + 2,
                        "options": {"lengths": list(setup.train_lengths)}},
               "optim": {"lr": 1e-2, "warmup_steps": 20}, "batch_size": 32, "max_steps": setup.steps,
               "eval_every": 0, "log_every": 50}
        name = "parity-" + "-".join(map(str, setup.train_lengths))
        model, _, summary = train_model(cfg, out / "models" / name)
        runs[setup.label] = {"train_lengths": list(setup.train_lengths), "train": summary,
                             **parity_part(model, setup.tests)}
        if setup is preset.parity[-1]:
            runs[setup.label]["model"] = model  # kept for the rendered trajectory, dropped from the JSON
    paper = runs[preset.parity[0].label]
    return {"accuracy": paper["accuracy"], "setting": preset.parity[0].label, "runs": runs}


def _rewrite(preset: Preset, out: Path, seed: int) -> dict:
    s = preset.rewrite
    cfg = {"model": REWRITE_MODEL, "seed": seed, "precision": "fp32", "threads": 1,
           "data": {"task": "ap-rewrite", "seq_len": 2 * s.max_len + 2,
                    "options": {"n_train": s.n_train, "max_len": s.max_len}},
           "optim": {"lr": 1e-2, "warmup_steps": 20}, "batch_size": 32, "max_steps": s.steps,
           "eval_every": 0, "log_every": 50}
    model, _, summary = train_model(cfg, out / "models" / "rewrite")
    return {"train_max_len": s.max_len, "train": summary, "model": model,
            **rewrite_part(model, s.lengths, s.n_eval)}


def run(preset: str, out_dir: Path, seed: int = 0, progress: bool = True) -> dict:
    from mdm.experiments.any_process_report import write_outputs

    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    p = PRESETS[preset]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t0 = time.perf_counter()
        timings = {}
        parts = {}
        for name, fn in (("parity", _parity), ("rewrite", _rewrite), ("sudoku", None)):
            t = time.perf_counter()
            if progress:
                print(f"[any-process] {name} ...", flush=True)
            parts[name] = fn(p, out, seed) if fn is not None else sudoku_part(p.sudoku, out, seed)
            timings[name] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
    config = {"preset": preset, **asdict(p), "parity_model": PARITY_MODEL, "rewrite_model": REWRITE_MODEL}
    result = {"experiment": "any-process", "preset": preset, **parts, "wall_s": timings,
              "provenance": provenance(f"mdm exp any-process --preset {preset}", seed, config, "fp32")}
    write_outputs(result, out)
    return {k: v for k, v in result.items()}
