"""Any-process generation (AP-MDM): ``mdm exp any-process``.

Yang et al., "On Powerful Ways to Generate: Autoregression, Diffusion, and Beyond" (arXiv 2510.06190).
An AP-MDM (:class:`mdm.models.anyprocess.AnyProcessModel`) is trained on solver trajectories and
generated from with :func:`mdm.sampling.anyprocess.generate`; one part per claim (:mod:`.parts`):

1. **parity** with our own 7 transition types (13 transitions at length 2, with EOS; not the paper's
   data, which is part 4): a local model trained on length 2 and on lengths 1-5, tested to 10,000 bits;
2. **sudoku** with remask / unmask only vs a plain MDM with top-1 confidence decoding, at equal size
   and training steps, paired on the same test puzzles (the AP temperature chosen on validation);
3. **rewrite**, an edit task that needs insert and delete: validity at 4x (and 8x) the training length;
4. **parity-paper**: the paper's own parity data (7 windows, no EOS) in a global model of its size and
   in our local model, 3 seeds each, exact at 100 ... 10,000 bits (:mod:`.ablation`);
5. **brackets** (AP-MDM) and **brackets-mdm** (a plain MDM writing the answer in a separate region): a
   non-local edit (delete the unmatched brackets), validity at 1x, 2x, 4x the training length.
"""

from __future__ import annotations

from mdm.experiments.any_process.presets import (  # noqa: F401 (re-exported)
    PARITY_TRAIN,
    PRESETS,
    REWRITE_TRAIN,
    SUDOKU_TRAIN,
    ParitySetup,
    Preset,
    RewriteSetup,
    SudokuSetup,
)
from mdm.experiments.any_process.report import plots, report
from mdm.experiments.runner import Experiment, Part

__all__ = ["EXPERIMENT", "PRESETS", "Preset", "ParitySetup", "RewriteSetup", "SudokuSetup"]


def _parts(p: Preset) -> list[Part]:
    from mdm.experiments.any_process import ablation, parts

    # each part reads its own setup only (Part.reads): changing one does not recompute the others
    return [Part("parity", parts.parity_part, reads=lambda p: p.parity),
            Part("rewrite", parts.rewrite_part, reads=lambda p: p.rewrite),
            Part("sudoku", parts.sudoku_part, reads=lambda p: p.sudoku),
            Part("parity-paper", ablation.parity_paper_part, reads=lambda p: p.parity_paper),
            Part("parity-paper-1-5", lambda s, seed, ctx: ablation.parity_paper_part(s, seed, ctx, data=1),
                 reads=lambda p: p.parity_paper),
            Part("brackets", ablation.brackets_part, reads=lambda p: p.brackets),
            Part("brackets-mdm", ablation.brackets_mdm_part, reads=lambda p: p.brackets),
            ] + _small_sudoku_parts(p)


def _small_sudoku_parts(p: Preset) -> list[Part]:
    """The sudoku-SHAPE-N parts (issue 27 item 3b; N training puzzles), when the preset has their setup."""
    from mdm.experiments.any_process.sudoku_small import part_names, shape_part

    names = [] if p.sudoku_small is None else part_names(p.sudoku_small)
    return [Part(part, shape_part(shape, n), reads=lambda p: p.sudoku_small) for part, shape, n in names]


def _assemble(p: Preset, results: dict, seed: int) -> dict:
    return {"experiment": "any-process", **results}


def _headline(result: dict) -> dict:
    out = {}
    for label, r in (result.get("parity") or {}).get("runs", {}).items():
        out.update({f"parity ({label}): accuracy at {k} bits": v for k, v in r["accuracy"].items()})
    out.update({f"rewrite: validity at length {k}": v for k, v in (result.get("rewrite") or {}).get(
        "validity", {}).items()})
    cells = {**(result.get("parity-paper") or {}).get("cells", {}),
             **(result.get("parity-paper-1-5") or {}).get("cells", {})}
    for cell, c in cells.items():
        out.update({f"parity-paper ({cell}): exact at {k} bits": v["rate"] for k, v in c["by_length"].items()
                    if "rate" in v})
    for name, m in (result.get("brackets") or {}).get("models", {}).items():
        out.update({f"brackets ({name}): validity at length {k}": v["rate"]
                    for k, v in m["by_length"].items()})
    out.update({f"brackets (plain MDM): validity at length {k}": v["rate"]
                for k, v in (result.get("brackets-mdm") or {}).get("by_length", {}).items()})
    if "sudoku" in result:
        sd = result["sudoku"]
        out.update({"sudoku: AP-MDM solve rate": sd["ap_mdm"]["solve_rate"],
                    "sudoku: MDM solve rate": sd["mdm"]["solve_rate"],
                    "sudoku: AP-MDM vs MDM solve rate": (sd["ap_mdm"]["solve_rate"],
                                                         sd["mdm"]["solve_rate"])})
    return out


def _evidence(result: dict, p: Preset) -> dict:
    """A run of the parity-paper / bracket parts only (the issue-27 runs) has their seeds and their
    Wilson CIs; any other run the Sudoku comparison's bootstrap."""
    wilson = "Wilson score CI over all seeds' test inputs"
    keys = set(result or {})
    if keys & {"parity-paper", "parity-paper-1-5", "brackets", "brackets-mdm"} and not keys & {
            "parity", "rewrite", "sudoku"}:
        if keys & {"parity-paper", "parity-paper-1-5"}:
            n = sum(k for _, k in p.parity_paper.tests)
            return {"n_test": n, "method": f"{wilson} (per cell and length; {n} inputs per seed in all)",
                    "level": 0.95, "setting": "our proxy", "seeds_per_run": p.parity_paper.seeds}
        return {"n_test": p.brackets.n_eval * len(p.brackets.lengths), "method": wilson, "level": 0.95,
                "setting": "our proxy", "seeds_per_run": p.brackets.seeds}
    return {"n_test": p.sudoku.n_eval, "method": "percentile bootstrap CI over test items (paired for "
            "AP-MDM vs MDM on the same puzzles)", "level": 0.95, "setting": "our proxy"}


EXPERIMENT = Experiment(name="any-process", presets=PRESETS, parts=_parts, assemble=_assemble, report=report,
                        plots=plots, evidence=_evidence, headline=_headline)
