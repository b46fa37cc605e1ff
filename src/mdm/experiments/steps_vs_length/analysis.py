"""What decides the claim: N* per curve and length, its growth in L, the verdict on each half.

Per (denoiser, language, sampler) and L, from a sweep over N: ``n_ter`` = the fewest N whose
perplexity is within 5% of its floor (gap <= floor + ln 1.05; floor 0 for the exact oracle, for a
trained model its own gap at one token per step in random order, an exact sampler of its
conditionals; points with fewer than :data:`MIN_VALID` valid samples never qualify), ``n_ser`` =
the fewest N with SER <= 10%, both by :func:`mdm.eval.scaling.steps_needed`; the exponent is the
slope of log N* on log L (:func:`mdm.eval.scaling.loglog_slope`).  A half is reproduced when the
oracle's ancestral curves of the languages deciding it have exponent <= 0.25 (TER), >= 0.75 (SER);
with the scaling part, when the exponent's 95% CI over seeds is below 0.25 (resp. above 0.75) at
every n-gram order.
"""

from __future__ import annotations

import math
from collections import defaultdict

from mdm.eval.scaling import loglog_slope, steps_needed

__all__ = ["SER_TARGET", "TER_TOLERANCE", "analyse", "by_curve", "deciding", "scaling_verdict", "ter_of"]

PPL_TOLERANCE = 0.05
TER_TOLERANCE = math.log1p(PPL_TOLERANCE)  # perplexity within 5%, as a gap in nats per token
SER_TARGET = 0.10
MIN_VALID = 20
BOUNDS = {"ter": 0.25, "ser": 0.75}  # TER exponent at most, SER exponent at least
THEORY_SAMPLER = "ancestral"


def ter_of(row) -> float:
    return row["gap"] if row["n_valid"] >= MIN_VALID else math.nan


def by_curve(rows):
    """{(denoiser, language, sampler): {L: rows sorted by N}}."""
    out: dict = defaultdict(lambda: defaultdict(list))
    for r in rows:
        out[(r["denoiser"], r["language"], r["sampler"])][r["length"]].append(r)
    return {k: {length: sorted(v, key=lambda r: r["steps"]) for length, v in sorted(d.items())}
            for k, d in out.items()}


def deciding(roles: dict, metric: str) -> list[str]:
    """The languages whose ``metric`` means something: a full-support language has no SER; a sparse
    n-gram's TER (valid samples only) just tracks where valid samples first appear."""
    return [name for name, role in roles.items() if role in (metric, "both")]


def _curve(key: tuple, by_length: dict, series: dict) -> dict:
    denoiser, lang, _ = key
    per_length = {}
    for length, rs in by_length.items():
        steps = [r["steps"] for r in rs]
        own = [r for r in series.get((denoiser, lang, "random"), {}).get(length, []) if r["steps"] == length]
        if denoiser == "oracle":
            floors = 0.0, 0.0  # an exact sampler's expectation
        else:  # the model's own error; the curve's last point if no random-order run
            floors = (ter_of(own[0]), own[0]["ser"]) if own else (ter_of(rs[-1]), rs[-1]["ser"])
        per_length[length] = {
            "ter_floor": floors[0], "ser_floor": floors[1],
            "n_ter": None if math.isnan(floors[0])
            else steps_needed(steps, [ter_of(r) for r in rs], floors[0] + TER_TOLERANCE),
            "n_ser": steps_needed(steps, [r["ser"] for r in rs], SER_TARGET), "max_steps": steps[-1]}
    lengths = list(per_length)
    return {"per_length": per_length,
            **{f"{m}_exponent": loglog_slope(lengths, [per_length[n][f"n_{m}"] for n in lengths])
               for m in ("ter", "ser")}}


def _verdict(curves: dict, languages, metric: str) -> dict:
    decided = {}
    for name in languages:
        if (c := curves.get(f"oracle/{name}/{THEORY_SAMPLER}")) is not None:
            e = c[f"{metric}_exponent"]
            ok = e is not None and (e <= BOUNDS[metric] if metric == "ter" else e >= BOUNDS[metric])
            decided[name] = {"exponent": e, "verdict": "undetermined (a threshold was not reached)"
                             if e is None else "reproduced" if ok else "not reproduced"}
    verdicts = {d["verdict"] for d in decided.values()}
    overall = "reproduced" if verdicts == {"reproduced"} else (
        "not reproduced" if "not reproduced" in verdicts else "undetermined")
    return {"languages": decided, "overall": overall}


def scaling_verdict(scaling: dict, metric: str) -> str:
    """Reproduced when every order's 95% CI of the exponent is on the claim's side of its bound, not
    reproduced when one lies wholly on the other side, else undetermined.  SER: over the instances
    where parallel draws can break a sequence (``invalid_window_mass`` > 0), if any."""
    sides = []
    for s in scaling.values():
        x, bound = s["summary"][metric], BOUNDS[metric]
        e = x["exponent"] if metric == "ter" else x.get("exponent_where_breakable") or x["exponent"]
        if metric == "ter":
            yes, no = e["hi"] <= bound, e["lo"] > bound
        else:
            yes, no = e["lo"] >= bound, e["hi"] < bound
        sides.append("yes" if yes else "no" if no else "?")
    return ("reproduced" if sides and set(sides) == {"yes"} else "not reproduced" if "no" in sides
            else "undetermined (a CI spans the bound)")


def analyse(rows: list[dict], preset) -> dict:
    """Thresholds per curve, their growth exponents and the verdict on each half of the claim."""
    series = by_curve(rows)
    curves = {"/".join(k): _curve(k, v, series) for k, v in series.items()}
    roles = {ls.name: ls.role for ls in preset.languages}
    definitions = {"ppl_tolerance": PPL_TOLERANCE, "ter_tolerance_nats": TER_TOLERANCE,
                   "ser_target": SER_TARGET, "min_valid": MIN_VALID, "ter_exponent_max": BOUNDS["ter"],
                   "ser_exponent_min": BOUNDS["ser"], "theory_sampler": THEORY_SAMPLER}
    return {"roles": roles, "definitions": definitions, "curves": curves,
            **{f"{m}_half": _verdict(curves, deciding(roles, m), m) for m in ("ter", "ser")}}
