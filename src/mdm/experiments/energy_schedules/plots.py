"""The plots of ``mdm exp energy-schedules``: the toy's heatmaps and metric vs steps per sweep (the
tuner's heatmaps are drawn by the parts, see :mod:`mdm.experiments.energy_schedules.parts`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mdm.experiments.energy_schedules.sweeps import HIGHLIGHT
from mdm.experiments.plotting import pyplot

__all__ = ["plot_sweep", "plot_toy", "write_plots"]

_YLABEL = {"gap": "TER gap: NLL/token - entropy rate (nats)", "ser": "SER", "accuracy": "accuracy"}


def plot_sweep(rows: list[dict], path: Path, title: str, metrics=("gap", "ser"), highlight=()) -> Path:
    """One panel per (metric, order) of a sweep; schedules named in ``highlight`` drawn solid."""
    plt = pyplot()
    orders = list(dict.fromkeys(r["order"] for r in rows))
    size = (5.2 * len(orders), 3.6 * len(metrics))
    fig, axes = plt.subplots(len(metrics), len(orders), figsize=size, squeeze=False)
    for j, order in enumerate(orders):
        mine = [r for r in rows if r["order"] == order]
        for i, metric in enumerate(metrics):
            ax = axes[i][j]
            for label in dict.fromkeys(r["label"] for r in mine):
                pts = sorted((r["steps"], r[metric], r.get(f"{metric}_se", 0.0)) for r in mine
                             if r["label"] == label)
                n, v, se = zip(*pts)
                style = "-o" if label.split("=")[0] in highlight else "--s"
                ax.errorbar(n, v, yerr=se, fmt=style, ms=4, capsize=2, label=label)
            ax.set_xscale("log", base=2)
            ax.set_xlabel("steps N")
            ax.set_ylabel(_YLABEL.get(metric, metric))
            ax.set_title(f"{title}: {order} order", fontsize=9)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_toy(result: dict, out_dir, *, metrics: Sequence[str] = ("kl", "tv")) -> list:
    """One PNG per target: rows KL / TV, one column per sampler; linear (o), sin^2 (s), best (*)."""
    plt = pyplot()
    grid = result["grid"]
    paths = []
    for name, res in result["targets"].items():
        variants = list(res["heatmaps"])
        size = (4.2 * len(variants), 3.6 * len(metrics))
        fig, axes = plt.subplots(len(metrics), len(variants), figsize=size, squeeze=False)
        for col, key in enumerate(variants):
            for row, metric in enumerate(metrics):
                ax = axes[row][col]
                z = np.array(res["heatmaps"][key][metric])
                im = ax.imshow(z, origin="lower", cmap="magma_r", aspect="auto",
                               extent=(grid[0] - 0.025, grid[-1] + 0.025, grid[0] - 0.025, grid[-1] + 0.025))
                fig.colorbar(im, ax=ax, fraction=0.046)
                ax.plot(0.5, 0.5, "o", mfc="none", mec="c", ms=9, mew=2, label="linear (0.5, 0.5)")
                ax.plot(1.0, 1.0, "s", mfc="none", mec="lime", ms=9, mew=2, label="sin\u00b2 (1, 1)")
                best = res["best"][key]
                if best["n_tied_cells"] > 1:  # a plateau of optimal cells: mark all of them
                    tied = np.array(best["tied_cells"])
                    ax.plot(tied[:, 1], tied[:, 0], ".", color="red", ms=3, label="optimal (tied)")
                else:
                    ax.plot(best["b"], best["a"], "*", color="red", ms=11, label="optimal")
                ax.set_xlabel("b")
                ax.set_ylabel("a")
                ax.set_title(f"target {name}: {metric.upper()} ({key})", fontsize=9)
                if row == 0 and col == 0:
                    ax.legend(fontsize=6, loc="lower left")
        fig.tight_layout()
        path = Path(out_dir) / f"toy_{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def write_plots(result: dict, out_dir: Path) -> list[str]:
    """Every PNG drawn from the result (names relative to ``out_dir``)."""
    names = [p.name for p in plot_toy(result["toy"], out_dir)] if result.get("toy") else []
    for section in ("languages", "trained"):
        for part in (result.get(section) or {}).values():
            name = part["plot"][len("sweep_"):-len(".png")]
            names.append(plot_sweep(part["rows"], out_dir / part["plot"], name, highlight=HIGHLIGHT).name)
    for name, part in (result.get("padding") or {}).items():
        names.append(plot_sweep(part["rows"], out_dir / part["plot"], f"arithmetic ({name})",
                                metrics=("accuracy",), highlight=HIGHLIGHT).name)
    if result.get("task"):
        names.append(plot_sweep(result["task"]["rows"], out_dir / "sweep_task.png", result["task"]["task"],
                                metrics=("accuracy",), highlight=HIGHLIGHT).name)
    return names
