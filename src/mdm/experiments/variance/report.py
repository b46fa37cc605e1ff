"""report.md and the two plots of ``mdm exp variance`` (A/B/C bars; accuracy per seed per arm)."""

from __future__ import annotations

from pathlib import Path

from mdm.experiments.common import markdown_table, with_ci, with_p
from mdm.experiments.plotting import figure
from mdm.experiments.variance.report_curves import curves_plots, curves_sections

__all__ = ["plots", "report"]


def _acc(s: dict) -> str:
    return f"{with_ci(s['mean'], s['ci'], 100)} ({100 * s['min']:.1f}-{100 * s['max']:.1f})"


def _abc(name: str, d: dict) -> list:
    return [name, d["A"], d["B"], d["C"], d["A"] + d["B"] + d["C"], d["total"]]


def _digits(result: dict, split: str) -> str:
    return ", ".join(f"{k} {v}" for k, v in result["splits"][split]["digits"].items())


def report(result: dict, cfg) -> str:
    if "arms" not in result or "ar" not in result:
        extra = curves_sections(result, cfg)
        return "\n".join(["# variance: A/B/C decomposition and variance-reduced SFT", "",
                          *(extra or ["Run both parts (mdm, ar) for a report."]), ""])
    arms, ar, init = result["arms"], result["ar"], result["init_abc"]
    eps = result["config"]["decompose_eps"]
    lines = ["# variance: A/B/C decomposition and variance-reduced SFT", "",
             f"2-digit addition, {cfg.n_train} train / {cfg.n_valid} validation / {cfg.n_test} "
             f"held-out test problems (operand digits: {_digits(result, 'valid')} validation, "
             f"{_digits(result, 'test')} test); the shared settings were chosen on validation, the test "
             "split was used for no choice.  Transformer "
             f"d={cfg.d_model}, {cfg.n_layers} layers; pretrain {cfg.pretrain_steps} steps x "
             f"{cfg.pretrain_batch}, SFT {cfg.sft_steps} steps x {cfg.sft_batch}, "
             f"{cfg.seeds} seeds per arm.  A/B/C with t on "
             f"[{eps}, {1 - eps}] on validation problems.  Accuracy: mean [95% percentile bootstrap CI] "
             "(min-max) over seeds.", "",
             "## A, B, C of the SFT loss (nats^2)", ""]
    head = ["model", "A (mask pattern)", "B (mask rate)", "C (data)", "A+B+C", "total (independent)"]
    rows = [_abc("MDM at init", init), *(_abc(f"after SFT: {n}", a["end_abc"]) for n, a in arms.items())]
    rows += [_abc(name, {"A": 0.0, "B": 0.0, "C": c, "total": c})
             for name, c in (("AR at init", ar["init_C"]), ("AR after SFT", ar["end_C_mean"]))]
    lines += [markdown_table(head, rows), "",
              f"Init standard errors: A {init['A_se']:.3g}, B {init['B_se']:.3g}, C {init['C_se']:.3g}, "
              f"total {init['total_se']:.3g}.", "", "## Per arm", ""]
    head = ["arm", "estimator var at init", "loss var / step", "grad-norm var", "grad-norm mean",
            "test acc % equal steps [95% CI] (min-max)", "test acc % equal compute",
            "valid acc % equal steps", "valid acc % equal compute", "train-problem acc %"]
    groups = [*arms.items(), ("AR (C only)", ar | {"estimator_var_init": 0.0})]
    rows = [[n, a["estimator_var_init"], a["loss_var"], a["grad_norm_var"], a["grad_norm_mean"],
             *(_acc(a[split][key]) for split in ("test", "valid")
               for key in ("equal_steps", "equal_compute")),
             _acc(a["train_acc"])] for n, a in groups]
    lines += [markdown_table(head, rows), "",
              "Estimator var at init: variance over noise draws of the batch loss on one fixed batch of 64 "
              "(no data noise).  Equal compute: arms with two masks per row (MIRROR) are read at half the "
              "steps.", "", "## Each arm minus standard, paired (test and validation, points)", "",
              "Same seeds, same problems: a two-stage percentile bootstrap (seeds, then problems within "
              "each) gives the 95% CI, a sign flip per (seed, problem) the p-value.", ""]
    head = ["arm", "test, equal steps", "test, equal compute", "valid, equal steps", "valid, equal compute"]
    rows = [[n, *(with_p(a.get("vs_standard", {}).get(split, {}).get(key), 100) for split in ("test", "valid")
                  for key in ("equal_steps", "equal_compute"))] for n, a in groups if n != "standard"]
    lines += [markdown_table(head, rows), "",
              "## Accuracy % at equal steps by operand digits (mean over seeds)", ""]
    cols = [(split, k) for split in ("test", "valid") for k in result["splits"][split]["digits"]]
    head = ["arm", *(f"{split} {k} (n={result['splits'][split]['digits'][k]})" for split, k in cols)]
    rows = [[n, *(f"{100 * a[split]['equal_steps_by_digits'][k]:.1f}" for split, k in cols)]
            for n, a in groups]
    lines += [markdown_table(head, rows), "", "![A, B, C](abc.png)", "",
              "![accuracy per seed](accuracy.png)", "", *curves_sections(result, cfg)]
    return "\n".join(lines)


