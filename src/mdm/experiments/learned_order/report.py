"""report.md and plots of ``mdm exp learned-order`` (numbers come from the result only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mdm.experiments.common import markdown_table, with_ci
from mdm.experiments.plotting import figure
from mdm.experiments.report import table

__all__ = ["plots", "report"]


def _ci(c: dict, sign: bool = False) -> str:
    p = f" (p = {c['p']:.2g})" if "p" in c else ""
    return with_ci(c["mean"], c["ci"] if c["n"] > 1 else None, digits=3, sign=sign) + p


def plots(result: dict, out: Path) -> list[str]:
    if not result.get("planted"):
        return []
    import matplotlib

    key, row = next(iter(result["planted"]["seeds"].items()))
    gen_step = np.argsort(row["perm"])  # generation step of each position
    with figure(out / "w_over_training.png", size=(6.5, 4.2), dpi=120,
                title=f"planted seed {key}: learned w per position over training (RLOO)") as (fig, ax):
        steps, ws = zip(*row["learned"]["w_history"])
        ws = np.array(ws)
        for pos in range(ws.shape[1]):
            colour = matplotlib.colormaps["viridis"](gen_step[pos] / (ws.shape[1] - 1))
            ax.plot(steps, ws[:, pos], color=colour, label=f"pos {pos} (planted step {gen_step[pos]})")
        ax.set(yscale="log", xlabel="training step", ylabel="w_l (log scale; larger: decoded earlier)")
        ax.legend(fontsize=6, ncol=2)
    with figure(out / "order_heatmap.png", size=(5.5, 4.2), dpi=120,
                title=f"planted seed {key}: P(position decoded at step), PL(learned w)") as (fig, ax):
        im = ax.imshow(np.array(row["heatmap"])[row["perm"]], cmap="magma", vmin=0, vmax=1)
        ax.set(xlabel="decoding step", ylabel="position, in planted generation order")
        labels = [f"{p} (gen {i})" for i, p in enumerate(row["perm"])]
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        fig.colorbar(im, ax=ax, label="probability")
    return ["w_over_training.png", "order_heatmap.png"]


def report(result: dict, setup=None) -> str:
    lines = [f"# learned-order ({result['preset']} preset)", "",
             "NELBO in nats per sequence on held-out rows; mean [95% percentile bootstrap CI] over seeds; "
             "differences paired by seed (sign-flip p). Fixed: the shared linear schedule; control: the "
             "learned schedule's training with w frozen at 1.", ""]
    return "\n".join(lines + _planted(result) + _hard(result) + _tables(result))


def _planted(result: dict) -> list[str]:
    if not result.get("planted"):
        return []
    pl = result["planted"]
    seeds = table([{"seed": s, **r} for s, r in pl["seeds"].items()], {
        "seed": "seed", "tau easy-first (exact)": "tau_easy_first", "tau RLOO": lambda r: r["learned"]["tau"],
        "tau pathwise": lambda r: r.get("pathwise", {}).get("tau", "-"),
        "NELBO RLOO": lambda r: r["learned"]["nelbo"], "NELBO fixed": lambda r: r["fixed"]["nelbo"],
        "NELBO control": lambda r: r["control"]["nelbo"],
        "NELBO pathwise": lambda r: r.get("pathwise", {}).get("nelbo", "-"), "entropy H": "entropy"})
    key, first = next(iter(pl["seeds"].items()))
    decoding = [[model, order, d["log_lik"], d["rule_rate"], d["invalid_token_rate"]]
                for model, orders in first["decoding"].items() for order, d in orders.items()]
    grads = [[f"{est} ({times})", g[f"{est}_total_var"], " ".join(f"{v:.3g}" for v in g[f"{est}_mean"]),
              g["cosine_rloo_pathwise"]]
             for times, g in (("PowerTime", first["gradients"]),
                              ("eps-truncated", first["gradients_truncated"]))
             for est in ("rloo", "pathwise")]
    pathwise = f", pathwise-only {_ci(pl['tau_pathwise'])}" if "tau_pathwise" in pl else ""
    return ["## Planted order", "", seeds, "",
            f"- tau: easy-first {_ci(pl['tau_easy_first'])}, RLOO {_ci(pl['tau'])}{pathwise}",
            f"- NELBO RLOO - fixed {_ci(pl['nelbo_diff'], True)}; "
            f"RLOO - control {_ci(pl['nelbo_vs_control'], True)}", "",
            f"## Decoding orders (planted seed {key}, k = 1, temperature 1; exact log-lik of samples)", "",
            markdown_table(["model", "order", "log-lik (nats/seq)", "rule rate", "invalid rate"], decoding),
            "", f"## RLOO vs pathwise-only gradient (same draws, seed {key}, {first['gradients']['repeats']} "
            "repeats)", "", markdown_table(["estimator (times)", "total variance", "mean", "cosine"], grads),
            "",
            "![w over training](w_over_training.png)", "", "![order heatmap](order_heatmap.png)", ""]


def _hard(result: dict) -> list[str]:
    lines = []
    for task, per in (result.get("hard_orders") or {}).items():
        arms = [a for a in per if "order1" in per[a]]  # the models with an order
        rows = [[a, _ci(per[a]["nelbo"]), _ci(per[a]["nelbo_vs_control"], True), _ci(per[a]["tau"]),
                 _ci(per[a]["order1"])] for a in arms]
        rows.append(["control (w = 1)", _ci(per["control"]["nelbo"]), "-", "-", _ci(per["order1_uniform"])])
        lines += [f"## Hard orders: {task} register", "",
                  f"Exact: H {_ci(per['entropy'])}; order-1 NELBO of the best orders "
                  f"{_ci(per['order1_best'])}, "
                  f"of the planted order {_ci(per['order1_planted'])}; easy-first tau "
                  f"{_ci(per['tau_easy_first'])}; a random order's tau {_ci(per['chance_tau'])}.", "",
                  markdown_table(["model", "NELBO", "- control (paired)", "tau to the nearest best order",
                                  "order-1 NELBO of PL(w)"], rows), ""]
    return lines


def _tables(result: dict) -> list[str]:
    if not result.get("tables"):
        return []
    def ci(key: str, sign: bool = False):
        return lambda t: _ci(t[key], sign) if key in t else "-"

    rows = table([{"name": name, **t} for name, t in result["tables"].items()], {
        "table": "name", "L": "columns", "NELBO learned": ci("nelbo_learned"),
        "NELBO fixed": ci("nelbo_fixed"), "learned - fixed": ci("nelbo_diff", True),
        "learned - control": ci("nelbo_vs_control", True), "TV learned": ci("marginal_tv_learned"),
        "TV fixed": ci("marginal_tv_fixed"), "assoc err learned": ci("association_error_learned"),
        "assoc err fixed": ci("association_error_fixed")})
    return ["## Tables (held-out test split)", "", rows, ""]
