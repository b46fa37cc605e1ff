"""Small Sudoku (4x4, 6x6) decided on a CPU: AP-MDM vs a plain MDM vs an AR model (issue 27, item 3b).

Yang et al. (arXiv 2510.06190) report 99.28% on 9x9 Sudoku for AP-MDM trained on 100 puzzles' solver
traces, against 89.49% for an any-order MDM and 87.18% for an AR model.  9x9 is out of reach of this
CPU budget (``docs/results/any-process.md``), so the part ``sudoku-4x4`` / ``sudoku-6x6`` asks the
same question where three arms of one size can be trained to convergence: per training-set size
(100 and 1,000 puzzles) and per seed, each arm (:mod:`.sudoku_small_arms`) is trained and tested on
the same held-out puzzles.  The puzzles (:mod:`mdm.tasks.minisudoku`) are minimal and unique, and
fixed across seeds; the seed changes initialisation, batch order and the AP-MDM's traces.

Statistics (:mod:`mdm.eval.stats`): an arm's accuracy is the grand mean over ``[seeds, test
puzzles]`` with the two-stage (seeds, then puzzles) bootstrap CI; the arms' differences are paired
on the same seed and puzzle (:func:`~mdm.eval.stats.paired_difference_clustered`).  The AP-MDM's
sampling temperature is chosen per trained model on validation puzzles, never on test.
"""

from __future__ import annotations

import time

import numpy as np

from mdm.experiments.any_process import sudoku_small_arms as arms
from mdm.experiments.any_process.sudoku_small_presets import SmallSudokuSetup
from mdm.tasks.minisudoku import SHAPES, generate_splits

__all__ = ["part_names", "shape_part", "summarise", "report_lines"]


def _puzzles(setup: SmallSudokuSetup, name: str) -> dict:
    sizes = {"train": max(setup.n_train), "valid": setup.n_valid, "test": setup.n_test}
    return generate_splits(SHAPES[name], sizes, seed=setup.data_seed + 7919 * SHAPES[name].n)


def _one_model(setup, shape, split, n_train: int, seed: int) -> dict:
    """The three arms trained on the first ``n_train`` puzzles with ``seed``; per arm the test rows."""
    from mdm.sampling import Threshold, TopK

    size = {"d_model": setup.d_model, "n_layers": setup.n_layers, "n_heads": setup.n_heads}
    train = dict(size=size, steps=dict(setup.steps)[shape.name], batch_size=setup.batch_size, lr=setup.lr,
                 seed=seed)
    tp, ts = split["train"][0][:n_train], split["train"][1][:n_train]
    vp, (test_p, test_s) = split["valid"][0], split["test"]
    out = {}
    ap, summary = arms.train_arm("ap", shape, tp, ts, traces_per_puzzle=setup.traces_per_puzzle, **train)
    valid = {str(t): float(np.mean(arms.decode_ap(ap, shape, vp, max_steps=setup.ap_steps, temperature=t,
                                                  seed=seed)["correct"])) for t in setup.temperatures}
    best = max(setup.temperatures, key=lambda t: (valid[str(t)], -t))
    test = arms.decode_ap(ap, shape, test_p, max_steps=setup.ap_steps, temperature=best, seed=seed + 1)
    out["ap"] = {**test, "train": summary, "temperature": best, "valid": valid}
    mdm, summary = arms.train_arm("mdm", shape, tp, ts, **train)
    for arm, unmasker in (("mdm", TopK(1, proxy="confidence")),
                          ("mdm_threshold", Threshold(setup.threshold, proxy="confidence"))):
        out[arm] = {**arms.decode_mdm(mdm, shape, test_p, test_s, unmasker), "train": summary}
    ar, summary = arms.train_arm("ar", shape, tp, ts, **train)
    out["ar"] = {**arms.decode_ar(ar, shape, test_p, test_s), "train": summary}
    return out


