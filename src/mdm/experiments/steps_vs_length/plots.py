"""The plots of ``mdm exp steps-vs-length``; the thresholds they show come from
:mod:`mdm.experiments.steps_vs_length.analysis`."""

from __future__ import annotations

from pathlib import Path

from mdm.experiments.plotting import label_axes, pyplot
from mdm.experiments.steps_vs_length.analysis import (
    PPL_TOLERANCE,
    SER_TARGET,
    TER_TOLERANCE,
    by_curve,
    deciding,
    ter_of,
)

__all__ = ["write_plots"]


def _colors(lengths):
    plt = pyplot()
    cmap = plt.get_cmap("viridis")
    n = max(1, len(lengths) - 1)
    return {length: cmap(0.9 * i / n) for i, length in enumerate(lengths)}


def _grid_plot(series, denoiser: str, languages, path: Path, ylabel: str, value, x_over_length=False,
               hline=None, title="") -> str | None:
    """One panel per (language, sampler), one curve per L."""
    keys = sorted({(lang, s) for (d, lang, s) in series if d == denoiser and lang in languages})
    if not keys:
        return None
    languages = sorted({k[0] for k in keys})
    samplers = [s for s in ("ancestral", "random", "confidence") if any(k[1] == s for k in keys)]
    plt = pyplot()
    fig, axes = plt.subplots(len(languages), len(samplers), squeeze=False,
                             figsize=(4.2 * len(samplers), 3.2 * len(languages)))
    lengths = sorted({n for k, v in series.items() if k[0] == denoiser for n in v})
    colors = _colors(lengths)
    for i, lang in enumerate(languages):
        for j, sampler in enumerate(samplers):
            ax = axes[i][j]
            for length, rs in series.get((denoiser, lang, sampler), {}).items():
                xs = [r["steps"] / length if x_over_length else r["steps"] for r in rs]
                ax.plot(xs, [value(r) for r in rs], "o-", ms=3, color=colors[length], label=f"L={length}")
            if hline is not None:
                ax.axhline(hline, color="gray", ls=":", lw=1)
            label_axes(ax, xlabel="N / L" if x_over_length else "steps N", ylabel=ylabel,
                       title=f"{lang} / {sampler}", log2x=True, legend=None)
            if not (series.get((denoiser, lang, sampler))):
                ax.set_visible(False)
    next(ax for row in axes for ax in row if ax.get_visible()).legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _thresholds_plot(curves: dict, roles: dict, path: Path) -> str | None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    styles = {"ancestral": "o-", "random": "s--", "confidence": "^:"}
    palette = plt.get_cmap("tab10")
    colors = {name: palette(i) for i, name in enumerate(sorted(roles))}
    drawn = False
    for key, c in sorted(curves.items()):
        denoiser, lang, sampler = key.split("/")
        if denoiser != "oracle":
            continue
        for ax, metric in zip(axes, ("ter", "ser"), strict=True):
            pts = [(int(n), v[f"n_{metric}"]) for n, v in c["per_length"].items()
                   if v[f"n_{metric}"] is not None]
            if lang in deciding(roles, metric) and len(pts) >= 2:
                ax.plot(*zip(*pts, strict=True), styles.get(sampler, "o-"), ms=4, color=colors[lang],
                        label=f"{lang} / {sampler}")
                drawn = True
    if not drawn:
        plt.close(fig)
        return None
    lengths = sorted({int(n) for c in curves.values() for n in c["per_length"]})
    for ax, title in zip(axes, (f"N needed: perplexity within {PPL_TOLERANCE:.0%} (TER)",
                                f"N needed: SER <= {SER_TARGET:.0%}"), strict=True):
        ax.plot(lengths, lengths, color="gray", lw=1, ls=":", label="N = L")
        label_axes(ax, xlabel="sequence length L", ylabel="steps N", title=f"exact oracle, {title}",
                   log2x=True, log2y=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _model_plot(series, roles: dict, path: Path) -> str | None:
    """Per sampler (rows) and per trained language and the metric its role decides (columns):
    the oracle's curves (solid) beside the trained model's (dashed), one color per L."""
    panels = [(lang, metric) for lang in sorted({k[1] for k in series if k[0] == "model"})
              for metric in ("ter", "ser") if lang in deciding(roles, metric)]
    samplers = [s for s in ("ancestral", "random", "confidence")
                if any(k[0] == "model" and k[2] == s for k in series)]
    if not panels or not samplers:
        return None
    metrics = {"ter": ("TER gap (nats/token)", ter_of, TER_TOLERANCE),
               "ser": ("SER", lambda r: r["ser"], SER_TARGET)}
    plt = pyplot()
    fig, axes = plt.subplots(len(samplers), len(panels), figsize=(4.6 * len(panels), 3.2 * len(samplers)),
                             squeeze=False)
    for i, sampler in enumerate(samplers):
        for j, (lang, metric) in enumerate(panels):
            ax = axes[i][j]
            label, value, hline = metrics[metric]
            colors = _colors(list(series.get(("model", lang, sampler), {})))
            for denoiser, style in (("oracle", "o-"), ("model", "s--")):
                for length, rs in series.get((denoiser, lang, sampler), {}).items():
                    if length in colors:
                        ax.plot([r["steps"] for r in rs], [value(r) for r in rs], style, ms=3,
                                color=colors[length], label=f"{denoiser} L={length}")
            ax.axhline(hline, color="gray", ls=":", lw=1)
            label_axes(ax, xlabel="steps N", ylabel=label, fontsize=8, log2x=True,
                       title=f"{lang} / {sampler}: oracle (solid), trained model (dashed)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def write_plots(result: dict, out_dir: Path) -> list[str]:
    """The PNGs of a run (names relative to ``out_dir``)."""
    out_dir = Path(out_dir)
    series = by_curve(result["rows"])
    roles = result["analysis"]["roles"]
    ter_langs, ser_langs = deciding(roles, "ter"), deciding(roles, "ser")
    made = [
        _grid_plot(series, "oracle", ter_langs, out_dir / "ter_gap_vs_steps.png", "TER gap (nats/token)",
                   ter_of, hline=TER_TOLERANCE, title="exact oracle: token-error gap to the entropy rate vs "
                   "steps N (dotted: ln 1.05, perplexity +5%; sparse HMM: valid samples only)"),
        _grid_plot(series, "oracle", ser_langs, out_dir / "ser_vs_steps.png", "SER", lambda r: r["ser"],
                   hline=SER_TARGET, title="exact oracle: sequence error rate vs steps N (dotted: 10%)"),
        _grid_plot(series, "oracle", ser_langs, out_dir / "ser_vs_steps_over_length.png", "SER",
                   lambda r: r["ser"], x_over_length=True, hline=SER_TARGET,
                   title="exact oracle: sequence error rate vs N / L"),
        _thresholds_plot(result["analysis"]["curves"], roles, out_dir / "steps_needed_vs_length.png"),
        _model_plot(series, roles, out_dir / "model_vs_oracle.png"),
    ]
    return [m for m in made if m]
