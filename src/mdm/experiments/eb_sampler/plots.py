"""The plots of ``mdm exp eb-sampler``: accuracy vs NFE per task, the bound's scatter."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mdm.experiments.eb_sampler.bound import MIN_BOUND
from mdm.experiments.plotting import pyplot

__all__ = ["plot_bound", "plot_task"]

_NFE_TICKS = (1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 89)


def plot_task(part: dict, path: Path, title: str) -> Path:
    """Accuracy vs mean NFE (log x), one curve per sampler family; one panel per block size."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    plt = pyplot()

    variants = sorted({(r["block_size"], r.get("stop", True)) for r in part["rows"]},
                      key=lambda v: (not v[1], v[0] is not None, -(v[0] or 0)))
    families = sorted({r["family"] for r in part["rows"]})
    colors = {f: plt.cm.tab10(i) for i, f in enumerate(families)}
    width = 5.2 * len(variants) + 1.0
    fig, axes = plt.subplots(1, len(variants), figsize=(width, 4.4), sharey=True, squeeze=False)
    for ax, (block, stop) in zip(axes[0], variants):
        here = [r for r in part["rows"] if r["block_size"] == block and r.get("stop", True) == stop]
        for family in families:
            rows = sorted((r for r in here if r["family"] == family), key=lambda r: r["nfe_mean"])
            if rows:
                ax.plot([r["nfe_mean"] for r in rows], [100 * r["accuracy"] for r in rows], marker="o",
                        ms=3.5, color=colors[family], label=family)
        ax.set_xscale("log")
        nfe = [r["nfe_mean"] for r in here]
        ax.set_xticks([t for t in _NFE_TICKS if min(nfe) / 1.1 <= t <= max(nfe) * 1.1])
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("mean NFE per sequence" + ("" if stop else " (no stop rule)"))
        ax.set_title(("one block" if block is None else f"semi-AR blocks of {block}")
                     + ("" if stop else ", no stop rule"))
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("accuracy (%)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(f"{title}: accuracy vs forward passes ({part['rows'][0]['n']} test prompts, temperature 0)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_bound(result: dict, path) -> Path:
    """Scatter of ``TC(S)`` against ``sum H - max H`` for the random sets, coloured by ``|S|``, on
    log-log axes with the line ``TC = bound``.  Points with a value at or below 1e-12 (zero up to
    rounding) are left out."""
    plt = pyplot()
    tc, bound, size = (np.asarray(result["raw"][k], dtype=np.float64) for k in ("tc", "bound", "size"))
    keep = (tc > MIN_BOUND) & (bound > MIN_BOUND)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
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
    ax.set_title(f"EB bound, random sets ({int(keep.sum())} of {tc.size} above 1e-12)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
