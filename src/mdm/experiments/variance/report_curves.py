"""The report sections and plots of the learning-curve parts and the long-answer part of ``mdm exp
variance`` (steps and forward passes to a threshold; A/B/C and the P-POTS fit per task)."""

from __future__ import annotations

from pathlib import Path

from mdm.experiments.common import markdown_table
from mdm.experiments.plotting import figure

__all__ = ["curves_plots", "curves_sections"]


def _num(v, digits: int = 0) -> str:
    return v if isinstance(v, str) else f"{v:.{digits}f}"


def _median(est: dict) -> str:
    """``"410 [350, 520]"`` for a censored median (``inf``: beyond the steps run)."""
    return f"{_num(est['median'])} [{_num(est['lo'])}, {_num(est['hi'])}]"


def _ratio(c: dict) -> str:
    if c["ratio"] is None:
        return f"- (all {c['n_both_censored']} censored)"
    lo, hi, med = (_factor(x) for x in (*c["ci"], c["median_log2_ratio"]))
    return (f"{med} [{lo}, {hi}] ({c['a_faster']}:{c['b_faster']}, p {c['p']:.2g}"
            f"{', ' + str(c['n_both_censored']) + ' both censored' if c['n_both_censored'] else ''})")


def _factor(log2_ratio) -> str:
    """A cost ratio from its log2: ``0`` (only the other run was censored), ``inf`` (only this one)."""
    if isinstance(log2_ratio, str):
        return "0" if log2_ratio.startswith("-") else "inf"
    return f"{2 ** log2_ratio:.2f}"


def _threshold_rows(curves: dict) -> list[list]:
    rows = []
    for label, r in curves["runs"].items():
        t = r["to_threshold"]
        rows.append([label, r["copies"], len(r["acc"]), r["steps"][-1],
                     *(f"{_median(t[thr][unit])} ({t[thr]['n_censored']} cens.)"
                       for thr in ("0.5", "0.8") for unit in ("steps", "passes")),
                     f"{100 * r['acc_mean'][-1]:.1f}"])
    return rows


def _abc_row(name: str, abc: dict, ppots: dict, p_tokens: int) -> list:
    return [name, p_tokens, *(f"{abc[k]:.3g} ± {abc[k + '_se']:.2g}" for k in ("A", "B", "C", "total")),
            f"{ppots['kl']:.4f}", ", ".join(f"{k} {v:.3g}" for k, v in ppots["params"].items())]


def curves_sections(result: dict, cfg) -> list[str]:
    lines: list[str] = []
    curves, long = result.get("curves"), result.get("long")
    if curves is not None:
        B = cfg.sft_batch
        lines += ["## Steps and forward passes to a test accuracy", "",
                  f"Test accuracy ({curves['n_test']} held-out problems) every {cfg.curve_every} steps; one "
                  "row per arm and batch (label arm@batch); every run has the same budget of forward "
                  "passes.  "
                  "Cost to a threshold: median over seeds [95% bootstrap CI of the median]; censored runs "
                  "(never reached within the run) count as beyond the budget (`inf`).  Forward passes in "
                  f"{B}-row batches (a MIRROR step scores two masks per row).", ""]
        head = ["run", "masks/row", "seeds", "steps run", "steps to 50%", "passes to 50%", "steps to 80%",
                "passes to 80%", "acc % at the last step (mean)"]
        lines += [markdown_table(head, _threshold_rows(curves)), "",
                  "## Arm against standard, paired on seeds, per equal-compute definition", "",
                  "Ratio = median over seeds of cost(arm) / cost(other) [95% bootstrap CI], (seeds the arm "
                  "was faster : seeds the other was faster, two-sided exact sign-flip p); costs beyond the "
                  "shorter run's horizon (column) count as censored for both.  `at step`: "
                  "accuracy difference (points) at the mdm part's read-out step [95% two-stage paired "
                  "bootstrap CI over seeds, then problems].  A ratio 0 or inf: the median seed reached "
                  "the threshold in one arm only, within the horizon.", ""]
        head = ["arm", "definition", "vs", "unit", "horizon", "ratio to 50%", "ratio to 80%",
                "at step (points)"]
        rows = []
        for c in curves["comparisons"]:
            at = c.get("at_step")
            at_s = ("-" if at is None else f"{100 * at['diff']:+.1f} [{100 * at['ci'][0]:+.1f}, "
                    f"{100 * at['ci'][1]:+.1f}] (step {at['step_a']} vs {at['step_b']})")
            rows.append([c["arm"], c["definition"], c["b"], c["unit"], f"{c['horizon']:.0f}",
                         _ratio(c["thresholds"]["0.5"]),
                         _ratio(c["thresholds"]["0.8"]), at_s])
        lines += [markdown_table(head, rows), "", "![learning curves](curves.png)", ""]
    if curves is not None or long is not None:
        lines += ["## A/B/C and the P-POTS fit per task", "",
                  "A/B/C with t on [0.05, 0.95] (nats², ± SE over replicates); KL(grid target || fitted "
                  "family) over the grid, both normalised.", ""]
        rows = []
        if curves is not None:
            rows.append(_abc_row("2-digit addition, pretrained", curves["abc"], curves["ppots"], 4))
        if long is not None:
            n = long["task"]["answer_tokens"]
            rows += [_abc_row(f"sorting {n} digits, {when}", long[key]["abc"], long[key]["ppots"], n)
                     for key, when in (("pretrained", "pretrained"), ("after_sft", "after standard SFT"))]
        head = ["task / model", "P", "A", "B", "C", "total", "KL fit", "fitted parameters"]
        lines += [markdown_table(head, rows), "", "![P-POTS fit against grid target](ppots_fit.png)", ""]
        if long is not None:
            acc = [100 * long[k]["test_acc"] for k in ("pretrained", "after_sft")]
            lines += [f"Sorting test exact match (greedy, one position per step): pretrained {acc[0]:.1f} %, "
                      f"after SFT {acc[1]:.1f} %.", ""]
    return lines