def plots(result: dict, out: Path) -> list[str]:
    extra = curves_plots(result, out)
    if "arms" not in result or "ar" not in result:
        return extra
    arms, ar, init = result["arms"], result["ar"], result["init_abc"]
    names = ["init"] + list(arms) + ["AR"]
    abc = [init] + [a["end_abc"] for a in arms.values()] + [{"A": 0.0, "B": 0.0, "C": ar["end_C_mean"]}]
    with figure(out / "abc.png", size=(9, 4.2), dpi=120,
                title="A (mask pattern), B (mask rate), C (data): MDM at init, after SFT per arm, AR") \
            as (fig, ax):
        bottom = [0.0] * len(names)
        for term, color in (("A", "tab:blue"), ("B", "tab:orange"), ("C", "tab:green")):
            vals = [max(d[term], 0.0) for d in abc]
            ax.bar(names, vals, bottom=bottom, color=color, label=term)
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_xlabel("model (SFT arm)")
        ax.set_ylabel("variance of the per-sample SFT loss (nats²)")
        ax.legend(title="term")
        ax.tick_params(axis="x", labelrotation=30)
    groups = list(arms.items()) + [("AR", ar)]
    with figure(out / "accuracy.png", ncols=2, size=(11, 4.2), dpi=120, sharey=True,
                title="exact-match accuracy per seed after SFT (greedy decoding); bar = mean over seeds") \
            as (fig, axes):
        for ax, key, title in zip(axes, ("equal_steps", "equal_compute"), ("equal steps", "equal compute")):
            for split, dx, marker in (("test", -0.15, "o"), ("valid", 0.15, "x")):
                for i, (_, a) in enumerate(groups):
                    acc = [100 * v for v in a[split][key]["per_seed"]]
                    ax.plot([i + dx] * len(acc), acc, marker, color=f"C{i}", alpha=0.7,
                            label=f"{split} split, one seed" if i == 0 else None)
                    ax.plot([i + dx - 0.12, i + dx + 0.12], [sum(acc) / len(acc)] * 2, "k-",
                            label="mean over seeds" if i == 0 and split == "test" else None)
            ax.set_xticks(range(len(groups)), [g[0] for g in groups], rotation=30, ha="right")
            ax.set_xlabel("arm (colour: arm)")
            ax.set_title(title, fontsize=9)
        axes[0].set_ylabel("exact match (%)")
        axes[0].legend(fontsize=8)
    return ["abc.png", "accuracy.png", *extra]
