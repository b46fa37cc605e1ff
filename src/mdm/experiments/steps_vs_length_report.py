"""Plots and the report of ``mdm exp steps-vs-length``; the thresholds they show come from
:mod:`mdm.experiments.steps_vs_length_analysis`."""

from __future__ import annotations

import math
from pathlib import Path

from mdm.experiments.common import markdown_table, provenance_markdown
from mdm.experiments.steps_vs_length_analysis import (
    PPL_TOLERANCE,
    SER_TARGET,
    TER_TOLERANCE,
    THEORY_SAMPLER,
    by_curve,
    deciding,
    ter_of,
)

__all__ = ["write_plots", "write_report", "threshold_table", "fixed_steps_table", "order_table"]


# ----------------------------------------------------------------------------- plots


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colors(lengths):
    plt = _plt()
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
    plt = _plt()
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
            ax.set_xscale("log", base=2)
            ax.set_title(f"{lang} / {sampler}", fontsize=9)
            ax.set_xlabel("N / L" if x_over_length else "steps N")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            if not (series.get((denoiser, lang, sampler))):
                ax.set_visible(False)
    next(ax for row in axes for ax in row if ax.get_visible()).legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _thresholds_plot(curves: dict, roles: dict, path: Path) -> str | None:
    plt = _plt()
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
            pts = [(n, v[f"n_{metric}"]) for n, v in c["per_length"].items() if v[f"n_{metric}"] is not None]
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
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xlabel("sequence length L")
        ax.set_ylabel("steps N")
        ax.set_title(f"exact oracle, {title}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
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
    plt = _plt()
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
            ax.set_xscale("log", base=2)
            ax.set_xlabel("steps N")
            ax.set_ylabel(label)
            ax.set_title(f"{lang} / {sampler}: oracle (solid), trained model (dashed)", fontsize=8)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6)
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


# ----------------------------------------------------------------------------- report


def _fmt_n(v) -> str:
    return "—" if v is None else f"{v:.3g}"


def _fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:.{digits}f}"


def threshold_table(curves: dict, roles: dict, metric: str, denoiser: str = "oracle") -> str:
    names = deciding(roles, metric)
    keys = [k for k in sorted(curves) if k.startswith(denoiser + "/") and k.split("/")[1] in names]
    lengths = sorted({int(n) for k in keys for n in curves[k]["per_length"]})
    rows = []
    for k in keys:
        c = curves[k]
        _, lang, sampler = k.split("/")
        cells = [_fmt_n(c["per_length"][n][f"n_{metric}"]) if n in c["per_length"] else "" for n in lengths]
        rows.append([lang, sampler, *cells, _fmt(c[f"{metric}_exponent"], 2)])
    if not rows:
        return f"(no {denoiser} curve decides the {metric.upper()} half in this preset)"
    return markdown_table(["language", "sampler", *[f"L={n}" for n in lengths], "exponent"], rows)


def fixed_steps_table(rows: list[dict], roles: dict, steps: tuple[int, ...], metric: str,
                      sampler: str = THEORY_SAMPLER, denoiser: str = "oracle") -> str:
    """``metric`` ("gap" or "ser") at fixed N for every L: flat along a row means independent of L."""
    series = by_curve(rows)
    table = []
    for (d, lang, s), by_length in sorted(series.items()):
        if d != denoiser or s != sampler or lang not in deciding(roles, "ter" if metric == "gap" else "ser"):
            continue
        for n in steps:
            vals = []
            for _length, rs in by_length.items():
                hit = [r for r in rs if r["steps"] == n]
                vals.append(_fmt(ter_of(hit[0]) if metric == "gap" else hit[0][metric]) if hit else "·")
            table.append([lang, n, *vals])
    lengths = sorted({r["length"] for r in rows if r["denoiser"] == denoiser})
    return markdown_table(["language", "N", *[f"L={n}" for n in lengths]], table)


def order_table(curves: dict, roles: dict, denoiser: str = "oracle") -> str:
    """Beyond the paper: N* with confidence order next to random order (Scheduled) and the
    ancestral sampler, per L, as ``confidence / random / ancestral``."""
    table = []
    for metric in ("ter", "ser"):
        for lang in deciding(roles, metric):
            base = {s: curves.get(f"{denoiser}/{lang}/{s}") for s in ("confidence", "random", THEORY_SAMPLER)}
            if base["confidence"] is None:
                continue
            lengths = list(base["confidence"]["per_length"])
            cells = [" / ".join(_fmt_n(c["per_length"][n][f"n_{metric}"]) if c and n in c["per_length"]
                                else "·" for c in base.values()) for n in lengths]
            exps = " / ".join(_fmt(c[f"{metric}_exponent"], 2) if c else "·" for c in base.values())
            table.append([metric.upper(), lang, *cells, exps])
    if not table:
        return "(no confidence-order sweep in this preset)"
    lengths = sorted({int(n) for k, c in curves.items() if k.startswith(denoiser) for n in c["per_length"]})
    return markdown_table(["N* for", "language", *[f"L={n}" for n in lengths], "exponents"], table)


