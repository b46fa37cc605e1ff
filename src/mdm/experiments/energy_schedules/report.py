"""The report of ``mdm exp energy-schedules``: one table per measured quantity, the plots beside them."""

from __future__ import annotations

import math

from mdm.experiments.common import markdown_table, with_ci
from mdm.experiments.report import table


def _pivot(rows: list[dict], metric: str, order: str = "confidence") -> str:
    """``metric`` [95% CI] per schedule (rows) and N (columns)."""
    mine = [r for r in rows if r["order"] == order]
    steps = sorted({r["steps"] for r in mine})
    cells = {(r["label"], r["steps"]): r for r in mine}
    body = [[label] + ["n/a" if not math.isfinite((r := cells[label, n])[metric]) else
                       with_ci(r[metric], r.get(f"{metric}_ci"), digits=4) for n in steps]
            for label in dict.fromkeys(r["label"] for r in mine)]
    return markdown_table(["schedule", *[f"N={n}" for n in steps]], body)


def _toy(toy: dict) -> list[str]:
    body = []
    for name, res in toy["targets"].items():
        for sampler, best in res["best"].items():
            lin, sin2 = res["reference"][sampler].values()
            how = best.get("counts", best.get("reveal_probs"))
            body.append([name, sampler, f"Beta({best['a']:g},{best['b']:g}) {how}", best["kl"],
                         best["n_tied_cells"], lin["kl"], lin["frac_cells_better"], sin2["kl"],
                         sin2["frac_cells_better"]])
    header = ["target", "sampler", "best (first in grid order)", "best KL", "# tied", "linear KL",
              "linear: share better", "sin2 KL", "sin2: share better"]
    return ["## 1. Exact toy (5 tokens over {a, b}, 3 steps, exact conditionals): KL(target || sampler)", "",
            markdown_table(header, body), "",
            f"Distinct count lists over the grid: {toy['distinct_counts']}", "",
            "![target A](toy_A.png)", "", "![target B](toy_B.png)", ""]


def _language(name: str, part: dict, orders) -> list[str]:
    lines = [f"### {name} (entropy rate {part['entropy_per_token']:.4f} nats/token)", ""]
    if "train" in part:
        val = part["train"].get("final_val") or {}
        lines += [f"Model: {part['train']['steps']} steps, validation NELBO "
                  f"{val.get('val_nelbo_nats_per_token', math.nan):.4f} nats/token.", ""]
    lines += [f"- tuned for {o} order: Beta({t['a']:g}, {t['b']:g}), {t['metric']} {t['score']:.4f}"
              for o, t in part["tuned"].items()] + [""]
    lines += [f"![{name}: tuning grid, {o} order]({png})" for o, png in part["tune_plots"].items()] + [""]
    for metric in ("ser", "gap"):
        for order in orders:
            lines += [f"**{metric}, {order} order**", "", _pivot(part["rows"], metric, order), ""]
    for order in orders if all("end_of_text_first_half" in r for r in part["rows"]) else ():
        lines += [f"**end-of-text values revealed in the first half of the steps, {order} order**", "",
                  _pivot(part["rows"], "end_of_text_first_half", order), ""]
    return lines + [f"![{name}]({part['plot']})", ""]


def _calibration(name: str, part: dict) -> list[str]:
    """The sign map: per (blocks, temperature, schedule) and factor, one sign per N of Beta - linear
    pass@1 (+: CI above 0, -: below, 0: covers 0); then every cell."""
    rows = [r for r in part["rows"] if "sign" in r]
    factors = list(dict.fromkeys(r["factor"] for r in rows))
    keys = list(dict.fromkeys((r["blocks"], r["temperature"], r["schedule"]) for r in rows))
    signs = [[*key, *["".join(r["sign"] for r in rows if (r["blocks"], r["temperature"], r["schedule"]) == key
                              and r["factor"] == f) for f in factors]] for key in keys]
    full = table(part["rows"], {
        "blocks": "blocks", "T": "temperature", "c": "factor", "N": "steps", "schedule": "schedule",
        "pass@1 % [95% CI]": lambda r: with_ci(r["pass"], r["pass_ci"], 100),
        "answer tokens": lambda r: r.get("answer_tokens", "-"),
        "minus linear (pt) [CI]": lambda r: with_ci(r["vs_linear"], r.get("vs_linear_ci"), 100, sign=True)
        if "sign" in r else "",
        "p": lambda r: f"{r['vs_linear_p']:.2g}" if "sign" in r else ""})
    return [f"## {name}: convex Beta vs linear over calibration, blocks and temperature", "",
            f"Steps {sorted({r['steps'] for r in rows})} left to right in each cell.", "",
            markdown_table(["blocks", "temperature", "schedule", *[f"c={f:g}" for f in factors]], signs),
            "", full, ""]


def report(result: dict) -> str:
    """The markdown body (the runner adds the evidence box and provenance)."""
    lines = ["# Energy-optimal Beta schedules (Chen et al., arXiv 2509.13866)", "",
             f"Preset `{result['preset']}`.", ""]
    if result.get("toy"):
        lines += _toy(result["toy"])
    for section, title in (("languages", "2. Exact languages"), ("trained", "3. Model trained here")):
        for name, part in (result.get(section) or {}).items():
            lines += [f"## {title}", ""] + _language(name, part, result["config"]["orders"])
    for name, part in (result.get("calibration") or {}).items():
        lines += _calibration(name, part)
    return "\n".join(lines)
