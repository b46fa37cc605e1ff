"""Learning curves of ``mdm exp variance``: test accuracy on a fixed grid of SFT steps, per arm and seed.

Accuracy at one step is dominated by the seed-dependent step at which accuracy jumps, so the parts
here record the whole curve (every ``curve_every`` steps up to ``curve_steps``) and the statistics
(:mod:`mdm.experiments.variance.threshold`) read the steps and forward passes each run needs to reach
a threshold.  Three parts, so that the equal-compute definitions can be run (and cached) separately:

* ``curves``: every arm of ``curve_arms`` at the SFT batch ``B`` (equal steps; and equal forward
  passes by reading MIRROR arms, which score two masks per row, at half the steps);
* ``half-batch``: the MIRROR arms of ``half_batch_arms`` at ``B/2`` (two masks x B/2 rows = B rows per
  step, the standard arm's forward passes);
* ``double-batch``: the standard arm at ``2B`` (the MIRROR arms' forward passes per step).

Everything else -- the pretrained model (the ``mdm`` part's, recomputed bit for bit), the P-POTS fit,
the data order and noise of a seed, the learning rate -- is the ``mdm`` part's, so the first
``seeds`` runs at ``B`` repeat that part's runs exactly up to its last step.
"""

from __future__ import annotations

import copy
import statistics
import time
from pathlib import Path

import numpy as np

from mdm.eval.verified import decode_verified
from mdm.experiments.variance.arms import ARMS, make_model, pretrain_mdm, sft
from mdm.experiments.variance.parts import SEED_STRIDE, _data
from mdm.experiments.variance.presets import DECOMP_EPS, Preset
from mdm.provenance import write_json_atomic
from mdm.sampling import TopK
from mdm.variance import PPOTS, decompose, family_log, grid_kl

__all__ = ["KINDS", "base_model", "curve_parts", "ppots_summary", "read_steps", "run_steps"]

_BY_NAME = {a.name: a for a in ARMS}


def base_model(p: Preset, seed: int):
    """``(data, pretrained MDM, its A/B/C, fitted P-POTS)``: the ``mdm`` part's, in its order of draws."""
    d = _data(p, seed)
    base = pretrain_mdm(make_model(d.tok, **d.shape, seed=seed), d.x_train, **d.pre)
    abc = decompose(base, d.x_valid[d.rows], eligible=d.el_valid[d.rows], seed=seed, n_t=p.decomp_n_t,
                    n_masks=p.decomp_masks, replicates=p.decomp_reps, eps=DECOMP_EPS).as_dict()
    ppots = PPOTS(eps=1e-3).calibrate(base, d.x_train, eligible=d.el_train, grid=p.ppots_grid,
                                      n_examples=p.ppots_examples, n_masks=p.ppots_masks,
                                      restarts=p.ppots_restarts, seed=seed)
    return d, base, abc, ppots


def ppots_summary(ppots: PPOTS) -> dict:
    """The grid target ``sqrt(g^2 + v)`` and the fitted family on the grid, each normalised to a
    density on the grid, their KL (:func:`mdm.variance.grid_kl`), g, v and the fitted parameters."""
    est = ppots.estimate_
    grid, target = est.grid, est.target()
    fitted = [float(x) for x in np.exp(family_log(grid, ppots.params))]
    width = 1.0 / len(grid)  # estimate() uses the midpoints of `grid` equal cells of [0, 1]
    norm = lambda v: [float(x) / (sum(v) * width) for x in v]  # noqa: E731
    return {"grid": [float(t) for t in grid], "g": [float(x) for x in est.g], "v": [float(x) for x in est.v],
            "target_density": norm(list(target)), "fitted_density": norm(fitted),
            "kl": grid_kl(target, fitted), "params": vars(ppots.params).copy()}


def read_steps(p: Preset, steps: int) -> tuple[int, ...]:
    """The evaluation grid: 0 (the pretrained model) and every ``curve_every`` steps to ``steps``."""
    return (0, *range(p.curve_every, steps + 1, p.curve_every))


def run_steps(p: Preset, name: str, batch: int) -> int:
    """Steps of a run: every run gets the same budget of forward passes, ``2 * curve_steps`` batches
    of ``sft_batch`` rows (a MIRROR row is two passes), so each equal-compute comparison has its
    full horizon; the MIRROR arms at ``sft_batch`` run ``curve_steps`` steps."""
    passes_per_step = _BY_NAME[name].copies * batch / p.sft_batch
    return int(round(2 * p.curve_steps / passes_per_step))


