"""The plots of ``mdm exp energy-schedules``: the toy's heatmaps and metric vs steps per sweep (the
tuner's heatmaps are drawn by :mod:`mdm.experiments.energy_schedules.sweeps`)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from mdm.experiments.energy_schedules.sweeps import HIGHLIGHT
from mdm.experiments.plotting import figure, label_axes

_YLABEL = {"gap": "TER gap: NLL/token - entropy rate (nats)", "ser": "SER", "accuracy": "accuracy"}


def plot_sweep(rows: list[dict], path: Path, title: str, metrics=("gap", "ser")) -> str:
    """One panel per (metric, order); the paper's convex Betas and the tuned one drawn solid."""
    orders = list(dict.fromkeys(r["order"] for r in rows))
    with figure(path, nrows=len(metrics), ncols=len(orders), squeeze=False,
                size=(5.2 * len(orders), 3.6 * len(metrics))) as (_, axes):
        for (i, metric), (j, order) in itertools.product(enumerate(metrics), enumerate(orders)):
            ax = axes[i][j]
            for label in dict.fromkeys(r["label"] for r in rows if r["order"] == order):
                n, v, se = zip(*sorted((r["steps"], r[metric], r.get(f"{metric}_se", 0.0)) for r in rows
                                       if r["order"] == order and r["label"] == label))
                ax.errorbar(n, v, yerr=se, fmt="-o" if label.split("=")[0] in HIGHLIGHT else "--s", ms=4,
                            capsize=2, label=label)
            label_axes(ax, xlabel="steps N", ylabel=_YLABEL.get(metric, metric), log2x=True,
                       title=f"{title}: {order} order", legend=6 if i == 0 else None)
    return Path(path).name


def plot_toy(toy: dict, out_dir: Path) -> list[str]:
    """One PNG per target: rows KL / TV, one column per sampler; linear (o), sin^2 (s), optimum (red)."""
    grid, names = toy["grid"], []
    extent = (grid[0] - 0.025, grid[-1] + 0.025, grid[0] - 0.025, grid[-1] + 0.025)
    for name, res in toy["targets"].items():
        samplers = list(res["heatmaps"])
        with figure(Path(out_dir) / f"toy_{name}.png", nrows=2, ncols=len(samplers), squeeze=False,
                    size=(4.2 * len(samplers), 7.2)) as (fig, axes):
            for (row, metric), (col, key) in itertools.product(enumerate(("kl", "tv")), enumerate(samplers)):
                ax = axes[row][col]
                im = ax.imshow(np.array(res["heatmaps"][key][metric]), origin="lower", cmap="magma_r",
                               aspect="auto", extent=extent)
                fig.colorbar(im, ax=ax, fraction=0.046)
                ax.plot(0.5, 0.5, "o", mfc="none", mec="c", ms=9, mew=2, label="linear (0.5, 0.5)")
                ax.plot(1.0, 1.0, "s", mfc="none", mec="lime", ms=9, mew=2, label="sin\u00b2 (1, 1)")
                tied = np.array(res["best"][key]["tied_cells"])  # every optimal cell (plateaus)
                one = len(tied) == 1
                ax.plot(tied[:, 1], tied[:, 0], "*" if one else ".", color="red", ms=11 if one else 3,
                        label="optimal")
                label_axes(ax, xlabel="b", ylabel="a", title=f"target {name}: {metric.upper()} ({key})",
                           legend=6 if row == col == 0 else None)
        names.append(f"toy_{name}.png")
    return names


def write_plots(result: dict, out_dir: Path) -> list[str]:
    """Every PNG drawn from the result (names relative to ``out_dir``)."""
    names = plot_toy(result["toy"], out_dir) if result.get("toy") else []
    for section in ("languages", "trained"):
        for part in (result.get(section) or {}).values():
            title = part["plot"][len("sweep_"):-len(".png")]
            names.append(plot_sweep(part["rows"], out_dir / part["plot"], title))
    return names