def curves_plots(result: dict, out: Path) -> list[str]:
    names = []
    curves, long = result.get("curves"), result.get("long")
    if curves is not None:
        runs = curves["runs"]
        title = "test exact match during SFT: mean over seeds (thick), each seed (thin)"
        base = min(x["batch"] for x in runs.values() if x["copies"] == 1)
        with figure(out / "curves.png", ncols=2, size=(12, 4.5), dpi=110, title=title) as (fig, axes):
            for i, (label, r) in enumerate(runs.items()):
                per_pass = r["batch"] * r["copies"] / base
                for ax, scale in zip(axes, (1.0, per_pass)):
                    xs = [s * scale for s in r["steps"]]
                    for acc in r["acc"]:
                        ax.plot(xs, [100 * a for a in acc], color=f"C{i}", alpha=0.15, lw=0.7)
                    ax.plot(xs, [100 * a for a in r["acc_mean"]], color=f"C{i}", lw=2, label=label)
            for ax, xl in zip(axes, ("SFT steps", "forward passes (in batches of the standard arm's rows)")):
                ax.axhline(50, color="k", ls=":", lw=0.8)
                ax.axhline(80, color="k", ls=":", lw=0.8)
                ax.set_xlabel(xl)
                ax.set_ylabel("test exact match (%)")
            axes[0].legend(fontsize=7, title="arm@batch")
        names.append("curves.png")
    fits = []
    if curves is not None:
        fits.append(("2-digit addition (P=4), pretrained", curves["ppots"]))
    if long is not None:
        n = long["task"]["answer_tokens"]
        fits += [(f"sorting (P={n}), pretrained", long["pretrained"]["ppots"]),
                 (f"sorting (P={n}), after SFT", long["after_sft"]["ppots"])]
    if fits:
        with figure(out / "ppots_fit.png", nrows=2, ncols=len(fits), size=(4.2 * len(fits), 7), dpi=110,
                    squeeze=False, title="P-POTS: grid target sqrt(g²+v) vs fitted family (top); g and "
                    "sqrt(v) (bottom)") as (fig, axes):
            for j, (title, f) in enumerate(fits):
                ax = axes[0][j]
                ax.plot(f["grid"], f["target_density"], "o", ms=3, label="grid target")
                ax.plot(f["grid"], f["fitted_density"], "-", label="fitted family")
                ax.set_title(f"{title}\nKL {f['kl']:.4f}", fontsize=9)
                ax.set_xlabel("t (mask rate)")
                ax.set_ylabel("density on [0, 1]")
                ax.legend(fontsize=7)
                ax = axes[1][j]
                ax.plot(f["grid"], f["g"], label="g(t) = E[loss | t]")
                ax.plot(f["grid"], [v ** 0.5 for v in f["v"]], label="sqrt v(t) (over masks)")
                ax.set_yscale("log")
                ax.set_xlabel("t (mask rate)")
                ax.set_ylabel("nats")
                ax.legend(fontsize=7)
        names.append("ppots_fit.png")
    return names
