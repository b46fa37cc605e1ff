"""What decides the steps-vs-length claim (``mdm exp steps-vs-length``): thresholds and their growth.

Per (denoiser, language, sampler) and length L, from the sweep over step counts N:

* ``n_ter``: the smallest N whose samples' perplexity under the true language is within 5% of
  its floor, i.e. ``gap(N) <= floor + ln(1.05)``.  The floor is 0 for the exact oracle (an exact
  sampler's expected gap) and, for a trained model, the gap of one-token-per-step random order
  (``random`` at N = L: an exact sampler of the model's conditionals, so its own error).
  Points with fewer than :data:`MIN_VALID` valid samples have no TER and never qualify.
* ``n_ser``: the smallest N with SER <= 10%.

Both are interpolated linearly in log N between the last grid point that misses the target and
the first that meets it (``None``: never met on the grid).  Their growth with L is summarised by
the least-squares slope of log N* against log L: about 0 for "independent of L", about 1 for
"linear in L".  The claim's halves are called reproduced when, on the exact oracle with the
ancestral sampler, every length has a threshold and the TER exponent is <= 0.25 (resp. the SER
exponent is >= 0.75).
"""

from __future__ import annotations

import math
from collections import defaultdict

__all__ = [
    "MIN_VALID", "PPL_TOLERANCE", "SER_TARGET", "TER_EXPONENT_MAX", "SER_EXPONENT_MIN", "THEORY_SAMPLER",
    "TER_TOLERANCE", "analyse", "deciding", "growth_exponent", "by_curve", "steps_needed", "ter_of",
]

PPL_TOLERANCE = 0.05  # perplexity within 5% of its floor
TER_TOLERANCE = math.log1p(PPL_TOLERANCE)  # the same, as a gap in nats per token
SER_TARGET = 0.10
MIN_VALID = 20
TER_EXPONENT_MAX = 0.25
SER_EXPONENT_MIN = 0.75
THEORY_SAMPLER = "ancestral"


def steps_needed(steps, values, target: float) -> float | None:
    """The smallest N with ``value <= target`` along increasing ``steps``, interpolated linearly
    in log N from the previous grid point; ``None`` if no point meets it.  NaN never meets it."""
    prev = None
    for n, v in zip(steps, values, strict=True):
        ok = v is not None and not math.isnan(v) and v <= target
        if ok:
            if prev is None or math.isnan(prev[1]) or prev[1] <= v:
                return float(n)
            frac = (prev[1] - target) / (prev[1] - v)
            return float(math.exp(math.log(prev[0]) + frac * (math.log(n) - math.log(prev[0]))))
        prev = (n, math.nan if v is None else v)
    return None


def growth_exponent(lengths, needed) -> float | None:
    """Least-squares slope of log N* on log L (None unless every length has a threshold)."""
    if len(lengths) < 2 or any(v is None for v in needed):
        return None
    xs = [math.log(v) for v in lengths]
    ys = [math.log(v) for v in needed]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def ter_of(row) -> float:
    return row["gap"] if row["n_valid"] >= MIN_VALID else math.nan


def by_curve(rows):
    """{(denoiser, language, sampler): {L: rows sorted by N}}."""
    out: dict = defaultdict(lambda: defaultdict(list))
    for r in rows:
        out[(r["denoiser"], r["language"], r["sampler"])][r["length"]].append(r)
    return {k: {length: sorted(v, key=lambda r: r["steps"]) for length, v in sorted(d.items())}
            for k, d in out.items()}


def _floors(series) -> dict:
    """{(language, L): (TER gap, SER)} of each trained model's own distribution: one position per
    step in random order (``random`` at N = L) draws exactly from the model's conditionals, so
    what is left is the model's error, not the sampler's."""
    out = {}
    for (denoiser, lang, sampler), by_length in series.items():
        if denoiser == "model" and sampler == "random":
            for length, rs in by_length.items():
                last = [r for r in rs if r["steps"] == length]
                if last:
                    out[lang, length] = (ter_of(last[0]), last[0]["ser"])
    return out


def _curve_summary(key: tuple, by_length: dict, floors: dict) -> dict:
    denoiser, lang, _ = key
    per_length = {}
    for length, rs in by_length.items():
        steps = [r["steps"] for r in rs]
        if denoiser == "oracle":
            ter_floor, ser_floor = 0.0, 0.0  # an exact sampler's expectation
        else:  # the model's own error; the curve's last point if no random-order run
            ter_floor, ser_floor = floors.get((lang, length), (ter_of(rs[-1]), rs[-1]["ser"]))
        per_length[length] = {
            "ter_floor": ter_floor,
            "ser_floor": ser_floor,
            "n_ter": None if math.isnan(ter_floor)
            else steps_needed(steps, [ter_of(r) for r in rs], ter_floor + TER_TOLERANCE),
            "n_ser": steps_needed(steps, [r["ser"] for r in rs], SER_TARGET),
            "max_steps": steps[-1],
        }
    lengths = list(per_length)
    return {
        "per_length": per_length,
        "ter_exponent": growth_exponent(lengths, [per_length[n]["n_ter"] for n in lengths]),
        "ser_exponent": growth_exponent(lengths, [per_length[n]["n_ser"] for n in lengths]),
    }


def _verdict(curves: dict, languages, metric: str) -> dict:
    """Reproduced / not / undetermined for one half, from the oracle's ancestral curves."""
    decided = {}
    for name in languages:
        c = curves.get(f"oracle/{name}/{THEORY_SAMPLER}")
        if c is None:
            continue
        e = c[f"{metric}_exponent"]
        if e is None:
            decided[name] = {"exponent": None, "verdict": "undetermined (a threshold was not reached)"}
        else:
            ok = e <= TER_EXPONENT_MAX if metric == "ter" else e >= SER_EXPONENT_MIN
            decided[name] = {"exponent": e, "verdict": "reproduced" if ok else "not reproduced"}
    verdicts = {d["verdict"] for d in decided.values()}
    if verdicts == {"reproduced"}:
        overall = "reproduced"
    else:
        overall = "not reproduced" if "not reproduced" in verdicts else "undetermined"
    return {"languages": decided, "overall": overall if decided else "undetermined"}


def deciding(roles: dict, metric: str) -> list[str]:
    """The languages whose ``metric`` ("ter" or "ser") is meaningful: a full-support language has
    no SER; a sparse n-gram's TER (over valid samples only) just tracks where valid samples
    first appear, so only the languages given that role decide it."""
    return [name for name, role in roles.items() if role in (metric, "both")]


def analyse(rows: list[dict], preset) -> dict:
    """Thresholds per curve, their growth exponents and the verdict on each half of the claim."""
    series = by_curve(rows)
    floors = _floors(series)
    curves = {"/".join(k): _curve_summary(k, v, floors) for k, v in series.items()}
    roles = {ls.name: ls.role for ls in preset.languages}
    return {
        "roles": roles,
        "definitions": {
            "ppl_tolerance": PPL_TOLERANCE, "ter_tolerance_nats": TER_TOLERANCE,
            "ser_target": SER_TARGET, "min_valid": MIN_VALID, "ter_exponent_max": TER_EXPONENT_MAX,
            "ser_exponent_min": SER_EXPONENT_MIN, "theory_sampler": THEORY_SAMPLER,
        },
        "curves": curves,
        "ter_half": _verdict(curves, deciding(roles, "ter"), "ter"),
        "ser_half": _verdict(curves, deciding(roles, "ser"), "ser"),
    }
