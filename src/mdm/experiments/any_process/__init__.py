"""Any-process generation (AP-MDM): ``mdm exp any-process``.

Yang et al., "On Powerful Ways to Generate: Autoregression, Diffusion, and Beyond" (arXiv 2510.06190).
An AP-MDM (:class:`mdm.models.anyprocess.AnyProcessModel`) is trained on solver trajectories and
generated from with :func:`mdm.sampling.anyprocess.generate`.  Three claims are measured, one part
each (:mod:`mdm.experiments.any_process.parts`):

1. **parity** (:mod:`mdm.tasks.anyprocess.parity`): a tiny model trained on length-2 inputs solves
   any length (the paper tests up to 10,000).  We train the paper's setting (every length-2 input)
   and, beside it, on every input of lengths 1-5, and test at 10 ... 10,000 bits.
2. **sudoku** with remask / unmask only (:mod:`mdm.tasks.anyprocess.sudoku`) vs a plain MDM with
   confidence decoding (top-1) trained on the same puzzles, at equal model size and training steps,
   paired on the same test puzzles.  The AP sampling temperature (0 or 1: the solver's guesses are
   random) is chosen on validation puzzles and reported on test puzzles.
3. **rewrite**, an edit task that needs insert and delete (:mod:`mdm.tasks.anyprocess.rewrite`):
   validity at 4x (and 8x) the training length.

Report and plots: :mod:`mdm.experiments.any_process.report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mdm.experiments.any_process.report import plots, report
from mdm.experiments.runner import Experiment, Part

__all__ = ["EXPERIMENT", "PRESETS", "Preset", "ParitySetup", "RewriteSetup", "SudokuSetup"]

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


def _parts(p: Preset) -> list[Part]:
    from mdm.experiments.any_process import parts

    return [Part("parity", parts.parity_part), Part("rewrite", parts.rewrite_part),
            Part("sudoku", parts.sudoku_part)]


def _assemble(p: Preset, results: dict, seed: int) -> dict:
    return {"experiment": "any-process", **results,
            "models": {"parity": PARITY_MODEL, "rewrite": REWRITE_MODEL}}


def _verdict(result: dict) -> list[str]:
    lines = []
    if "parity" in result:
        for label, r in result["parity"]["runs"].items():
            acc = ", ".join(f"{k} bits {v:.2f}" for k, v in r["accuracy"].items())
            lines.append(f"parity trained on {label}: accuracy {acc}")
    if "sudoku" in result:
        sd = result["sudoku"]
        d = sd["ap_minus_mdm"]
        lines.append(f"sudoku: AP-MDM {sd['ap_mdm']['solve_rate']:.3f} vs MDM {sd['mdm']['solve_rate']:.3f} "
                     f"(paired difference {d['diff']:+.3f}, 95% CI [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}])")
    if "rewrite" in result:
        lines.append("rewrite validity: " + ", ".join(f"length {k} {v:.2f}"
                                                      for k, v in result["rewrite"]["validity"].items()))
    return lines


def _evidence(result: dict, p: Preset) -> dict:
    return {"n_test": p.sudoku.n_eval, "method": "percentile bootstrap CI over test items (paired for "
            "AP-MDM vs MDM on the same puzzles)", "level": 0.95, "setting": "our proxy"}


EXPERIMENT = Experiment(name="any-process", presets=PRESETS, parts=_parts, assemble=_assemble, report=report,
                        plots=plots, verdict=_verdict, evidence=_evidence)
