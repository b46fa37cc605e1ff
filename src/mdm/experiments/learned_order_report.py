"""report.md and plots of ``mdm exp learned-order`` (numbers come from result.json only)."""

from __future__ import annotations

from pathlib import Path

from mdm.experiments.common import markdown_table, provenance_markdown

__all__ = ["plot_all", "write_report"]


def _ci(c: dict) -> str:
    return f"{c['mean']:.3f} ± {c['ci95']:.3f}" if c["n"] > 1 else f"{c['mean']:.3f}"


def _first(result: dict) -> tuple[str, dict]:
    seeds = result["planted"]["seeds"]
    key = next(iter(seeds))
    return key, seeds[key]


def plot_all(result: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    key, row = _first(result)
    gen_step = np.argsort(row["perm"])  # generation step of each position

    fig, ax = plt.subplots(figsize=(6, 4))
    hist = row["learned"]["w_history"]
    steps = [s for s, _ in hist]
    ws = np.array([w for _, w in hist])
    cmap = plt.get_cmap("viridis")
    for pos in range(ws.shape[1]):
        g = int(gen_step[pos])
        ax.plot(steps, ws[:, pos], color=cmap(g / max(1, ws.shape[1] - 1)), label=f"pos {pos} (gen {g})")
    ax.set_yscale("log")
    ax.set(
        xlabel="training step", ylabel="w (log scale)", title=f"planted seed {key}: learned w over training"
    )
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "w_over_training.png", dpi=120)
    plt.close(fig)

    heat = np.array(row["heatmap"])[np.argsort(gen_step)]  # rows in planted generation order
    fig, ax = plt.subplots(figsize=(5, 4))
    im = ax.imshow(heat, cmap="magma", vmin=0, vmax=1)
    ax.set(
        xlabel="decoding step",
        ylabel="position, in planted generation order",
        title="P(position decoded at step) under PL(w)",
    )
    ax.set_yticks(range(len(heat)), [f"{p} (gen {i})" for i, p in enumerate(row["perm"])], fontsize=7)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(out / "order_heatmap.png", dpi=120)
    plt.close(fig)

    panels = [(f"planted seed {key}", row)]
    tables = result["tables"]
    if tables:
        name = next(iter(tables))
        panels.append(
            (f"{name} seed {next(iter(tables[name]['seeds']))}", next(iter(tables[name]["seeds"].values())))
        )
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6))
    axes = np.atleast_1d(axes)
    for ax, (title, r) in zip(axes, panels):
        for kind in ("learned", "fixed", "pathwise"):
            if kind in r and r[kind]["val_curve"]:
                s, v = zip(*r[kind]["val_curve"])
                ax.plot(s, v, marker="o", label=kind)
        ax.set(xlabel="training step", ylabel="held-out NELBO (nats/token, trainer's estimate)", title=title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "val_nelbo_curves.png", dpi=120)
    plt.close(fig)


def write_report(result: dict, out: Path) -> None:
    pl = result["planted"]
    lines = [
        f"# learned-order ({result['preset']} preset)",
        "",
        "Garg et al., arXiv 2511.19152: per-position schedules alpha_l = 1 - t^w_l learned with the "
        "NELBO (RLOO score-function term). NELBO in nats per sequence on held-out rows, mean ± 95% "
        "Student-t half-width over seeds; the fixed schedule is the shared linear one (w = 1).",
        "",
        "## Planted order",
        "",
    ]
    rows = []
    for s, r in pl["seeds"].items():
        rows.append(
            [
                s,
                r["learned"]["tau"],
                r.get("pathwise", {}).get("tau", "-"),
                r["learned"]["nelbo"],
                r["fixed"]["nelbo"],
                r.get("pathwise", {}).get("nelbo", "-"),
                r["entropy"],
            ]
        )
    lines += [
        markdown_table(
            [
                "seed",
                "tau learned (RLOO)",
                "tau pathwise-only",
                "NELBO learned",
                "NELBO fixed",
                "NELBO pathwise",
                "entropy H",
            ],
            rows,
        ),
        "",
    ]
    lines += [
        f"- Kendall tau (learned mean order vs planted pi): {_ci(pl['tau'])}",
        f"- NELBO learned {_ci(pl['nelbo_learned'])}, fixed {_ci(pl['nelbo_fixed'])}; "
        f"learned - fixed (paired) {_ci(pl['nelbo_diff'])}",
    ]
    if "tau_pathwise" in pl:
        lines.append(
            f"- pathwise-only training: tau {_ci(pl['tau_pathwise'])}, NELBO {_ci(pl['nelbo_pathwise'])}"
        )
    key, first = _first(result)
    lines += [
        "",
        f"## Decoding orders (planted seed {key}, k = 1, temperature 1)",
        "",
        "Mean exact log-likelihood of samples under the planted generator (higher is better), the "
        "fraction of positions that follow their rule, and the rate of samples with a non-data token.",
        "",
    ]
    rows = []
    for model_kind, dec in first["decoding"].items():
        for order, m in dec.items():
            rows.append([model_kind, order, m["log_lik"], m["rule_rate"], m["invalid_token_rate"]])
    lines += [
        markdown_table(["model", "decoding order", "log-lik (nats/seq)", "rule rate", "invalid rate"], rows)
    ]
    g = first["gradients"]
    lines += [
        "",
        "## RLOO vs pathwise-only gradient (same draws, learned planted model)",
        "",
        markdown_table(
            ["estimator", "total variance over repeats", "mean gradient"],
            [
                ["RLOO", g["rloo_total_var"], " ".join(f"{v:.3g}" for v in g["rloo_mean"])],
                ["pathwise only", g["pathwise_total_var"], " ".join(f"{v:.3g}" for v in g["pathwise_mean"])],
            ],
        ),
        f"\ncosine(mean RLOO, mean pathwise) = {g['cosine_rloo_pathwise']:.3f} over {g['repeats']} repeats",
        "",
    ]
    lines += ["## Tables (held-out test split)", ""]
    rows = []
    for name, t in result["tables"].items():
        rows.append(
            [
                name,
                t["columns"],
                _ci(t["nelbo_learned"]),
                _ci(t["nelbo_fixed"]),
                _ci(t["nelbo_diff"]),
                _ci(t["marginal_tv_learned"]),
                _ci(t["marginal_tv_fixed"]),
                _ci(t["association_error_learned"]),
                _ci(t["association_error_fixed"]),
            ]
        )
    lines += [
        markdown_table(
            [
                "table",
                "L",
                "NELBO learned",
                "NELBO fixed",
                "learned - fixed",
                "TV learned",
                "TV fixed",
                "assoc err learned",
                "assoc err fixed",
            ],
            rows,
        ),
        "",
    ]
    lines += [
        "## Provenance",
        "",
        provenance_markdown(result["provenance"]),
        f"- wall time: {result['timings_s']['total']:.0f} s",
        "",
    ]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
