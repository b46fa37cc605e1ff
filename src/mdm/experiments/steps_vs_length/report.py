"""The report and plots of ``mdm exp steps-vs-length`` (numbers from :mod:`.analysis`)."""

from __future__ import annotations

import math
from pathlib import Path

from mdm.eval.stats import summarize
from mdm.experiments.common import markdown_table
from mdm.experiments.plotting import figure, label_axes
from mdm.experiments.steps_vs_length.analysis import (
    SER_TARGET,
    TER_TOLERANCE,
    by_curve,
    deciding,
    scaling_verdict,
    ter_of,
)

__all__ = ["report", "verdict_lines", "write_plots"]


def _n(v) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3g}"


def _ci(e: dict) -> str:
    return f"{e['mean']:.2f} [{e['lo']:.2f}, {e['hi']:.2f}] (n={e['n']})"


def _deciding_exponent(x: dict, metric: str) -> str:
    """The exponent a verdict reads (SER: over the instances with c > 0, where there are such)."""
    if metric == "ser" and x.get("exponent_where_breakable"):
        return f"{_ci(x['exponent_where_breakable'])} over c > 0"
    return _ci(x["exponent"])


def verdict_lines(result: dict) -> list[str]:
    a, scaling = result["analysis"], result.get("scaling")
    if scaling:
        return [f"{label}: {scaling_verdict(scaling, m)} (exponent, 95% CI over seeds: "
                + "; ".join(f"{k} {_deciding_exponent(s['summary'][m], m)}" for k, s in scaling.items()) + ")"
                for m, label in (("ter", "TER: steps independent of L"), ("ser", "SER: steps grow with L"))]
    return [f"TER: steps independent of L -- {a['ter_half']['overall']}",
            f"SER: steps grow with L -- {a['ser_half']['overall']}"]


def _model_table(result: dict) -> list[str]:
    """Per L: each trained model's own floor (random order, N = L) and N*_SER, mean and CI over models."""
    curves = {k: c for k, c in result["analysis"]["curves"].items()
              if k.startswith("model") and k.endswith("/random")}
    rows = []
    for length in sorted({int(n) for c in curves.values() for n in c["per_length"]}):
        cells = [c["per_length"].get(str(length), {}) for c in curves.values()]
        row = [length]
        gaps = [m["nelbo_gap_per_token"].get(str(length)) for m in result["models"]]
        for key in ("nelbo_gap", "ter_floor", "ser_floor", "n_ser"):
            vals = [v for v in (gaps if key == "nelbo_gap" else [c.get(key) for c in cells])
                    if v is not None and not math.isnan(v)]
            est = summarize(vals) if vals else None
            row.append("—" if est is None else
                       f"{est.mean:.3g} [{est.lo:.3g}, {est.hi:.3g}] ({len(vals)}/{len(cells)})")
        rows.append(row)
    return ["## Trained models: their own floor", "",
            f"{len(curves)} model(s), random order; mean [95% bootstrap CI over models] "
            "(models with a value / models):", "",
            markdown_table(["L", "held-out NELBO - entropy rate", "TER gap at N = L", "SER at N = L",
                            "N* for SER <= 10%"], rows), ""]


def report(result: dict, p=None) -> str:
    """The markdown body (the runner adds the evidence box, plots and provenance)."""
    a = result["analysis"]
    lines = ["# steps vs sequence length: token error vs sequence error", "",
             f"Reproduces: {result['paper']}.",
             "", "## Verdict", "", *(f"- {line}" for line in verdict_lines(result)), "",
             "N* = fewest steps with perplexity within 5% of its floor (TER) or SER <= 10%, interpolated in "
             "log N; exponent = slope of log N* on log L (see `analysis` in result.json).", ""]
    for key, s in result.get("scaling", {}).items():
        ter, ser = s["summary"]["ter"], s["summary"]["ser"]
        rows = [[m.upper(), ", ".join(f"{n}: {_n(v)}" for n, v in zip(x["lengths"], x["n_star_geomean"])),
                 _ci(x["exponent"]), " ".join(_n(e) for e in x["exponent_by_seed"])]
                for m, x in (("ter", ter), ("ser", ser))]
        if ser.get("exponent_where_breakable"):
            rows.append(["SER where c > 0", "", _ci(ser["exponent_where_breakable"]),
                         f"{ser['breakable_seeds']} of {len(ser['invalid_window_mass'])} instances"])
        lines += [f"## N*(L), {key} n-grams (ancestral sampler, exact oracle)", "", markdown_table(
            ["metric", "L: geometric mean of N* over seeds", "exponent [95% CI]", "per seed"], rows), "",
            "c per seed (chance that independently drawn neighbours are impossible): "
            + " ".join(f"{c:.3f}" for c in ser["invalid_window_mass"]), ""]
    table = [[k, ", ".join(f"{n}: {_n(v['n_ter'])} / {_n(v['n_ser'])}" for n, v in c["per_length"].items()),
              f"{_n(c['ter_exponent'])} / {_n(c['ser_exponent'])}"] for k, c in sorted(a["curves"].items())]
    lines += ["## N* per swept curve (TER / SER)", "",
              markdown_table(["curve", "L: N*", "exponents"], table) if table else "(none)", ""]
    return "\n".join(lines + (_model_table(result) if result["models"] else []))


def write_plots(result: dict, out_dir: Path) -> list[str]:
    """The error curves (per curve, one line per L) and N*(L) of the scaling part."""
    series, roles, made = by_curve(result["rows"]), result["analysis"]["roles"], []
    for metric, name, value, target in (("ter", "ter_gap_vs_steps.png", ter_of, TER_TOLERANCE),
                                        ("ser", "ser_vs_steps.png", lambda r: r["ser"], SER_TARGET)):
        keys = sorted(k for k in series if k[1] in deciding(roles, metric))
        if not keys:
            continue
        size = (4 * len(keys), 3.2)
        with figure(Path(out_dir) / name, ncols=len(keys), size=size, squeeze=False) as (_, axes):
            for ax, key in zip(axes[0], keys, strict=True):
                for length, rs in series[key].items():
                    ax.plot([r["steps"] for r in rs], [value(r) for r in rs], "o-", ms=3, label=f"L={length}")
                ax.axhline(target, color="gray", ls=":", lw=1)
                label_axes(ax, xlabel="steps N", ylabel=metric.upper(), title="/".join(key), log2x=True)
        made.append(name)
    if result.get("scaling"):
        with figure(Path(out_dir) / "steps_needed_vs_length.png", ncols=2, size=(10, 3.8)) as (_, axes):
            for ax, metric in zip(axes, ("ter", "ser"), strict=True):
                for key, s in result["scaling"].items():
                    x = s["summary"][metric]
                    label = f"{key}: exponent {_ci(x['exponent'])}"
                    ax.plot(x["lengths"], x["n_star_geomean"], "o-", label=label)
                    for seed in x["n_star_by_seed"]:
                        ax.plot(x["lengths"], seed, ".", color=ax.lines[-1].get_color(), alpha=0.4)
                label_axes(ax, xlabel="L", ylabel="N*", title=f"N* for {metric.upper()} (dots: seeds)",
                           log2x=True, log2y=True)
        made.append("steps_needed_vs_length.png")
    return made
