"""What the runner writes: ``result.json``, ``report.md`` (evidence box, plots, provenance), PNGs.

One seed: ``result.json`` is the assembled result plus ``preset``, ``parts``, ``plots``, ``provenance``
and ``evidence``.  Several seeds: ``{"experiment", "preset", "seeds", "across_seeds" (the headline
numbers over the seeds), "by_seed": {seed: result}, "provenance", "evidence"}``, each seed's plots in
``OUT/seed-N/`` and one report section per seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from mdm.experiments.common import markdown_table
from mdm.provenance import provenance_markdown, write_json_atomic, write_text_atomic

__all__ = ["BOX", "evidence", "table", "write_outputs"]

BOX = "> **How strong is this evidence?** {}"


def table(items: Iterable[dict], columns: dict[str, str | Callable[[dict], object]]) -> str:
    """A markdown table of an experiment's report, one row per item: ``columns`` maps each header
    to its cell, a field name (``"nfe"``: the value as :func:`~mdm.experiments.common.markdown_table`
    writes it, floats to 4 significant digits), a format string of the fields (``"{nfe:.2f}"``) or a
    function of the item."""
    def cell(spec, item: dict):
        return spec(item) if callable(spec) else spec.format(**item) if "{" in spec else item[spec]

    return markdown_table(list(columns), [[cell(spec, item) for spec in columns.values()] for item in items])


def evidence(plan, result: dict) -> dict | None:
    """The "how strong is this evidence" box (:func:`mdm.eval.stats.evidence_line`): training seeds
    (those run, or None where nothing is trained), test size, CI method, setting."""
    from mdm.eval.stats import evidence_line

    exp = plan.experiment
    if exp.evidence is None:
        return None
    fields = dict(exp.evidence(result, plan.setup))
    per_run = fields.pop("seeds_per_run", 1)  # training seeds inside one run (e.g. learned-order's)
    seeds = len(plan.seeds) * per_run if fields.pop("trained", True) else None
    return {"seeds": seeds, **fields, "line": evidence_line(seeds=seeds, **fields)}


def _known(v) -> bool:
    return v is not None and v == v


def across_seeds(plan, by_seed: dict[int, dict]) -> dict | None:
    """Each headline number summarised over the seeds (:func:`mdm.eval.stats.summarize`); a headline
    pair ``(a, b)`` (two arms on the same seed) as the paired difference ``a - b`` over seeds
    (:func:`mdm.eval.stats.paired_difference`, with its sign-flip p).  ``None`` values (e.g. a
    threshold never reached) are counted in ``missing`` and left out."""
    from mdm.eval.stats import paired_difference, summarize

    if plan.experiment.headline is None or len(by_seed) < 2:
        return None
    values: dict[str, list] = {}
    for r in by_seed.values():
        for name, v in plan.experiment.headline(r).items():
            values.setdefault(name, []).append(v)
    out = {}
    for name, vs in values.items():
        if any(isinstance(v, (list, tuple)) for v in vs):
            kept = [v for v in vs if isinstance(v, (list, tuple)) and all(_known(x) for x in v)]
            est = paired_difference(*zip(*kept)).__dict__ if len(kept) > 1 else {}
        else:
            kept = [v for v in vs if _known(v)]
            est = summarize(kept).__dict__ if kept else {}
        out[name] = {**est, "missing": len(vs) - len(kept)}
    return out


def _across_lines(summary: dict) -> list[str]:
    rows = [[name, f"{s['mean']:.4g}" if "mean" in s else "-", f"{s['se']:.2g}" if "se" in s else "-",
             f"[{s['lo']:.4g}, {s['hi']:.4g}]" if "lo" in s else "-",
             f"{s['p_value']:.2g}" if "p_value" in s else "", s.get("n", 0), s["missing"]]
            for name, s in summary.items()]
    return ["## Across seeds", "", "Each headline number over the seeds: mean, SE and 95% percentile "
            "bootstrap CI (`mdm.eval.stats.summarize`); a comparison of two arms (A - B) is paired by "
            "seed, with its sign-flip p (`paired_difference`); 'missing' counts seeds without a value.", "",
            markdown_table(["number", "mean", "SE", "95% CI", "p", "seeds", "missing"], rows)]


def _plots(plan, result: dict, folder: Path) -> list[str]:
    if plan.experiment.plots is None:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    return [name for name in plan.experiment.plots(result, folder) if name]


def _section(plan, result: dict, plots: list[str], prefix: str = "", demote: bool = False) -> list[str]:
    text = plan.experiment.report(result, plan.setup).rstrip("\n")
    missing = [p for p in plots if f"]({p})" not in text]
    for p in plots:
        text = text.replace(f"]({p})", f"]({prefix}{p})")
    body = text.split("\n")
    if missing:
        body += ["", "## Plots", "", *(f"![{p}]({prefix}{p})" for p in missing)]
    return ["#" + line if demote and line.startswith("#") else line for line in body]


def write_outputs(plan, by_seed: dict[int, dict], prov: dict, out: Path) -> dict:
    """Write the plots, then ``result.json`` and ``report.md`` (both composed before either is
    written); return what ``result.json`` holds."""
    for r in by_seed.values():
        r.setdefault("preset", plan.preset)
        r.setdefault("parts", list(plan.selected))
    first = by_seed[plan.seeds[0]]
    if len(plan.seeds) == 1:
        plots = {plan.seeds[0]: _plots(plan, first, out)}
        result = {**first, "plots": plots[plan.seeds[0]]}
    else:
        plots = {s: [f"seed-{s}/{p}" for p in _plots(plan, r, out / f"seed-{s}")] for s, r in by_seed.items()}
        result = {"experiment": plan.experiment.name, "preset": plan.preset, "seeds": list(plan.seeds),
                  "across_seeds": across_seeds(plan, by_seed),
                  "by_seed": {str(s): {**r, "plots": plots[s]} for s, r in by_seed.items()}}
    ev = evidence(plan, first)
    result.update(evidence=ev, provenance=prov)

    if len(plan.seeds) == 1:
        lines = _section(plan, first, plots[plan.seeds[0]])
    else:
        lines = [f"# {plan.experiment.name}: seeds {', '.join(map(str, plan.seeds))}"]
        if result["across_seeds"]:
            lines += ["", *_across_lines(result["across_seeds"])]
        for s, r in by_seed.items():
            names = [p.split("/", 1)[1] for p in plots[s]]
            lines += ["", f"## Seed {s}", "", *_section(plan, r, names, f"seed-{s}/", demote=True)[1:]]
    box = BOX.format(ev["line"]) if ev else None
    lines[1:1] = ["", box] if box else []
    lines += ["", "## Provenance", "", provenance_markdown(prov)]
    write_json_atomic(out / "result.json", result)
    write_text_atomic(out / "report.md", "\n".join(lines))
    return result
