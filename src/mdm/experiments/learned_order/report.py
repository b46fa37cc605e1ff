"""report.md and plots of ``mdm exp learned-order`` (numbers come from the result only)."""

from __future__ import annotations

from pathlib import Path

from mdm.experiments.common import markdown_table, with_ci
from mdm.experiments.plotting import figure

__all__ = ["plots", "report"]


def _ci(c: dict) -> str:
    return with_ci(c["mean"], c["ci"] if c["n"] > 1 else None, digits=3)


def _first(result: dict) -> tuple[str, dict]:
    seeds = result["planted"]["seeds"]
    key = next(iter(seeds))
    return key, seeds[key]


def plots(result: dict, out: Path) -> list[str]:
    import numpy as np

    written = []
    if result.get("planted"):
        key, row = _first(result)
        gen_step = np.argsort(row["perm"])  # generation step of each position
        with figure(out / "w_over_training.png", size=(6.5, 4.2), dpi=120,
                    title=f"planted seed {key}: learned w per position over training (RLOO)") as (fig, ax):
            import matplotlib

            hist = row["learned"]["w_history"]
            steps = [s for s, _ in hist]
            ws = np.array([w for _, w in hist])
            cmap = matplotlib.colormaps["viridis"]
            for pos in range(ws.shape[1]):
                g = int(gen_step[pos])
                ax.plot(steps, ws[:, pos], color=cmap(g / max(1, ws.shape[1] - 1)),
                        label=f"pos {pos} (planted step {g})")
            ax.set_yscale("log")
            ax.set(xlabel="training step", ylabel="w_l (log scale; larger: decoded earlier)")
            ax.legend(fontsize=6, ncol=2, title="position (colour: planted step)", title_fontsize=6)
        heat = np.array(row["heatmap"])[np.argsort(gen_step)]  # rows in planted generation order
        with figure(out / "order_heatmap.png", size=(5.5, 4.2), dpi=120,
                    title=f"planted seed {key}: P(position decoded at step), PL(learned w)") as (fig, ax):
            im = ax.imshow(heat, cmap="magma", vmin=0, vmax=1)
            ax.set(xlabel="decoding step", ylabel="position, in planted generation order")
            ax.set_yticks(range(len(heat)), [f"{p} (gen {i})" for i, p in enumerate(row["perm"])], fontsize=7)
            fig.colorbar(im, ax=ax, label="probability")
        written += ["w_over_training.png", "order_heatmap.png"]
    panels = [(f"planted seed {k}", r) for k, r in [_first(result)]] if result.get("planted") else []
    if result.get("tables"):
        name = next(iter(result["tables"]))
        seeds = result["tables"][name]["seeds"]
        panels.append((f"{name} seed {next(iter(seeds))}", next(iter(seeds.values()))))
    if panels:
        with figure(out / "val_nelbo_curves.png", ncols=len(panels), size=(5 * len(panels), 3.8), dpi=120,
                    squeeze=False, title="held-out NELBO during training: learned vs fixed schedule") \
                as (fig, axes):
            for ax, (title, r) in zip(axes[0], panels):
                for kind in ("learned", "fixed", "pathwise"):
                    if kind in r and r[kind]["val_curve"]:
                        s, v = zip(*r[kind]["val_curve"])
                        ax.plot(s, v, marker="o", label=kind)
                ax.set(xlabel="training step", ylabel="held-out NELBO (nats/token, trainer's estimate)",
                       title=title)
                ax.legend()
        written.append("val_nelbo_curves.png")
    return written


def report(result: dict, setup=None) -> str:
    lines = [f"# learned-order ({result['preset']} preset)", "",
             "Garg et al., arXiv 2511.19152: per-position schedules alpha_l = 1 - t^w_l learned with the "
             "NELBO (RLOO score-function term). NELBO in nats per sequence on held-out rows, mean [95% "
             "percentile bootstrap CI] over seeds; learned - fixed is paired by seed (same data, same "
             "held-out rows; sign-flip p); the fixed schedule is the shared linear one (w = 1).", ""]
    if result.get("planted"):
        lines += _planted(result)
    if result.get("tables"):
        lines += _tables(result)
    return "\n".join(lines)


def _diff(c: dict) -> str:
    p = f" (p = {c['p']:.2g})" if "p" in c else ""
    return with_ci(c["mean"], c["ci"] if c["n"] > 1 else None, digits=3, sign=True) + p


def _planted(result: dict) -> list[str]:
    pl = result["planted"]
    rows = [[s, r["learned"]["tau"], r.get("pathwise", {}).get("tau", "-"), r["learned"]["nelbo"],
             r["fixed"]["nelbo"], r.get("pathwise", {}).get("nelbo", "-"), r["entropy"]]
            for s, r in pl["seeds"].items()]
    head = ["seed", "tau learned (RLOO)", "tau pathwise-only", "NELBO learned", "NELBO fixed",
            "NELBO pathwise", "entropy H"]
    lines = ["## Planted order", "", markdown_table(head, rows), "",
             f"- Kendall tau (learned mean order vs planted pi): {_ci(pl['tau'])}",
             f"- NELBO learned {_ci(pl['nelbo_learned'])}, fixed {_ci(pl['nelbo_fixed'])}; "
             f"learned - fixed (paired) {_diff(pl['nelbo_diff'])}"]
    if "tau_pathwise" in pl:
        lines.append(f"- pathwise-only training: tau {_ci(pl['tau_pathwise'])}, "
                     f"NELBO {_ci(pl['nelbo_pathwise'])}")
    key, first = _first(result)
    rows = [[model_kind, order, m["log_lik"], m["rule_rate"], m["invalid_token_rate"]]
            for model_kind, dec in first["decoding"].items() for order, m in dec.items()]
    g = first["gradients"]
    grads = [["RLOO", g["rloo_total_var"], " ".join(f"{v:.3g}" for v in g["rloo_mean"])],
             ["pathwise only", g["pathwise_total_var"], " ".join(f"{v:.3g}" for v in g["pathwise_mean"])]]
    return lines + [
        "", f"## Decoding orders (planted seed {key}, k = 1, temperature 1)", "",
        "Mean exact log-likelihood of samples under the planted generator (higher is better), the "
        "fraction of positions that follow their rule, and the rate of samples with a non-data token.", "",
        markdown_table(["model", "decoding order", "log-lik (nats/seq)", "rule rate", "invalid rate"], rows),
        "", "## RLOO vs pathwise-only gradient (same draws, learned planted model)", "",
        markdown_table(["estimator", "total variance over repeats", "mean gradient"], grads),
        f"\ncosine(mean RLOO, mean pathwise) = {g['cosine_rloo_pathwise']:.3f} over {g['repeats']} "
        "repeats", "",
        "![w over training](w_over_training.png)", "", "![order heatmap](order_heatmap.png)", "",
        "![held-out NELBO curves](val_nelbo_curves.png)", ""]


def _tables(result: dict) -> list[str]:
    rows = [[name, t["columns"], _ci(t["nelbo_learned"]), _ci(t["nelbo_fixed"]), _diff(t["nelbo_diff"]),
             _ci(t["marginal_tv_learned"]), _ci(t["marginal_tv_fixed"]), _ci(t["association_error_learned"]),
             _ci(t["association_error_fixed"])] for name, t in result["tables"].items()]
    head = ["table", "L", "NELBO learned", "NELBO fixed", "learned - fixed (paired)", "TV learned",
            "TV fixed", "assoc err learned", "assoc err fixed"]
    return ["## Tables (held-out test split)", "", markdown_table(head, rows), ""]
