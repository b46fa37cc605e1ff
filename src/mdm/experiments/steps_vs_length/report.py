"""The report of ``mdm exp steps-vs-length``; the thresholds it shows come from
:mod:`mdm.experiments.steps_vs_length.analysis`."""

from __future__ import annotations

import math

from mdm.experiments.common import markdown_table
from mdm.experiments.steps_vs_length.analysis import (
    THEORY_SAMPLER,
    by_curve,
    deciding,
    ter_of,
)

__all__ = ["report", "threshold_table", "fixed_steps_table", "order_table"]


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
        per = c["per_length"]  # keyed by str(L), as in result.json
        cells = [_fmt_n(per[str(n)][f"n_{metric}"]) if str(n) in per else "" for n in lengths]
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


def report(result: dict) -> str:
    """The markdown body (the runner adds the evidence box, plots and provenance)."""
    a = result["analysis"]
    rows = result["rows"]
    d = a["definitions"]
    lines = [
        "# steps vs sequence length: token error vs sequence error",
        "",
        f"Reproduces: {result['paper']}.",
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
    return "\n".join(lines)
