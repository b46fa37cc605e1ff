"""``report.md`` of ``mdm exp eb-sampler`` (see :mod:`mdm.experiments.eb_sampler`)."""

from __future__ import annotations

from mdm.experiments.common import markdown_table, with_ci


def _setting(row: dict) -> tuple:
    return row["family"], row["label"], row["block_size"], row.get("stop", True)


def _rows_table(part: dict) -> str:
    """Every setting on the test prompts, with its validation accuracy (where it was chosen)."""
    rows = sorted(part["rows"], key=lambda r: (not r.get("stop", True), str(r["block_size"]), r["family"],
                                               r["nfe_mean"]))
    valid = {_setting(r): r for r in part.get("valid_rows", [])}
    body = [[r["curve"], r["label"], with_ci(r["accuracy"], r.get("accuracy_ci"), 100),
             f"{r['nfe_mean']:.2f}", f"{r['nfe_max']:.0f}",
             f"{100 * valid[_setting(r)]['accuracy']:.1f}" if _setting(r) in valid else "-",
             f"{r['wall_s']:.1f}"] for r in rows]
    return markdown_table(["sampler", "setting", "test accuracy % [95% CI]", "test mean NFE", "test max NFE",
                           "validation accuracy %", "test wall s"], body)


def _at(row: dict) -> str:
    return f"{100 * row['accuracy']:.1f} @ {row['nfe_mean']:.1f}"


def _speedup_table(part: dict) -> str:
    """The setting chosen on validation, with its numbers on test (``speedup(..., test_rows=)``)."""
    body = []
    for s in part["speedups"]:
        ref, best, val = s["reference"], s["best"], s.get("validation") or {}
        blocks = "none" if s["block_size"] is None else str(s["block_size"])
        if not s.get("stop", True):
            blocks += ", no stop rule"
        val_ref = _at(val["reference"]) if val.get("reference") else "-"
        if best is None:
            body.append([s["family"], blocks, val_ref, "no setting within 0.5 pt", _at(ref), "-", "-", "-"])
            continue
        diff = "-"
        if "accuracy_diff" in s:
            diff = with_ci(s["accuracy_diff"], s.get("accuracy_diff_ci"), 100, sign=True)
            if "accuracy_diff_p" in s:
                diff += f", p = {s['accuracy_diff_p']:.2g}"
        chosen = f"{best['label']}: {_at(val['best'])}" if val.get("best") else best["label"]
        body.append([s["family"], blocks, val_ref, chosen, _at(ref), _at(best), diff, f"{s['speedup']:.2f}x"])
    return markdown_table(["family", "blocks", "validation: top-1 acc % @ NFE",
                           "validation: cheapest within 0.5 pt (chosen)", "test: top-1 acc % @ NFE",
                           "test: chosen acc % @ NFE", "test: paired acc diff (pt) [95% CI], sign-flip p",
                           "test: NFE speed-up"],
                          body)


def _group_table(part: dict) -> str:
    """Accuracy per difficulty group, for the samplers without blocks."""
    groups = sorted(part["groups"])
    rows = [r for r in part["rows"] if r["block_size"] is None and r.get("stop", True)]
    rows.sort(key=lambda r: (r["family"], r["nfe_mean"]))
    body = [[r["curve"], r["label"], f"{r['nfe_mean']:.1f}",
             *(f"{100 * r['accuracy_by_group'][g]:.1f}" for g in groups)] for r in rows]
    header = ["sampler", "setting", "mean NFE", *(f"{g} (n={part['groups'][g]})" for g in groups)]
    return markdown_table(header, body)


def _train_lines(summary: dict) -> list[str]:
    cfg = summary.get("train_config") or {}
    model = cfg.get("model", {})
    val = summary.get("final_val") or {}
    wall = summary.get("train_wall_s")
    return [
        f"- model: {summary['parameters'] / 1e6:.2f} M parameters (d_model {model.get('d_model')}, "
        f"{model.get('n_layers')} layers, time-independent), checkpoint `{summary['checkpoint']}`",
        f"- training: {summary.get('steps')} steps of {cfg.get('batch_size')} sequences, "
        f"{summary.get('tokens_seen')} tokens, " + (f"{wall / 60:.1f} min" if wall else "wall time unknown")
        + f", precision {cfg.get('precision')}, lr {cfg.get('optim', {}).get('lr')}",
        f"- final train loss {summary.get('final_train_loss')}, validation NELBO "
        f"{val.get('val_nelbo_nats_per_token')} nats/token",
    ]


def _selection_lines(part: dict) -> list[str]:
    if not part.get("valid_rows"):
        return ["- the equal-accuracy setting was chosen on the test prompts it is reported on"]
    return [f"- each family's equal-accuracy setting (the cheapest within 0.5 pt of top-1) was chosen on "
            f"{part['valid_rows'][0]['n']} validation prompts, disjoint from the train and test splits; "
            "its accuracy, NFE and paired difference vs top-1 are reported on the test prompts"]


def report(result: dict) -> str:
    """The markdown body (the runner adds the evidence box and provenance)."""
    lines = [f"# EB-sampler: accuracy vs NFE ({result['preset']} preset)", ""]
    for name, part in result["tasks"].items():
        lines += [f"## {name}", "", *_train_lines(part["train"]),
                  f"- evaluated on {part['rows'][0]['n']} of {part['n_test']} test prompts, answer length "
                  f"{part['answer_len']}, temperature 0", *_selection_lines(part), "",
                  f"![{name}]({name}.png)", "",
                  "### Speed-up at equal accuracy: test (chosen on validation)", "", _speedup_table(part), "",
                  "### Every sampler", "", _rows_table(part), ""]
        if part.get("groups"):
            lines += ["### Accuracy (%) by difficulty", "", _group_table(part), ""]
    if result.get("bound") is not None:
        lines += ["## The bound on an exact HMM", "", *bound_lines(result["bound"]), "",
                  "![bound](bound.png)", ""]
    return "\n".join(lines)


def _fmt(v):
    return "-" if v is None else v


def bound_lines(result: dict) -> list[str]:
    """Markdown: one table over the random set sizes, one over the EB-sampler's ``gamma``."""
    head = ["n", "bound holds", "mean TC", "mean ΣH−maxH", "mean TC/bound", "median", "max"]
    keys = ["n", "holds", "tc_mean", "bound_mean", "ratio_mean", "ratio_median", "ratio_max"]
    rand = [[int(k), *(_fmt(s[c]) for c in keys)] for k, s in result["random_sets"].items()]
    eb = [[float(gm), *(_fmt(s[c]) for c in keys), _fmt(s["size_mean"]), _fmt(s["tc_max"]), s["skipped"]]
          for gm, s in result["eb_sets"].items()]
    return [
        "Random sets of masked positions: total correlation TC(S) against the EB bound ΣH − maxH "
        "(ratio over sets with bound > 1e-12).",
        "",
        *markdown_table(["set size", *head], rand).split("\n"),
        "",
        "Sets the EB-sampler reveals (entropy proxy): TC must be at most γ.",
        "",
        *markdown_table(["γ", *head, "mean set size", "max TC (≤ γ)", "skipped"], eb).split("\n"),
    ]
