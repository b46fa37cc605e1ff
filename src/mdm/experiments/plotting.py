"""The one plotting helper of the experiments: a headless matplotlib and a figure that is always
titled, labelled, saved and closed the same way."""

from __future__ import annotations

import contextlib
from pathlib import Path

__all__ = ["figure", "pyplot"]


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (PNG files, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextlib.contextmanager
def figure(path: Path, *, title: str | None = None, nrows: int = 1, ncols: int = 1,
           size: tuple[float, float] | None = None, dpi: int = 110, squeeze: bool = True, **kwargs):
    """``with figure(path, title=..., ncols=2) as (fig, axes): ...`` draws, then (on success) adds the
    title, lays out, saves ``path`` and closes the figure; it is closed on error too."""
    plt = pyplot()
    fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=squeeze, **kwargs)
    try:
        yield fig, axes
        if title:
            fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=dpi)
    finally:
        plt.close(fig)


def label_axes(ax, *, xlabel: str, ylabel: str, title: str, fontsize: float = 9, log2x: bool = False,
               log2y: bool = False, legend: float | None = 6) -> None:
    """Axis labels, a title, base-2 log scales where asked, a light grid and (``legend``: its
    font size, None for none) a legend: every panel labelled the same way."""
    if log2x:
        ax.set_xscale("log", base=2)
    if log2y:
        ax.set_yscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=fontsize)
    ax.grid(alpha=0.3)
    if legend is not None:
        ax.legend(fontsize=legend)
