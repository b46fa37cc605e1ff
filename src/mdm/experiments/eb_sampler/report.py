"""``report.md``, verdict, headline numbers and evidence box of ``mdm exp eb-sampler``."""

from __future__ import annotations

from collections.abc import Callable
from statistics import fmean

from mdm.experiments.common import markdown_table, with_ci
from mdm.experiments.eb_sampler.presets import Preset
from mdm.experiments.eb_sampler.selection import TOLERANCE, setting
from mdm.experiments.report import table

COMPARISON = "eb-vs-threshold"  # the part comparing EB and Threshold at matched NFE (issue 28)


def _pct(key: str) -> Callable[[dict], str]:
    return lambda item: f"{100 * item[key]:.1f}"


def _at(row: dict) -> str:
    return f"{100 * row['accuracy']:.1f} @ {row['nfe_mean']:.1f}"


def _rows_table(part: dict) -> str:
    """Every setting on the test prompts, with its validation accuracy (where it was chosen)."""
    valid = {setting(r): f"{100 * r['accuracy']:.1f}" for r in part["valid_rows"]}
    rows = sorted(part["rows"], key=lambda r: (not r.get("stop", True), str(r["block_size"]), r["family"],
                                               r["nfe_mean"]))
    return table(rows, {
        "sampler": "{curve}", "setting": "{label}",
        "test accuracy % [95% CI]": lambda r: with_ci(r["accuracy"], r.get("accuracy_ci"), 100),
        "test mean NFE": "{nfe_mean:.2f}", "test max NFE": "{nfe_max:.0f}",
        "validation accuracy %": lambda r: valid.get(setting(r), "-"), "test wall s": "{wall_s:.1f}"})


def _speedup_row(s: dict) -> list:
    ref, best, val = s["reference"], s["best"], s["validation"]
    blocks = "none" if s["block_size"] is None else str(s["block_size"])
    head = [s["family"], blocks + ("" if s["stop"] else ", no stop rule"), _at(val["reference"])]
    if best is None:
        return [*head, f"no setting within {100 * TOLERANCE:g} pt", _at(ref), "-", "-", "-"]
    diff = with_ci(s["accuracy_diff"], s.get("accuracy_diff_ci"), 100, sign=True)
    diff += f", p = {s['accuracy_diff_p']:.2g}" if "accuracy_diff_p" in s else ""
    return [*head, f"{best['label']}: {_at(val['best'])}", _at(ref), _at(best), diff, f"{s['speedup']:.2f}x"]


def _speedup_table(part: dict) -> str:
    """The setting chosen on validation, with its numbers on test (``speedup(..., test_rows=)``)."""
    return markdown_table(["family", "blocks", "validation: top-1 acc % @ NFE",
                           "validation: cheapest within 0.5 pt (chosen)", "test: top-1 acc % @ NFE",
                           "test: chosen acc % @ NFE", "test: paired acc diff (pt) [95% CI], sign-flip p",
                           "test: NFE speed-up"], [_speedup_row(s) for s in part["speedups"]])


def _group_table(part: dict) -> str:
    """Accuracy per difficulty group, for the samplers without blocks."""
    rows = sorted((r for r in part["rows"] if r["block_size"] is None and r.get("stop", True)),
                  key=lambda r: (r["family"], r["nfe_mean"]))
    groups = {f"{g} (n={n})": (lambda r, g=g: f"{100 * r['accuracy_by_group'][g]:.1f}")
              for g, n in sorted(part["groups"].items())}
    return table(rows, {"sampler": "{curve}", "setting": "{label}", "mean NFE": "{nfe_mean:.1f}", **groups})


def _train_line(s: dict) -> str:
    cfg, val = s.get("train_config") or {}, s.get("final_val") or {}
    wall = f"{s['train_wall_s'] / 60:.1f} min" if s.get("train_wall_s") else "wall time unknown"
    d_model = cfg.get("model", {}).get("d_model")
    return (f"- model: {s['parameters'] / 1e6:.2f} M parameters (d_model {d_model}), "
            f"{s.get('steps')} steps of {cfg.get('batch_size')}, {wall}, validation NELBO "
            f"{val.get('val_nelbo_nats_per_token')} nats/token, checkpoint `{s['checkpoint']}`")


def task_lines(name: str, part: dict) -> list[str]:
    lines = [f"## {name}", "", _train_line(part["train"]),
             f"- {part['rows'][0]['n']} of {part['n_test']} test prompts, answer length "
             f"{part['answer_len']}, temperature 0; settings chosen on {part['valid_rows'][0]['n']} "
             "validation prompts", "", f"![{name}]({name}.png)", "",
             "### Speed-up at equal accuracy: test (chosen on validation)", "", _speedup_table(part), "",
             "### Every sampler", "", _rows_table(part), ""]
    if part.get("groups"):
        lines += ["### Accuracy (%) by difficulty", "", _group_table(part), ""]
    return lines


def bound_lines(result: dict) -> list[str]:
    """One table over the random set sizes, one over the EB-sampler's ``gamma``."""
    keys = ["n", "holds", "tc_mean", "bound_mean", "ratio_mean", "ratio_median", "ratio_max"]
    head = ["n", "bound holds", "mean TC", "mean ΣH−maxH", "mean TC/bound", "median", "max"]

    def cells(stats: dict, names) -> list:
        return ["-" if stats[k] is None else stats[k] for k in names]

    rand = [[int(k), *cells(s, keys)] for k, s in result["random_sets"].items()]
    eb = [[float(g), *cells(s, [*keys, "size_mean", "tc_max"]), s["skipped"]]
          for g, s in result["eb_sets"].items()]
    return ["Random sets: total correlation TC(S) against ΣH − maxH (ratios over bounds > 1e-12).", "",
            markdown_table(["set size", *head], rand), "",
            "Sets the EB-sampler reveals (entropy proxy): TC must be at most γ.", "",
            markdown_table(["γ", *head, "mean set size", "max TC (≤ γ)", "skipped"], eb)]


