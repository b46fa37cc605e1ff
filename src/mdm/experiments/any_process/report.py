"""``mdm exp any-process`` report and plots (numbers from the result only): accuracy and steps vs
length, and the two traced trajectories."""

from __future__ import annotations

from pathlib import Path

from mdm.experiments.common import markdown_table, with_ci
from mdm.experiments.plotting import figure

__all__ = ["plots", "report"]


def _rate(r: dict, key: str) -> str:
    return with_ci(r[key], r.get(f"{key}_ci"), digits=3)


def _curve(ax, by_length: dict, key: str, **kw) -> None:
    xs = sorted(int(k) for k in by_length)
    rows = [by_length[str(x)] for x in xs]
    ys = [r[key] for r in rows]
    ci = [r.get(f"{key}_ci") or [v, v] for r, v in zip(rows, ys)]
    yerr = [[v - c[0] for v, c in zip(ys, ci)], [c[1] - v for v, c in zip(ys, ci)]]
    ax.errorbar(xs, ys, yerr=yerr, capsize=3, **kw)


def _trajectory(states: list, path: Path, decode, mask_id: int, title: str) -> None:
    from mdm.sampling.anyprocess_render import draw_trajectory

    states = states[:40]
    width = max(len(t) for t, _ in states)
    with figure(path, title=title, size=(max(4.0, 0.32 * width + 1) + 2.4, 0.32 * len(states) + 1.2),
                dpi=120) as (fig, ax):
        draw_trajectory(ax, states, decode=decode, mask_id=mask_id)


def plots(result: dict, out: Path) -> list[str]:
    from mdm.tasks.anyprocess import parity, rewrite

    written = []
    pa, rw = result.get("parity"), result.get("rewrite")
    if pa and rw:
        with figure(out / "accuracy_vs_length.png", size=(6.5, 3.8), dpi=120,
                    title="AP-MDM: exact accuracy (parity) and validity (rewrite) vs input length, greedy") \
                as (fig, ax):
            for label, r in pa["runs"].items():
                _curve(ax, r["by_length"], "accuracy", marker="o", label=f"parity, trained on {label}")
            _curve(ax, rw["by_length"], "validity", marker="s",
                   label=f"rewrite validity (trained on <= {rw['train_max_len']})")
            ax.set_ylim(-0.05, 1.05)
            _axes(ax, "fraction correct (95% bootstrap CI)")
        with figure(out / "steps_vs_length.png", size=(6.5, 3.8), dpi=120,
                    title="AP-MDM: transitions per input vs input length") as (fig, ax):
            for label, r in pa["runs"].items():
                xs = sorted(int(k) for k in r["by_length"])
                ax.plot(xs, [r["by_length"][str(x)]["steps_mean"] for x in xs], marker="o",
                        label=f"parity ({label})")
            ax.plot(xs, [2 * x for x in xs], ls=":", color="grey", label="2 x length")
            xs = sorted(int(k) for k in rw["by_length"])
            ax.plot(xs, [rw["by_length"][str(x)]["steps_mean"] for x in xs], marker="s", label="rewrite")
            ax.set_yscale("log")
            _axes(ax, "transitions (mean per input)")
        written += ["accuracy_vs_length.png", "steps_vs_length.png"]
    if pa:
        tok = parity.tokenizer()
        names = {tok.bos_id: "B", tok.eos_id: "E"}
        t = pa["trajectory"]
        _trajectory(t["states"], out / "trajectory_parity.png", lambda i: names.get(i, str(i)), tok.mask_id,
                    f"AP-MDM trajectory: parity of {t['input']} (model trained on {t['model']}); B/E: "
                    "begin/end")
        written.append("trajectory_parity.png")
    if rw:
        tok = rewrite.tokenizer()
        names = {tok.bos_id: "B", tok.eos_id: "E"}
        _trajectory(rw["trajectory"]["states"], out / "trajectory_rewrite.png",
                    lambda i: names.get(i, tok.decode([i])), tok.mask_id,
                    f"AP-MDM trajectory: rewrite a->aA, b->() of {rw['trajectory']['input']}; B/E: begin/end")
        written.append("trajectory_rewrite.png")
    return written


