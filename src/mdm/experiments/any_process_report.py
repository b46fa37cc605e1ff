"""``mdm exp any-process`` outputs: result.json, report.md, accuracy / steps vs length, trajectories."""

from __future__ import annotations

from pathlib import Path

import torch

from mdm.experiments.common import markdown_table, provenance_markdown, write_json_atomic
from mdm.sampling.anyprocess import generate
from mdm.sampling.anyprocess_render import plot_anyprocess
from mdm.tasks.anyprocess import parity, rewrite

__all__ = ["write_outputs"]

PLOTS = ("accuracy_vs_length.png", "steps_vs_length.png", "trajectory_parity.png", "trajectory_rewrite.png")


def _trajectories(result: dict, out: Path) -> None:
    runs = result["parity"]["runs"]
    model = next(r.pop("model") for r in runs.values() if "model" in r)
    tok = parity.tokenizer()
    s, e = parity.start_state([1, 0, 1, 1, 0, 1, 1, 1], tok)
    res = generate(model, torch.tensor([s]), editable=torch.tensor([e]), max_steps=64, trace=True)
    names = {tok.bos_id: "B", tok.eos_id: "E"}
    plot_anyprocess(res, out / "trajectory_parity.png", decode=lambda i: names.get(i, str(i)),
                    mask_id=tok.mask_id, title="parity of 10110111 (model trained on lengths 1-5)")
    model = result["rewrite"].pop("model")
    tok = rewrite.tokenizer()
    s, e = rewrite.start_state("abcabbac", tok)
    res = generate(model, torch.tensor([s]), editable=torch.tensor([e]), max_steps=16, trace=True)
    names = {tok.bos_id: "B", tok.eos_id: "E"}
    plot_anyprocess(res, out / "trajectory_rewrite.png", decode=lambda i: names.get(i, tok.decode([i])),
                    mask_id=tok.mask_id, title="rewrite a->aA, b->() of abcabbac")


def _plots(result: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for label, r in result["parity"]["runs"].items():
        xs = sorted(int(k) for k in r["by_length"])
        ax.errorbar(xs, [r["by_length"][str(x)]["accuracy"] for x in xs],
                    yerr=[r["by_length"][str(x)]["accuracy_se"] for x in xs], marker="o", capsize=3,
                    label=f"parity, trained on {label}")
    rw = result["rewrite"]
    xs = sorted(int(k) for k in rw["by_length"])
    ax.errorbar(xs, [rw["by_length"][str(x)]["validity"] for x in xs], marker="s", capsize=3,
                yerr=[rw["by_length"][str(x)]["validity_se"] for x in xs],
                label=f"rewrite validity (trained on <= {rw['train_max_len']})")
    ax.set_ylim(-0.05, 1.05)
    _save(fig, ax, out / "accuracy_vs_length.png", "accuracy / validity")

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for label, r in result["parity"]["runs"].items():
        xs = sorted(int(k) for k in r["by_length"])
        ax.plot(xs, [r["by_length"][str(x)]["steps_mean"] for x in xs], marker="o", label=f"parity ({label})")
    ax.plot(xs, [2 * x for x in xs], ls=":", color="grey", label="2 x length")
    xs = sorted(int(k) for k in rw["by_length"])
    ax.plot(xs, [rw["by_length"][str(x)]["steps_mean"] for x in xs], marker="s", label="rewrite")
    ax.set_yscale("log")
    _save(fig, ax, out / "steps_vs_length.png", "transitions (mean)")


def _save(fig, ax, path: Path, ylabel: str) -> None:
    import matplotlib.pyplot as plt

    ax.set_xscale("log")
    ax.set_xlabel("input length")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _report(result: dict) -> str:
    lines = ["# any-process (AP-MDM, arXiv 2510.06190)", ""]
    lines += ["## Parity", ""]
    rows = []
    for label, r in result["parity"]["runs"].items():
        for k, v in r["by_length"].items():
            rows.append([label, int(k), v["n"], f"{v['accuracy']:.3f} ± {v['accuracy_se']:.3f}",
                         f"{v['steps_mean']:.1f}", ", ".join(f"{h}: {c}" for h, c in v["halted"].items())])
    lines += [markdown_table(["trained on", "length", "n", "accuracy ± SE", "steps", "halted"], rows), ""]
    params = next(iter(result["parity"]["runs"].values()))["train"]["parameters"]
    lines += [f"Model: {params} parameters.", ""]
    lines += ["## Sudoku (remask / unmask only) vs a plain MDM", ""]
    sd = result["sudoku"]
    rows = []
    for name, key in (("AP-MDM", "ap_mdm"), ("MDM, top-1 confidence", "mdm")):
        r = sd[key]
        extra = f"T = {r['chosen_temperature']}" if key == "ap_mdm" else r["decoding"]
        rows.append([name, r["n"], f"{r['solve_rate']:.3f} ± {r['solve_rate_se']:.3f}",
                     f"{r['steps_mean']:.1f} ± {r['steps_se']:.1f}", r["train"]["parameters"],
                     r["train"]["steps"], f"{r['train']['train_wall_s']:.0f}", extra])
    lines += [f"{sd['n_train_puzzles']} training puzzles, {sd['clues'][0]}-{sd['clues'][1]} clues; "
              f"{sd['n_eval']} test puzzles.", ""]
    lines += [markdown_table(["model", "n", "solve rate ± SE", "steps (NFE) ± SE", "params", "train steps",
                              "train s", "decoding"], rows), ""]
    valid = sd["ap_mdm"]["valid"]
    rows = [[t, f"{v['solve_rate']:.3f} ± {v['solve_rate_se']:.3f}", f"{v['steps_mean']:.1f}",
             f"{valid[t]['solve_rate']:.3f}"] for t, v in sd["ap_mdm"]["by_temperature"].items()]
    lines += ["AP-MDM by sampling temperature (chosen on validation):", "",
              markdown_table(["temperature", "test solve rate", "test steps", "valid solve rate"], rows), ""]
    lines += ["## Rewrite a -> aA, b -> (nothing): needs insert and delete", ""]
    rw = result["rewrite"]
    rows = [[int(k), v["n"], f"{v['validity']:.3f} ± {v['validity_se']:.3f}", f"{v['steps_mean']:.2f}"]
            for k, v in rw["by_length"].items()]
    lines += [f"Trained on inputs of 1-{rw['train_max_len']} characters.", "",
              markdown_table(["length", "n", "validity ± SE", "steps"], rows), ""]
    w = result["wall_s"]
    lines += ["## Provenance", "", provenance_markdown(result["provenance"]),
              f"- wall time: {w['total']:.0f} s (parity {w['parity']:.0f}, rewrite {w['rewrite']:.0f}, "
              f"sudoku {w['sudoku']:.0f})", ""]
    return "\n".join(lines)


def write_outputs(result: dict, out: Path) -> None:
    """Draws the trajectories (this removes the models from ``result``), then the JSON, report, plots."""
    out = Path(out)
    _trajectories(result, out)
    write_json_atomic(out / "result.json", result)
    _plots(result, out)
    (out / "report.md").write_text(_report(result), encoding="utf-8")