def _pt(e: dict | None) -> str:
    if e is None:
        return "unreachable"
    return f"{100 * e['mean']:+.1f} [{100 * e['lo']:.1f}, {100 * e['hi']:.1f}], p = {e['p_value']:.2g}"


def comparison_lines(r: dict) -> list[str]:
    """The EB-vs-Threshold part: matched-NFE differences, the within-one-SE choices, every setting."""
    eb = list(r["matched"])
    matched = [[f"{c:g}", *(f"{100 * r['bands'][f]['mean'][g]:.1f}" for f in ("threshold", *eb)),
                *(_pt(r["matched"][f][g]) for f in eb)] for g, c in enumerate(r["nfe_grid"])]
    chosen = [{"family": fam, "keys": ", ".join(c["key"] if fam == "any" else c["key"].split(": ")[1]
                                                for c in cs),
               **{k: fmean(c[k]["mean"] for c in cs) for k in ("validation", "test")},
               **{k: fmean(c[k] for c in cs) for k in ("nfe", "blanks_nfe")}}
              for fam, cs in r["chosen"].items()]  # a family's choice on each model, means over models
    chosen_table = table(chosen, {
        "family": "{family}", "chosen": "{keys}", "validation acc %": _pct("validation"),
        "test acc %": _pct("test"), "test NFE": "{nfe:.2f}", "test blanks-only NFE": "{blanks_nfe:.2f}"})
    every = table(r["settings"], {
        "family": "{family}", "setting": "{label}", "test acc %": _pct("test_accuracy"),
        "test NFE": "{test_nfe:.2f}", "test blanks-only NFE": "{test_blanks_nfe:.2f}",
        "validation acc %": _pct("valid_accuracy")})
    return [f"## EB vs Threshold at matched NFE ({len(r['models'])} models, {r['n_test']} test and "
            f"{r['n_valid']} validation puzzles each)", "", "![eb-vs-threshold](eb-vs-threshold.png)", "",
            "Frontier accuracy (%): each family's validation-Pareto settings interpolated on test, mean over "
            "models; EB − Threshold in points, paired by model and puzzle [95% two-stage bootstrap CI], "
            "sign-flip p:", "",
            markdown_table(["NFE", "threshold", *eb, *(f"{f} − threshold" for f in eb)], matched), "",
            "Cheapest setting within one validation SE of the family's best, per model (means over models):",
            "", chosen_table, "",
            "Every setting, means over models (blanks-only NFE: passes that revealed a blank cell):", "",
            every, ""]


def report(result: dict, preset: Preset) -> str:
    """The markdown body (the runner adds the evidence box and provenance)."""
    lines = [f"# EB-sampler: accuracy vs NFE ({result['preset']} preset)", ""]
    for name, part in result["tasks"].items():
        lines += task_lines(name, part)
    if result.get("bound") is not None:
        lines += ["## The bound on an exact HMM", "", *bound_lines(result["bound"]), "",
                  "![bound](bound.png)", ""]
    if result.get("eb_vs_threshold") is not None:
        lines += comparison_lines(result["eb_vs_threshold"])
    return "\n".join(lines)


def _eb_speedup(part: dict) -> dict | None:
    """EB's speed-up without blocks, with the stop rule (where the task has one)."""
    return next((s for s in part["speedups"] if s["family"] == "EB" and s["block_size"] is None
                 and s["stop"]), None)


def verdict(result: dict) -> list[str]:
    lines = []
    for name, s in ((name, _eb_speedup(part)) for name, part in result["tasks"].items()):
        if s is not None and s["best"]:
            lines.append(f"{name}: EB at equal accuracy (chosen on validation): {s['speedup']:.2f}x "
                         "fewer NFE than top-1 on test")
        elif s is not None:
            lines.append(f"{name}: no EB setting within {100 * TOLERANCE:g} pt of top-1 on validation")
    r = result.get("eb_vs_threshold") or {"matched": {}}
    return lines + [f"{COMPARISON}: {fam} - threshold at {c:g} NFE: {100 * d['mean']:+.1f} pt "
                    f"[{100 * d['lo']:.1f}, {100 * d['hi']:.1f}]" for fam, ds in r["matched"].items()
                    for c, d in zip(r["nfe_grid"], ds) if d is not None]


def evidence(result: dict, p: Preset) -> dict:
    if result.get("eb_vs_threshold") and not result.get("tasks"):  # the comparison alone
        return {"n_test": p.frontier.task.n_eval, "level": 0.95, "setting": "our proxy",
                "seeds_per_run": len(p.frontier.models),
                "method": "two-stage percentile bootstrap (models, then test puzzles), paired for "
                          "EB - Threshold"}
    return {"n_test": min(t.n_eval for t in p.tasks), "level": 0.95, "setting": "our proxy",
            "method": "percentile bootstrap CI (10,000 resamples) over test prompts (smallest task "
                      "shown), paired for the speed-up's accuracy difference"}


def headline(result: dict) -> dict:
    out = {}
    for name, s in ((name, _eb_speedup(part)) for name, part in result["tasks"].items()):
        if s is not None:
            out[f"{name}: top-1 test accuracy"] = s["reference"]["accuracy"]
            out[f"{name}: EB NFE speed-up at equal accuracy"] = s["speedup"]
            if s["best"] is not None:  # the chosen EB setting vs top-1 on test, paired by seed
                out[f"{name}: EB (chosen) minus top-1 test accuracy"] = (s["best"]["accuracy"],
                                                                         s["reference"]["accuracy"])
    return out
