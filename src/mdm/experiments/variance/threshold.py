"""Steps and forward passes to a test-accuracy threshold, per arm, and the arms compared under each
definition of equal compute.

Per run (one arm, batch and seed) :func:`mdm.eval.stats.cost_to_threshold` reads the step at which
the learning curve first reaches the threshold (linear between grid points; ``inf``: censored, never
reached within the steps run).  Per arm :func:`mdm.eval.frontier.censored_median` gives the median
over seeds and its bootstrap CI (identified while fewer than half the runs are censored).  Two arms
run on the same seeds are compared by :func:`mdm.eval.frontier.paired_cost_ratio`.

Forward passes: a step scores ``batch x copies`` rows (MIRROR: two masks per row); we count them in
units of one ``B``-row batch (``B`` = the SFT batch), so at batch ``B`` a single-mask arm has one pass
per step.  The definitions of equal compute for a MIRROR arm against the standard arm
(:data:`DEFINITIONS`): both at batch ``B`` read in forward passes ("half the steps"); MIRROR at
``B/2`` against standard at ``B`` ("half the batch"); MIRROR at ``B`` against standard at ``2B``
("double batch").  A single-mask arm costs what the standard arm costs per step under all three.
"""

from __future__ import annotations

import math

import numpy as np

from mdm.eval.frontier import censored_median, cost_to_threshold, paired_cost_ratio
from mdm.eval.stats import paired_difference_clustered

__all__ = ["DEFINITIONS", "THRESHOLDS", "compare", "run_costs"]

THRESHOLDS = (0.5, 0.8)


def _finite(x: float) -> float | str:
    """JSON-friendly: ``inf`` written as the string ``"inf"`` (``-inf`` likewise)."""
    return float(x) if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def run_costs(steps, acc, batch: int, copies: int, base_batch: int) -> dict:
    """Per threshold: per-seed steps to it (``inf`` censored), the censored median of steps and of
    forward passes (``steps x batch x copies / base_batch``)."""
    per_pass = batch * copies / base_batch
    out = {}
    for thr in THRESHOLDS:
        costs = [cost_to_threshold(steps, curve, thr) for curve in acc]
        med_steps = censored_median(costs, threshold=thr).to_dict()
        med_passes = censored_median([c * per_pass for c in costs], threshold=thr).to_dict()
        out[str(thr)] = {"per_seed_steps": [_finite(c) for c in costs],
                         "n_censored": sum(map(math.isinf, costs)), "steps": _clean(med_steps),
                         "passes": _clean(med_passes)}
    return out


def _clean(d: dict) -> dict:
    """``d`` with every float (also inside a list) through :func:`_finite`."""
    def clean(v):
        return _finite(v) if isinstance(v, float) else [clean(x) for x in v] if isinstance(v, list) else v

    return {k: clean(v) for k, v in d.items()}


def _costs(run: dict, thr: float, unit: str, per_pass: float) -> list[float]:
    c = [math.inf if v == "inf" else float(v) for v in run["to_threshold"][str(thr)]["per_seed_steps"]]
    return [x * per_pass for x in c] if unit == "passes" else c


