"""The report of ``mdm exp energy-schedules`` (:mod:`mdm.experiments.energy_schedules`)."""

from __future__ import annotations

import math

from mdm.experiments.common import markdown_table, with_ci


def _sweep_table(rows: list[dict], metric: str, order: str) -> str:
    mine = [r for r in rows if r["order"] == order]
    steps = sorted({r["steps"] for r in mine})
    table = []
    for label in dict.fromkeys(r["label"] for r in mine):
        vals = {r["steps"]: r for r in mine if r["label"] == label}
        cells = []
        for n in steps:
            v, ci, se = vals[n][metric], vals[n].get(f"{metric}_ci"), vals[n].get(f"{metric}_se")
            if not math.isfinite(v):
                cells.append("n/a (no valid sample)")
            elif ci is None and se is not None and math.isfinite(se):  # no per-item values: ± SE
                cells.append(f"{v:.4f} ± {se:.4f}")
            else:
                cells.append(with_ci(v, ci, digits=4))
        table.append([label, *cells])
    return markdown_table(["schedule", *[f"N={n}" for n in steps]], table)


def _claim_lines(claims: dict, metric: str) -> list[str]:
    return [f"- {key}: better than linear at {c['wins']}/{c['of']} step counts (ties {c['ties']}); "
            f"mean improvement in {metric} {c['mean_improvement']:+.4f}" for key, c in claims.items()]


def _toy_report(toy: dict) -> list[str]:
    grid = toy["grid"]
    lines = ["## 1. Exact toy (5 tokens over {a, b}, 3 steps, exact conditionals)", "",
             f"Grid a, b in {grid[0]:g}..{grid[-1]:g} ({len(grid)} values each). KL(target || sampler) in "
             "nats, computed exactly (no sampling); 'share better' = fraction of grid cells with a "
             "strictly smaller KL.", ""]
    rows = []
    for name, res in toy["targets"].items():
        for sampler, best in res["best"].items():
            refs = res["reference"][sampler]
            lin, sin2 = refs["linear=Beta(0.5,0.5)"], refs["sin2=Beta(1,1)"]
            how = best.get("counts", best.get("reveal_probs"))
            rows.append([name, sampler, f"Beta({best['a']:g},{best['b']:g}) {how}", best["kl"],
                         best["n_tied_cells"], lin["kl"], lin["frac_cells_better"], sin2["kl"],
                         sin2["frac_cells_better"]])
    lines.append(markdown_table(["target", "sampler", "best (first in grid order)", "best KL", "# tied",
                                 "linear KL", "linear: share better", "sin2 KL", "sin2: share better"], rows))
    distinct = toy["distinct_counts"]
    lines += ["", "The fixed-count samplers see (a, b) only through the rounded counts: the "
              f"{len(grid) ** 2} cells give {len(distinct)} distinct count lists "
              f"({', '.join(f'{c}: {n}' for c, n in distinct.items())}), hence the plateaus.", "",
              "![target A](toy_A.png)", "", "![target B](toy_B.png)", ""]
    return lines


def _part_report(name: str, part: dict, config: dict) -> list[str]:
    lines = [f"### {name}", "",
             f"Length {config['length']}, {config['samples']} samples per cell (value [95% bootstrap CI over "
             "samples]), temperature 1, the same "
             f"seed for every schedule at a given N; entropy rate {part['entropy_per_token']:.4f} "
             "nats/token. The TER gap is over the valid samples only, so it is biased when SER is high.", ""]
    if "train" in part:
        tr, val = part["train"], part["train"].get("final_val") or {}
        lines += [f"Model: {tr['steps']} training steps in {tr['wall_s']:.0f} s; validation NELBO "
                  f"{val.get('val_nelbo_nats_per_token', float('nan')):.4f} nats/token.", ""]
    for order, tuned in part["tuned"].items():
        lines.append(f"- tuned for {order} order ({tuned['metric']} at N={config['tune']['steps']}, "
                     f"{config['tune']['samples']} then {config['tune']['refine_samples']} samples): "
                     f"Beta({tuned['a']:g}, {tuned['b']:g}), {tuned['metric']} {tuned['score']:.4f}")
    lines.append("")
    for order, png in part.get("tune_plots", {}).items():  # the tuner's (a, b) grids
        lines += [f"![{name}: the tuning grid, {order} order]({png})", ""]
    for metric, label in (("ser", "SER (fraction of impossible sequences)"),
                          ("gap", "TER gap (NLL per token - entropy rate, nats)")):
        for order in config["orders"]:
            lines += [f"**{label}, {order} order**", "", _sweep_table(part["rows"], metric, order), ""]
    if all("end_of_text_first_half" in r for r in part["rows"]):
        body = [[r["order"], r["label"], r["steps"], f"{r['end_of_text_first_half']:.2f}",
                 f"{r['revealed_first_half']:.2f}"] for r in part["rows"]]
        lines += ["**What each schedule reveals first** (per sequence, in the first half of the steps: "
                  "end-of-text values revealed / all positions revealed):", "",
                  markdown_table(["order", "schedule", "N", "eos/pad revealed", "all revealed"], body), ""]
    lines += ["Beta schedules vs linear at N <= 16:", ""]
    for metric in ("ser", "gap"):
        lines += [f"*{metric}*:", *_claim_lines(part["claim"][metric], metric), ""]
    lines += [f"![{name}]({part['plot']})", ""]
    return lines


