"""The plots of ``mdm exp eb-sampler``: accuracy vs NFE per task and with bands, the bound's scatter."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mdm.eval.eb_bound import MIN_BOUND
from mdm.experiments.plotting import figure

__all__ = ["plot_bound", "plot_frontier", "plot_task", "plots"]

_NFE_TICKS = (1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 89)


def _nfe_axis(ax, nfe, xlabel: str) -> None:
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.set_xticks([t for t in _NFE_TICKS if min(nfe) / 1.1 <= t <= max(nfe) * 1.1])
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3, which="both")


def plot_task(part: dict, path: Path, title: str) -> Path:
    """Accuracy vs mean NFE (log x), one curve per sampler family; one panel per block size."""
    variants = sorted({(r["block_size"], r.get("stop", True)) for r in part["rows"]},
                      key=lambda v: (not v[1], v[0] is not None, -(v[0] or 0)))
    families = sorted({r["family"] for r in part["rows"]})
    with figure(path, title=f"{title}: accuracy vs forward passes ({part['rows'][0]['n']} test prompts, "
                f"temperature 0)", ncols=len(variants), size=(5.2 * len(variants) + 1.0, 4.4), sharey=True,
                squeeze=False) as (fig, axes):
        for ax, (block, stop) in zip(axes[0], variants):
            here = [r for r in part["rows"] if r["block_size"] == block and r.get("stop", True) == stop]
            for i, family in enumerate(families):
                rows = sorted((r for r in here if r["family"] == family), key=lambda r: r["nfe_mean"])
                if rows:
                    ax.plot([r["nfe_mean"] for r in rows], [100 * r["accuracy"] for r in rows], marker="o",
                            ms=3.5, color=f"C{i}", label=family)
            xlabel = "mean NFE per sequence" + ("" if stop else " (no stop rule)")
            _nfe_axis(ax, [r["nfe_mean"] for r in here], xlabel)
            ax.set_title(("one block" if block is None else f"semi-AR blocks of {block}")
                         + ("" if stop else ", no stop rule"))
        axes[0][0].set_ylabel("accuracy (%)")
        axes[0][-1].legend(fontsize=8)
    return Path(path)


def plot_frontier(r: dict, path: Path) -> Path:
    """Each family's interpolated frontier (mean over models) with its two-stage band, and the
    settings themselves (means over models)."""
    grid = np.asarray(r["nfe_grid"])
    with figure(path, title=f"EB vs Threshold: {len(r['models'])} models x {r['n_test']} test puzzles, "
                "95% bands over models and puzzles", size=(7.5, 5.0)) as (fig, ax):
        for i, (fam, band) in enumerate(r["bands"].items()):
            mean, lo, hi = (100 * np.asarray(band[k], dtype=float) for k in ("mean", "lo", "hi"))
            ax.plot(grid, mean, color=f"C{i}", label=fam)
            ax.fill_between(grid, lo, hi, color=f"C{i}", alpha=0.2)
            pts = [s for s in r["settings"] if s["family"] == fam]
            ax.scatter([s["test_nfe"] for s in pts], [100 * s["test_accuracy"] for s in pts], s=10,
                       color=f"C{i}")
        _nfe_axis(ax, [*grid, *(s["test_nfe"] for s in r["settings"])], "mean NFE per puzzle")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=8)
    return Path(path)


def plot_bound(result: dict, path) -> Path:
    """``TC(S)`` against ``sum H - max H`` for the random sets (log-log, by ``|S|``) with the line
    ``TC = bound``; values at or below 1e-12 (zero up to rounding) are left out."""
    tc, bound, size = (np.asarray(result["raw"][k], dtype=np.float64) for k in ("tc", "bound", "size"))
    keep = (tc > MIN_BOUND) & (bound > MIN_BOUND)
    with figure(path, title=f"EB bound, random sets ({int(keep.sum())} of {tc.size} above 1e-12)",
                size=(5.5, 4.5), dpi=120) as (fig, ax):
        for k in sorted(set(size[keep].tolist())):
            sel = keep & (size == k)
            ax.scatter(bound[sel], tc[sel], s=10, alpha=0.6, label=f"|S| = {int(k)}")
        if keep.any():
            lo, hi = min(tc[keep].min(), bound[keep].min()), max(tc[keep].max(), bound[keep].max())
            ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="TC = sum H - max H")
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlabel("sum H - max H (nats)")
        ax.set_ylabel("total correlation TC(S) (nats)")
        ax.legend(fontsize=8)
    return Path(path)


def plots(result: dict, out_dir: Path) -> list[str]:
    """Every plot the result has data for; their file names."""
    names = [plot_bound(result["bound"], out_dir / "bound.png").name] if result.get("bound") else []
    if result.get("eb_vs_threshold"):
        names.append(plot_frontier(result["eb_vs_threshold"], out_dir / "eb-vs-threshold.png").name)
    tasks = result["tasks"].items()
    return names + [plot_task(part, out_dir / f"{name}.png", name).name for name, part in tasks]