def shape_part(name: str, n_train: int):
    """The part for one grid shape and training-set size: every seed x arm, then the summary."""

    def run(setup: SmallSudokuSetup, seed: int, ctx) -> dict:
        shape, t0 = SHAPES[name], time.perf_counter()
        split = _puzzles(setup, name)
        runs = {str(n_train): {str(s): _one_model(setup, shape, split, n_train, seed + s)
                               for s in setup.seeds}}
        test_clues = [sum(1 for v in q if v) for q in split["test"][0]]
        return {"shape": name, "n_train": n_train, "n_test": setup.n_test,
                "seeds": [seed + s for s in setup.seeds],
                "test_clues": [min(test_clues), float(np.mean(test_clues)), max(test_clues)],
                "runs": runs, "summary": summarise(runs), "wall_s": time.perf_counter() - t0}

    return run


def part_names(setup: SmallSudokuSetup) -> list[tuple[str, str, int]]:
    """``(part name, shape, training-set size)`` of every small-Sudoku part of ``setup``."""
    return [(f"sudoku-{name}-{n}", name, n) for name in setup.shapes for n in setup.n_train]


ARM_NAMES = {"ap": "AP-MDM (traces, remask)", "mdm": "MDM, top-1 confidence",
             "mdm_threshold": "MDM, confidence threshold", "ar": "AR (causal, left to right)"}
PAIRS = (("ap", "mdm"), ("ap", "ar"), ("mdm", "ar"), ("mdm_threshold", "mdm"))


def summarise(runs: dict) -> dict:
    """Per training-set size: each arm's accuracy (two-stage bootstrap CI over seeds and puzzles),
    mean forward passes, and the paired differences of :data:`PAIRS`."""
    from mdm.eval.stats import paired_difference_clustered

    out = {}
    for n_train, by_seed in runs.items():
        seeds = list(by_seed.values())
        grid = {a: np.array([r[a]["correct"] for r in seeds], dtype=float) for a in ARM_NAMES}
        row = {}
        for a, g in grid.items():
            est = paired_difference_clustered(g, np.zeros_like(g))
            row[a] = {"accuracy": est.mean, "ci": [est.lo, est.hi], "per_seed": g.mean(1).tolist(),
                      "nfe_mean": float(np.mean([r[a]["nfe"] for r in seeds])),
                      "parameters": seeds[0][a]["train"]["parameters"]}
        for a, b in PAIRS:
            est = paired_difference_clustered(grid[a], grid[b])
            row[f"{a}-{b}"] = {"diff": est.mean, "ci": [est.lo, est.hi], "p": est.p_value}
        out[n_train] = row
    return out


def report_lines(result: dict) -> list[str]:
    """The markdown section of every ``sudoku-SHAPE-N`` part in ``result``."""
    from mdm.experiments.common import markdown_table, with_ci

    lines = []
    for key in sorted(k for k in result if k.startswith("sudoku-") and isinstance(result[k], dict)
                      and "summary" in result[k]):
        r = result[key]
        lines += [f"## Small Sudoku {r['shape']}, {r['n_train']} training puzzles: AP-MDM vs MDM vs AR", "",
                  f"{r['n_test']} test puzzles ({r['test_clues'][0]}-{r['test_clues'][2]} clues, minimal, "
                  f"unique); seeds {r['seeds']}; accuracy = fully correct grids, 95% two-stage bootstrap CI "
                  "(seeds, then puzzles).", ""]
        rows, diffs = [], []
        for n_train, s in r["summary"].items():
            for a, label in ARM_NAMES.items():
                rows.append([n_train, label, with_ci(s[a]["accuracy"], s[a]["ci"], digits=3),
                             " / ".join(f"{v:.3f}" for v in s[a]["per_seed"]), f"{s[a]['nfe_mean']:.1f}",
                             s[a]["parameters"]])
            for a, b in PAIRS:
                d = s[f"{a}-{b}"]
                diffs.append([n_train, f"{ARM_NAMES[a]} - {ARM_NAMES[b]}",
                              with_ci(d["diff"], d["ci"], digits=3, sign=True), f"{d['p']:.2g}"])
        head = ["train puzzles", "arm", "accuracy [95% CI]", "per seed", "NFE", "params"]
        lines += [markdown_table(head, rows),
                  "", markdown_table(["train puzzles", "paired difference", "mean [95% CI]", "sign-flip p"],
                                     diffs), ""]
    return lines