def write_report(result: dict, path: Path) -> None:
    a = result["analysis"]
    rows = result["rows"]
    d = a["definitions"]
    lines = [
        "# steps vs sequence length: token error vs sequence error",
        "",
        f"Reproduces: {result['paper']}.",
        "",
        provenance_markdown(result["provenance"]),
        f"Wall time: {result['wall_seconds']:.0f} s.",
        "",
        "## Verdict",
        "",
    ]
    for half, label in (("ter_half", "TER: steps independent of L"), ("ser_half", "SER: steps grow with L")):
        v = a[half]
        detail = "; ".join(f"{k}: exponent {_fmt(x['exponent'], 2)} ({x['verdict']})"
                           for k, x in v["languages"].items())
        lines.append(f"- **{label}** — {v['overall']} ({detail})")
    lines += [
        "",
        f"N* = smallest N with perplexity within {d['ppl_tolerance']:.0%} of its floor (gap <= floor + "
        f"{d['ter_tolerance_nats']:.4f} nats/token; floor 0 for the exact oracle, a trained model's own gap "
        f"with one token per step; TER needs >= {d['min_valid']} valid samples) or with SER <= "
        f"{d['ser_target']:.0%}, interpolated in log N; exponent = slope of log N* on log L. "
        "Verdicts use the oracle with the "
        f"{d['theory_sampler']} sampler: TER exponent <= {d['ter_exponent_max']}, SER exponent >= "
        f"{d['ser_exponent_min']}.",
        "",
        "## N needed for the token error (oracle)",
        "",
        threshold_table(a["curves"], a["roles"], "ter"),
        "",
        "## N needed for SER <= 10% (oracle)",
        "",
        threshold_table(a["curves"], a["roles"], "ser"),
        "",
        "## TER gap (nats/token) at fixed N, ancestral oracle",
        "",
        fixed_steps_table(rows, a["roles"], (2, 4, 8, 16), "gap"),
        "",
        "## SER at fixed N, ancestral oracle",
        "",
        fixed_steps_table(rows, a["roles"], (4, 16, 64), "ser"),
        "",
        "## Confidence order vs random order (beyond the paper)",
        "",
        "N* as confidence / random / ancestral (— = not reached on the grid):",
        "",
        order_table(a["curves"], a["roles"]),
        "",
    ]
    if result["models"]:
        lines += [
            "## Trained model",
            "",
            "One model per language, trained on all its lengths (see `models` in result.json).",
            "",
            markdown_table(
                ["language", "params", "train tokens", "train s", "L", "held-out NELBO", "entropy rate",
                 "NELBO gap"],
                [[m["language"], m["parameters"], m["train_tokens"], f"{m['train_seconds']:.0f}", n,
                  _fmt(m["heldout_nelbo_per_token"][n]), _fmt(m["entropy_per_token"][n]),
                  _fmt(m["nelbo_gap_per_token"][n])]
                 for m in result["models"] for n in m["heldout_nelbo_per_token"]],
            ),
            "",
            "N needed, trained model (TER: perplexity within 5% of the model's own floor below):",
            "",
            threshold_table(a["curves"], a["roles"], "ter", "model"),
            "",
            threshold_table(a["curves"], a["roles"], "ser", "model"),
            "",
            "The model's own error (its floor): TER gap and SER of one-token-per-step random-order "
            "sampling (N = L), an exact sampler of the model's conditionals:",
            "",
            markdown_table(
                ["language", "L", "TER gap floor", "SER floor"],
                [[k.split("/")[1], n, _fmt(v["ter_floor"]), _fmt(v["ser_floor"])]
                 for k, c in sorted(a["curves"].items()) if k.startswith("model/") and k.endswith("/random")
                 for n, v in c["per_length"].items()],
            ),
            "",
        ]
    lines += ["## Plots", ""] + [f"![{p}]({p})" for p in result["plots"]] + [""]
    Path(path).write_text("\n".join(lines), encoding="utf-8")