def _padding_report(part: dict) -> list[str]:
    setup, task, tuned = part["setup"], part["task"], part["tuned"]
    train = part.get("train") or {}
    options = ((train.get("train_config") or {}).get("data") or {}).get("options") or {}
    lines = [f"## {setup['title']}", "",
             f"Config `{setup['config']}`: {'+'.join(options.get('ops', ['?']))} with up to "
             f"{options.get('max_digits', '?')} digits; generation length "
             f"{task['answer_len']}, answers {task['mean_answer_tokens_with_eos']:.2f} tokens with eos on "
             f"average (max {task['max_answer_tokens_with_eos']}), so {task['padding_share']:.0%} of the "
             f"generated positions are padding. Decoding: confidence order, blocks of {setup['block_size']}, "
             "stop at eos, argmax values. Checkpoint: " + part["checkpoint"] + ".", ""]
    if train:
        val = train.get("final_val") or {}
        wall = train.get("train_wall_s")
        lines += [f"Model: {train['parameters'] / 1e6:.2f} M parameters, {train['steps']} training steps"
                  + (f" in {wall / 60:.1f} min" if wall else "") + "; test NELBO "
                  f"{val.get('val_nelbo_nats_per_token', float('nan')):.4f} nats/token.", ""]
    lines += [f"Tuned on {setup['n_valid']} validation problems (accuracy at N={setup['tune_steps']}): "
              f"Beta({tuned['a']:g}, {tuned['b']:g}), validation accuracy {tuned['valid_accuracy']:.4f}.", "",
              "**test accuracy**", "", _sweep_table(part["rows"], "accuracy", "confidence"), ""]
    if all("vs_linear" in r for r in part["rows"]):
        body = [[r["label"], r["steps"], f"{100 * r['accuracy']:.1f}",
                 with_ci(r["vs_linear"], r.get("vs_linear_ci"), 100, sign=True),
                 f"{r['vs_linear_p']:.2g}" if "vs_linear_p" in r else "-"]
                for r in part["rows"] if r["schedule"] != "linear"]
        lines += ["**vs linear** (paired on the same test problems; points, 95% bootstrap CI over "
                  "problems, sign-flip p):", "",
                  markdown_table(["schedule", "N", "accuracy %", "minus linear (pt) [95% CI]", "p"], body),
                  ""]
    rows = [[r["label"], r["steps"], str(r["counts_per_block"]), f"{r['padding_first_half']:.2f}",
             f"{r['revealed_first_half']:.2f}", f"{r['nfe']:.1f}"] for r in part["rows"]]
    lines += ["**The mechanism**: unmask counts per step of one block, and per sequence the end-of-text "
              "positions (eos or pad values) revealed in the first half of each block's steps, out of all "
              "positions revealed then (the stop rule pads later blocks unrevealed).", "",
              markdown_table(["schedule", "N", "counts per block", "padding revealed, first half",
                              "all revealed, first half", "NFE"], rows), "",
              f"![{setup['title']}: accuracy vs steps per schedule]({part['plot']})", ""]
    if part.get("claim"):
        lines += ["Beta schedules vs linear (accuracy, every N):", "",
                  *_claim_lines(part["claim"], "accuracy"), ""]
    return lines


def report(result: dict) -> str:
    """The markdown body (the runner adds the evidence box and provenance)."""
    lines = ["# Energy-optimal Beta schedules (Chen et al., arXiv 2509.13866)", "",
             f"Preset `{result['preset']}`.", ""]
    if result["preset"] == "quick":
        lines += ["The quick preset is a smoke test: small samples and a model trained for seconds.", ""]
    if result.get("toy"):
        lines += _toy_report(result["toy"])
    for section, title in (("languages", "2. Exact languages (sampler error only)"),
                           ("trained", "3. Model trained here, scored under the true language")):
        if result.get(section):
            lines += [f"## {title}", ""]
            for name, part in result[section].items():
                lines += _part_report(name, part, result["config"])
    for part in (result.get("padding") or {}).values():
        lines += _padding_report(part)
    if result.get("task"):
        task = result["task"]
        lines += ["## 5. Task model", "", f"{task['task']} checkpoint {task['checkpoint']}", ""]
        for order in result["config"]["orders"]:
            lines += [f"**accuracy, {order} order**", "", _sweep_table(task["rows"], "accuracy", order), ""]
    return "\n".join(lines)


