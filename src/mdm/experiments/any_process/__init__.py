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


def _parts(p: Preset) -> list[Part]:
    from mdm.experiments.any_process import parts

    return [Part("parity", parts.parity_part), Part("rewrite", parts.rewrite_part),
            Part("sudoku", parts.sudoku_part)]


def _assemble(p: Preset, results: dict, seed: int) -> dict:
    return {"experiment": "any-process", **results}


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


def _headline(result: dict) -> dict:
    out = {}
    for label, r in (result.get("parity") or {}).get("runs", {}).items():
        out.update({f"parity ({label}): accuracy at {k} bits": v for k, v in r["accuracy"].items()})
    out.update({f"rewrite: validity at length {k}": v for k, v in (result.get("rewrite") or {}).get(
        "validity", {}).items()})
    if "sudoku" in result:
        sd = result["sudoku"]
        out.update({"sudoku: AP-MDM solve rate": sd["ap_mdm"]["solve_rate"],
                    "sudoku: MDM solve rate": sd["mdm"]["solve_rate"],
                    "sudoku: AP-MDM vs MDM solve rate": (sd["ap_mdm"]["solve_rate"],
                                                         sd["mdm"]["solve_rate"])})
    return out


def _evidence(result: dict, p: Preset) -> dict:
    return {"n_test": p.sudoku.n_eval, "method": "percentile bootstrap CI over test items (paired for "
            "AP-MDM vs MDM on the same puzzles)", "level": 0.95, "setting": "our proxy"}


EXPERIMENT = Experiment(name="any-process", presets=PRESETS, parts=_parts, assemble=_assemble, report=report,
                        plots=plots, verdict=_verdict, evidence=_evidence, headline=_headline)
