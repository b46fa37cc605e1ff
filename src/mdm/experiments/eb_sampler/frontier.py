"""EB against Threshold at matched NFE (issue 28): fine grids, several trained models, bands, paired CIs.

Every model of :class:`~mdm.experiments.eb_sampler.presets.FrontierSetup` (a training seed of the
task's config, trained or loaded by :func:`~mdm.experiments.training.task_model`) decodes its
validation and test puzzles with every sampler of the grid.  Kept per setting: per-puzzle
correctness, mean NFE, and mean *blanks-only* NFE (passes that revealed at least one blank cell,
:func:`mdm.eval.verified.passes_revealing`).  A family's curve on one model is its Pareto
settings on validation, interpolated on test (:mod:`mdm.eval.matched`); from the curves:

* each family's frontier with a two-stage bootstrap band (models, then puzzles within each);
* EB (each proxy) minus Threshold at the NFE values of ``nfe_grid``, paired by model and puzzle;
* per family and model, the cheapest setting whose validation accuracy is within one validation SE
  of the family's best (:func:`mdm.eval.stats.choose_on_validation` with ``within_one_se``),
  reported on test; ``any`` chooses among every setting of every family.
"""

from __future__ import annotations

import numpy as np

from mdm.eval.matched import clustered_band, interpolate_frontier, matched_cost_difference
from mdm.eval.stats import choose_on_validation, pareto_frontier, within_one_se
from mdm.experiments.eb_sampler.parts import evaluate, sampler_specs
from mdm.experiments.eb_sampler.presets import FrontierSetup, SamplerGrid, TaskSetup
from mdm.experiments.training import task_model
from mdm.tasks.sudoku import ALPHABET

__all__ = ["analyse", "sweep_model"]

BLANK = ALPHABET.index(".")  # a blank cell's token id (a Sudoku character's id is its index)


def sweep_model(task: TaskSetup, grid: SamplerGrid, precision: str, model_seed: int, out_dir, seed: int,
                progress: bool) -> dict:
    """The sweep of ``task``'s model trained with ``model_seed`` over the samplers of ``grid``, in
    ``precision``:
    ``{"train", "settings": [{family, label, valid, test}]}``, each split ``{"correct": "0110...",
    "nfe", "blanks_nfe"}`` (per-puzzle correctness as a 0/1 string)."""
    model, valid, test, summary = task_model(task, out_dir, progress, model_seed)
    settings = []
    for spec in sampler_specs(grid, task, test.answer_len):
        row = {"family": spec.family, "label": spec.label}
        for name, split, n in (("valid", valid, task.n_valid), ("test", test, task.n_eval)):
            n = min(n, len(split))
            r = evaluate(model, split, spec, n_eval=n, batch_size=task.batch_size, seed=seed,
                         precision=precision, counted=split.prompts()[:n, :split.answer_len] == BLANK)
            row[name] = {"correct": "".join("01"[int(c)] for c in r["correct"]), "nfe": r["nfe_mean"],
                         "blanks_nfe": r["blanks_nfe"]}
        settings.append(row)
    return {"train": summary, "settings": settings}


def _bits(s: str) -> np.ndarray:
    return np.frombuffer(s.encode(), dtype=np.uint8).astype(np.float64) - ord("0")


def _curve(sweep: dict, family: str) -> tuple:
    """``(test costs, test scores, keep)``: ``keep`` = the Pareto settings on validation."""
    rows = [s for s in sweep["settings"] if s["family"] == family]
    valid = [_bits(r["valid"]["correct"]).mean() for r in rows]
    keep = pareto_frontier([r["valid"]["nfe"] for r in rows], valid)
    return [r["test"]["nfe"] for r in rows], np.stack([_bits(r["test"]["correct"]) for r in rows]), keep


def _choose(sweep: dict, family: str | None, n_boot: int, seed: int) -> dict:
    rows = {f"{s['family']}: {s['label']}": s for s in sweep["settings"] if family in (None, s["family"])}
    scores = {split: {k: _bits(r[split]["correct"]) for k, r in rows.items()} for split in ("valid", "test")}
    choice = choose_on_validation(scores["valid"], scores["test"], rule=within_one_se, n_boot=n_boot,
                                  seed=seed, cost={k: r["valid"]["nfe"] for k, r in rows.items()})
    chosen = rows[choice.key]["test"]
    return {**choice.to_dict(), "nfe": chosen["nfe"], "blanks_nfe": chosen["blanks_nfe"]}


def analyse(f: FrontierSetup, sweeps: list[dict], seed: int) -> dict:
    """Bands, matched-NFE differences and choices (see the module docstring) of the models' sweeps."""
    families = list(dict.fromkeys(s["family"] for s in sweeps[0]["settings"]))
    curves = {fam: [_curve(sw, fam) for sw in sweeps] for fam in families}
    grid = np.asarray(f.nfe_grid, dtype=np.float64)
    bands = {}
    for fam, cs in curves.items():
        at = np.stack([interpolate_frontier(c, s, grid, keep=k) for c, s, k in cs], axis=1)  # [G, M, I]
        band = clustered_band(at, n_boot=f.n_boot, seed=seed)
        bands[fam] = {name: v.tolist() for name, v in zip(("mean", "lo", "hi"), band)}
    matched = {}
    for fam in (fam for fam in families if fam.startswith("EB")):
        diffs = matched_cost_difference(curves[fam], curves["threshold"], grid, n_boot=f.n_boot, seed=seed)
        matched[fam] = [None if d is None else d.to_dict() for d in diffs]
    chosen = {fam or "any": [_choose(sw, fam, f.n_boot, seed) for sw in sweeps] for fam in (*families, None)}
    settings = [{"family": s["family"], "label": s["label"], **_means(sweeps, i)}
                for i, s in enumerate(sweeps[0]["settings"])]
    return {"models": list(f.models), "n_valid": len(sweeps[0]["settings"][0]["valid"]["correct"]),
            "n_test": len(sweeps[0]["settings"][0]["test"]["correct"]), "nfe_grid": grid.tolist(),
            "bands": bands, "matched": matched, "chosen": chosen, "settings": settings,
            "train": [sw["train"] for sw in sweeps]}


def _means(sweeps: list[dict], i: int) -> dict:
    """Setting ``i``'s accuracy, NFE and blanks-only NFE on each split, averaged over the models."""
    out = {}
    for split in ("valid", "test"):
        runs = [sw["settings"][i][split] for sw in sweeps]
        out[f"{split}_accuracy"] = float(np.mean([_bits(r["correct"]).mean() for r in runs]))
        out[f"{split}_nfe"] = float(np.mean([r["nfe"] for r in runs]))
        out[f"{split}_blanks_nfe"] = float(np.mean([r["blanks_nfe"] for r in runs]))
    return out