def _axes(ax, ylabel: str) -> None:
    ax.set_xscale("log")
    ax.set_xlabel("input length (symbols, log scale)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)


def report(result: dict, setup=None) -> str:
    lines = [f"# any-process (AP-MDM, arXiv 2510.06190), {result['preset']} preset", ""]
    if {"parity", "rewrite", "sudoku"} & set(result):
        lines += ["Rates with a 95% percentile bootstrap CI over the test inputs; AP-MDM vs MDM paired on "
                  "the same test puzzles (sign-flip p).", ""]
    if "parity" in result:
        rows = []
        for label, r in result["parity"]["runs"].items():
            for k, v in r["by_length"].items():
                rows.append([label, int(k), v["n"], _rate(v, "accuracy"), f"{v['steps_mean']:.1f}",
                             ", ".join(f"{h}: {c}" for h, c in v["halted"].items())])
        params = next(iter(result["parity"]["runs"].values()))["train"]["parameters"]
        lines += ["## Parity", "",
                  markdown_table(["trained on", "length", "n", "accuracy [95% CI]", "steps", "halted"], rows),
                  "",
                  f"Model: {params} parameters.", "", "![parity trajectory](trajectory_parity.png)", ""]
    if "sudoku" in result:
        lines += _sudoku(result["sudoku"])
    if "rewrite" in result:
        rw = result["rewrite"]
        rows = [[int(k), v["n"], _rate(v, "validity"), f"{v['steps_mean']:.2f}"]
                for k, v in rw["by_length"].items()]
        lines += ["## Rewrite a -> aA, b -> (nothing): needs insert and delete", "",
                  f"Trained on inputs of 1-{rw['train_max_len']} characters.", "",
                  markdown_table(["length", "n", "validity [95% CI]", "steps"], rows), "",
                  "![rewrite trajectory](trajectory_rewrite.png)", ""]
    lines += _ablation(result)
    if "parity" in result and "rewrite" in result:
        lines += ["## Length generalisation", "", "![accuracy vs length](accuracy_vs_length.png)", "",
                  "![steps vs length](steps_vs_length.png)", ""]
    from mdm.experiments.any_process.sudoku_small import report_lines  # small Sudoku (issue 27 item 3b)

    lines += report_lines(result)
    return "\n".join(lines)


def _sudoku(sd: dict) -> list[str]:
    rows = []
    for name, key in (("AP-MDM", "ap_mdm"), ("MDM, top-1 confidence", "mdm")):
        r = sd[key]
        extra = f"T = {r['chosen_temperature']}" if key == "ap_mdm" else r["decoding"]
        rows.append([name, r["n"], _rate(r, "solve_rate"), with_ci(r["steps_mean"], r.get("steps_ci")),
                     r["train"]["parameters"], r["train"]["steps"], f"{r['train']['train_wall_s']:.0f}",
                     extra])
    d = sd["ap_minus_mdm"]
    valid = sd["ap_mdm"]["valid"]
    by_t = [[t, _rate(v, "solve_rate"), f"{v['steps_mean']:.1f}", f"{valid[t]['solve_rate']:.3f}"]
            for t, v in sd["ap_mdm"]["by_temperature"].items()]
    return ["## Sudoku (remask / unmask only) vs a plain MDM", "",
            f"{sd['n_train_puzzles']} training puzzles, {sd['clues'][0]}-{sd['clues'][1]} clues; "
            f"{sd['n_eval']} test puzzles.", "",
            markdown_table(["model", "n", "solve rate [95% CI]", "steps (NFE) [95% CI]", "params",
                            "train steps", "train s", "decoding"], rows), "",
            "AP-MDM minus MDM, paired on the same test puzzles: "
            f"{with_ci(d['diff'], d['ci'], digits=3, sign=True)}"
            f" (sign-flip p = {d['p']:.2g}).", "",
            "AP-MDM by sampling temperature (chosen on validation):", "",
            markdown_table(["temperature", "test solve rate [95% CI]", "test steps", "valid solve rate"],
                           by_t), ""]


def _pooled(v: dict) -> str:
    if "rate" not in v:
        return "-"
    k, n = sum(v["exact_per_seed"]), sum(v["n_per_seed"])
    return (f"{k}/{n} = {with_ci(v['rate'], v['rate_ci'], digits=3)}"
            f" (per seed {', '.join(map(str, v['exact_per_seed']))})")


def _ablation(result: dict) -> list[str]:
    """The parity-paper cells and the bracket models: pooled rate, Wilson CI, per-seed counts."""
    lines = []
    cells = [c for part in ("parity-paper", "parity-paper-1-5") for c in (result.get(part) or {}).get(
        "cells", {}).values()]
    if cells:
        seeds = next(result[k]["seeds"] for k in ("parity-paper", "parity-paper-1-5") if k in result)
        rows = [[c["data"], c["model"], c["train"][0]["parameters"],
                 "/".join(map(str, c["paper_windows_reproduced"])), int(L), _pooled(v),
                 "-" if v.get("steps_reproduced_median") is None else v["steps_reproduced_median"],
                 v.get("unfinished", 0)]
                for c in cells for L, v in c["by_length"].items()]
        lines += ["## Parity with the paper's data: global (paper size) vs local model", "",
                  f"{seeds} training seeds per cell; exact = every solver transition reproduced to the "
                  "answer (greedy); Wilson 95% CI over all seeds' inputs.", "",
                  markdown_table(["data", "model", "params", "7 windows fitted (per seed)", "bits",
                                  "exact [95% Wilson CI]", "steps before the first miss (median)",
                                  "unfinished"], rows), ""]
    rows = []
    for name, m in (result.get("brackets") or {}).get("models", {}).items():
        rows += [[f"AP-MDM, {name}", m["train"][0]["parameters"], int(L), _pooled(v),
                  f"{v['steps_mean']:.2f}"] for L, v in m["by_length"].items()]
    if "brackets-mdm" in result:
        b = result["brackets-mdm"]
        rows += [[f"plain MDM ({b['decoding']})", b["train"][0]["parameters"], int(L), _pooled(v), "-"]
                 for L, v in b["by_length"].items()]
    if rows:
        lines += ["## Delete the unmatched brackets (non-local edit)", "",
                  "Validity (balanced, a subsequence, maximal) per input length; Wilson 95% CI over all "
                  "seeds' inputs.", "",
                  markdown_table(["model", "params", "length", "valid [95% Wilson CI]", "steps"], rows), ""]
    return lines
