"""Steps and forward passes to a threshold for ``mdm exp variance``: censoring, pairing and the three
equal-compute definitions, on hand-made curves with known crossings."""

from dataclasses import replace

import pytest

from mdm.experiments.variance.presets import PRESETS
from mdm.experiments.variance.threshold import run_costs, summarize_curves


def test_run_costs_interpolates_and_censors():
    steps = [0, 50, 100]
    out = run_costs(steps, [[0.1, 0.3, 0.7], [0.0, 0.6, 0.9], [0.0, 0.1, 0.2]], batch=16, copies=2,
                    base_batch=32)
    half = out["0.5"]
    assert half["per_seed_steps"] == [75.0, pytest.approx(50 * 0.5 / 0.6), "inf"] and half["n_censored"] == 1
    assert half["steps"]["median"] == 75.0 and half["passes"]["median"] == 75.0  # 16 rows x 2 masks = 32
    assert out["0.8"]["per_seed_steps"] == ["inf", pytest.approx(50 + 50 * 0.2 / 0.3), "inf"]
    assert out["0.8"]["steps"]["median"] == "inf"  # 2 of 3 censored: the median is beyond the budget


def _curve(cross: float, steps):
    """Accuracy rising linearly from 0 to 1 at step 2 * cross: crosses 0.5 at ``cross`` exactly."""
    return [min(1.0, s / (2 * cross)) for s in steps]


def test_the_three_equal_compute_definitions_pair_the_right_runs():
    p = replace(PRESETS["quick"], sft_batch=16, sft_steps=100, curve_seeds=3,
                curve_arms=("standard", "MIRROR"), half_batch_arms=("MIRROR",))
    steps = list(range(0, 401, 10))
    crossing = {"standard@16": 80, "MIRROR@16": 50, "MIRROR@8": 90, "standard@32": 40}
    correct = {"50": [[1, 0]] * 3, "100": [[1, 1]] * 3}

    def part(labels):
        return {"steps": steps, "n_test": 2, "abc": {}, "ppots": {},
                "runs": {lab: {"arm": lab.split("@")[0], "batch": int(lab.split("@")[1]),
                               "copies": 2 if lab.startswith("MIRROR") else 1,
                               "acc": [_curve(crossing[lab], steps)] * 3, "correct": correct,
                               "wall_s": [0.0] * 3}
                         for lab in labels}}

    res = summarize_curves(p, {"curves": part(["standard@16", "MIRROR@16"]), "half-batch": part(["MIRROR@8"]),
                               "double-batch": part(["standard@32"])})
    # the same runs cut into seed chunks (as separate parts, listed out of order) give the same result
    chunked = {}
    for kind, labels in (("curves", ["standard@16", "MIRROR@16"]), ("half-batch", ["MIRROR@8"]),
                         ("double-batch", ["standard@32"])):
        whole = part(labels)
        for i, seeds in ((2, [2]), (1, [0, 1])):
            chunk = {**whole, "seeds": seeds,
                     "runs": {lab: {**r, "acc": [r["acc"][k] for k in seeds], "wall_s": [0.0] * len(seeds),
                                    "correct": {st: [v[k] for k in seeds] for st, v in r["correct"].items()}}
                              for lab, r in whole["runs"].items()}}
            chunked[f"{kind}-{i}"] = chunk
    again = summarize_curves(p, chunked)
    assert again["comparisons"] == res["comparisons"]
    assert again["runs"]["MIRROR@16"]["seeds"] == [0, 1, 2]
    by = {c["definition"]: c for c in res["comparisons"] if c["arm"] == "MIRROR"}
    ratio = {k: by[k]["thresholds"]["0.5"]["ratio"] for k in by}
    assert ratio["equal steps"] == pytest.approx(50 / 80)  # steps
    assert ratio["half the steps"] == pytest.approx(100 / 80)  # a MIRROR step is two passes
    assert ratio["half the batch"] == pytest.approx(90 / 80)  # 8 rows x 2 masks = standard's 16 rows
    assert ratio["double batch for standard"] == pytest.approx(100 / 80)  # MIRROR@16 vs standard@32: passes
    at = by["half the steps"]["at_step"]
    assert at["step_a"] == 50 and at["step_b"] == 100
    assert by["half the steps"]["at_step"]["diff"] == pytest.approx(-0.5)
    assert res["runs"]["MIRROR@16"]["to_threshold"]["0.5"]["passes"]["median"] == pytest.approx(100)


def test_a_comparison_censors_at_the_common_horizon():
    # standard measured to 100 passes, MIRROR (two passes a step) to 400 passes: MIRROR's crossing at
    # 150 passes lies beyond standard's horizon, where standard is unobserved -- censored for both
    p = replace(PRESETS["quick"], sft_batch=16, sft_steps=40, curve_seeds=2,
                curve_arms=("standard", "MIRROR"), half_batch_arms=())

    def run(arm, copies, steps, cross):
        return {"arm": arm, "batch": 16, "copies": copies, "steps": steps, "wall_s": [0.0] * 2,
                "acc": [_curve(cross, steps)] * 2, "correct": {}}
    res = summarize_curves(p, {"curves": {"n_test": 1, "abc": {}, "ppots": {}, "runs": {
        "standard@16": run("standard", 1, list(range(0, 101, 10)), 500),
        "MIRROR@16": run("MIRROR", 2, list(range(0, 201, 10)), 75)}}})
    by = {c["definition"]: c for c in res["comparisons"]}
    half = by["half the steps"]
    assert half["horizon"] == 100 and half["thresholds"]["0.5"]["n_both_censored"] == 2
    eq = by["equal steps"]  # in steps: MIRROR crosses at 75 <= 100, standard never: MIRROR faster
    assert eq["horizon"] == 100 and eq["thresholds"]["0.5"]["a_faster"] == 2
    # its ratio is -inf (only the standard arm censored): written for JSON as the string "-inf"
    assert eq["thresholds"]["0.5"]["median_log2_ratio"] == "-inf" and eq["thresholds"]["0.5"]["ratio"] == 0.0
    assert eq["thresholds"]["0.5"]["ci"] == ["-inf", "-inf"]