def _kept_steps(p: Preset, grid) -> tuple[int, ...]:
    """Steps whose per-problem correctness is kept (paired accuracy at one step): the ``mdm`` part's
    half and last step."""
    return tuple(s for s in (p.sft_steps // 2, p.sft_steps) if s in grid)


def _runs(p: Preset, seed: int, specs: list[tuple[str, int]], seeds: range, progress=None) -> dict:
    """Every (arm, batch) of ``specs`` for the SFT seed indices ``seeds`` (seeds outer, so a run cut
    short has whole seeds); ``progress(result so far)`` is called after each seed."""
    d, base, abc, ppots = base_model(p, seed)
    test = d.evals["test"]

    def correct(m):  # greedy, one most-confident position per step, stop at eos; exact match
        return decode_verified(m, test, TopK(1), stop=d.tok.eos_id, pad_id=d.tok.pad_id).correct.tolist()

    at0 = correct(base)
    grids = {(name, batch): read_steps(p, run_steps(p, name, batch)) for name, batch in specs}
    out = {f"{name}@{batch}": {"arm": name, "batch": batch, "copies": _BY_NAME[name].copies, "acc": [],
                               "steps": list(grids[name, batch]), "wall_s": [],
                               "correct": {str(s): [] for s in _kept_steps(p, grids[name, batch])}}
           for name, batch in specs}
    result = {"n_test": len(test), "runs": out, "abc": abc, "ppots": ppots_summary(ppots),
              "seeds": list(seeds)}
    for s in (SEED_STRIDE * seed + i for i in seeds):
        for name, batch in specs:
            run, steps = out[f"{name}@{batch}"], grids[name, batch]
            model, curve, t0 = copy.deepcopy(base), {0: at0}, time.perf_counter()
            sft(model, d.x_train, d.el_train, _BY_NAME[name], ppots, seed=s, steps=steps[-1], batch=batch,
                lr=p.sft_lr, checkpoints=steps[1:],
                on_checkpoint=lambda i, m, curve=curve: curve.update({i: correct(m)}))
            run["wall_s"].append(time.perf_counter() - t0)
            run["acc"].append([statistics.fmean(curve[i]) for i in steps])
            for i in run["correct"]:
                run["correct"][i].append(curve[int(i)])
        if progress is not None:
            progress(result)
    return result


def _progress(ctx, part: str):
    """Saves the runs so far to ``OUT/progress/PART-seed-N.json`` (a long part cut short keeps them)."""
    if ctx is None:
        return None
    path = Path(ctx.out_dir) / "progress" / f"{part}-seed-{ctx.seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return lambda result: write_json_atomic(path, result)


#: the three kinds of curve part: name -> the (arm, batch) runs it makes, given the preset
KINDS = {
    "curves": lambda p: [(a, p.sft_batch) for a in p.curve_arms],
    "half-batch": lambda p: [(a, p.sft_batch // 2) for a in p.half_batch_arms],
    "double-batch": lambda p: [("standard", 2 * p.sft_batch)],
}


def _chunks(p: Preset, kind: str) -> list[range]:
    """The SFT seed indices ``0 .. curve_seeds - 1`` cut into ``curve_chunks`` parts for ``curves``
    (``extra_chunks`` for the others), so that they can run as separate processes and be cached apart."""
    n = p.curve_chunks if kind == "curves" else p.extra_chunks
    edges = [round(i * p.curve_seeds / n) for i in range(n + 1)]
    return [range(edges[i], edges[i + 1]) for i in range(n) if edges[i + 1] > edges[i]]


def curve_parts(p: Preset) -> list[tuple[str, object]]:
    """``(part name, run(p, seed, ctx))`` of every curve part: ``KIND`` when there is one chunk,
    ``KIND-i`` (i = 1, 2, ...) when the seeds are cut into several."""
    out = []
    for kind, specs in KINDS.items():
        chunks = _chunks(p, kind)
        for i, seeds in enumerate(chunks, start=1):
            name = kind if len(chunks) == 1 else f"{kind}-{i}"
            out.append((name, lambda p, seed, ctx, name=name, specs=specs, seeds=seeds:
                        _runs(p, seed, specs(p), seeds, _progress(ctx, name))))
    return out