#: name -> (label of the arm's runs, label of the standard runs, unit, step at which the arm is read
#: against the standard arm's last step); ``B`` the SFT batch, ``S`` the ``mdm`` part's steps.
DEFINITIONS = {
    "equal steps": lambda arm, B, S: (f"{arm}@{B}", f"standard@{B}", "steps", S),
    "half the steps": lambda arm, B, S: (f"{arm}@{B}", f"standard@{B}", "passes", S // 2),
    "half the batch": lambda arm, B, S: (f"{arm}@{B // 2}", f"standard@{B}", "passes", S),
    "double batch for standard": lambda arm, B, S: (f"{arm}@{B}", f"standard@{2 * B}", "passes", S),
}


def _on_common_seeds(ra: dict, rb: dict) -> tuple[dict, dict]:
    """The two runs restricted to the seeds both hold, in the order of ``ra`` (a run cut short has
    fewer seeds than the one it is paired with)."""
    sa, sb = ra.get("seeds"), rb.get("seeds")
    if sa is None or sb is None or sa == sb:
        return ra, rb
    common = [s for s in sa if s in sb]

    def pick(r, seeds):
        at = [seeds.index(s) for s in common]
        t = {thr: {**v, "per_seed_steps": [v["per_seed_steps"][i] for i in at]}
             for thr, v in r["to_threshold"].items()}
        return {**r, "seeds": common, "to_threshold": t,
                "correct": {k: [v[i] for i in at] for k, v in r["correct"].items()}}

    return pick(ra, sa), pick(rb, sb)


def compare(runs: dict, a: str, b: str, unit: str, base_batch: int, step_a: int | None, step_b: int | None
            ) -> dict:
    """``runs[a]`` against ``runs[b]`` (same seeds): per threshold the paired cost ratio in ``unit``
    and each side's censored median; at ``step_a`` vs ``step_b`` (when both kept) the paired accuracy
    difference over seeds and test problems (:func:`paired_difference_clustered`)."""
    ra, rb = _on_common_seeds(runs[a], runs[b])
    pa, pb = (r["batch"] * r["copies"] / base_batch for r in (ra, rb))
    # a common horizon: a cost beyond what the shorter run measured counts as censored for both
    horizon = min(r["steps"][-1] * (pr if unit == "passes" else 1.0) for r, pr in ((ra, pa), (rb, pb)))
    out = {"a": a, "b": b, "unit": unit, "horizon": horizon, "thresholds": {}}
    for thr in THRESHOLDS:
        ca, cb = ([c if c <= horizon else math.inf for c in _costs(r, thr, unit, pr)]
                  for r, pr in ((ra, pa), (rb, pb)))
        out["thresholds"][str(thr)] = _clean(paired_cost_ratio(ca, cb)) | {
            "a_median": ra["to_threshold"][str(thr)][unit]["median"],
            "b_median": rb["to_threshold"][str(thr)][unit]["median"]}
        out["n_seeds"] = len(ca)
    if step_a is not None and str(step_a) in ra["correct"] and str(step_b) in rb["correct"]:
        est = paired_difference_clustered(np.asarray(ra["correct"][str(step_a)], dtype=np.float64),
                                          np.asarray(rb["correct"][str(step_b)], dtype=np.float64))
        out["at_step"] = {"step_a": step_a, "step_b": step_b, "diff": est.mean, "ci": [est.lo, est.hi],
                          "p": est.p_value, "a_mean": float(np.mean(ra["correct"][str(step_a)])),
                          "b_mean": float(np.mean(rb["correct"][str(step_b)]))}
    return out


CURVE_PARTS = ("curves", "half-batch", "double-batch")


def _is_curve_part(name: str) -> bool:
    """``curves``, ``half-batch``, ``double-batch`` or one of their seed chunks (``curves-2``)."""
    kind, _, i = name.rpartition("-")
    return name in CURVE_PARTS or (kind in CURVE_PARTS and i.isdigit())


def merge_chunks(parts: list[dict]) -> dict:
    """Runs of one label from several seed chunks joined in seed order (``acc``, ``wall_s`` and the
    kept ``correct`` lists), with the ``seeds`` each label holds."""
    runs: dict[str, dict] = {}
    for part in sorted(parts, key=lambda q: q.get("seeds", [0])[0]):
        for label, r in part["runs"].items():
            same = {"steps": part.get("steps")} | {k: v for k, v in r.items()
                                                   if k not in ("acc", "wall_s", "correct")}
            m = runs.setdefault(label, {**same, "acc": [], "wall_s": [], "seeds": [],
                                        "correct": {k: [] for k in r["correct"]}})
            m["acc"] += r["acc"]
            m["wall_s"] += r["wall_s"]
            m["seeds"] += part.get("seeds", list(range(len(r["acc"]))))[:len(r["acc"])]
            for k, v in r["correct"].items():
                m["correct"][k] += v
    return runs


def summarize_curves(p, results: dict) -> dict | None:
    """The ``curves`` result from whichever curve parts ran: every run's mean curve and costs to the
    thresholds, and the comparisons each definition allows with the runs present (per-problem
    correctness stays in the part cache)."""
    parts = [v for k, v in results.items() if _is_curve_part(k) and v is not None]
    if not parts:
        return None
    B, S = p.sft_batch, p.sft_steps
    runs = merge_chunks(parts)
    for r in runs.values():
        r["to_threshold"] = run_costs(r["steps"], r["acc"], r["batch"], r["copies"], B)
    comparisons = []
    for arm in (a for a in p.curve_arms if a != "standard"):
        for name, spec in DEFINITIONS.items():
            a, b, unit, at = spec(arm, B, S)
            if name != "equal steps" and runs.get(f"{arm}@{B}", {}).get("copies", 1) == 1:
                continue  # a single-mask arm costs what standard costs per step: equal steps says it
            if a in runs and b in runs:
                comparisons.append({"definition": name, "arm": arm} | compare(runs, a, b, unit, B, at, S))
    for a, b in (("MIRROR", "MIRROR-indep"), ("P-POTS+MIRROR", "MIRROR"), ("P-POTS+MIRROR", "P-POTS")):
        if f"{a}@{B}" in runs and f"{b}@{B}" in runs:
            comparisons.append({"definition": "equal steps", "arm": f"{a} vs {b}"}
                               | compare(runs, f"{a}@{B}", f"{b}@{B}", "steps", B, S, S))
    summary = {label: {k: v for k, v in r.items() if k not in ("correct", "acc")}
               | {"acc_mean": [float(x) for x in np.mean(r["acc"], axis=0)], "acc": r["acc"]}
               for label, r in runs.items()}
    return {"n_test": parts[0]["n_test"], "thresholds": list(THRESHOLDS), "runs": summary,
            "comparisons": comparisons, "abc": parts[0]["abc"], "ppots": parts[0]["ppots"]}
