"""`mdm exp energy-schedules`: the quick preset end to end, and the pieces it is made of."""

import json
import math

import pytest
import torch

from mdm import experiments
from mdm.errors import ConfigError
from mdm.experiments import energy_schedules as exp
from mdm.experiments.energy_schedules import calibration
from mdm.experiments.energy_schedules.presets import CalibrationSetup
from mdm.languages import parse_language_spec


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("energy-quick")
    threads = torch.get_num_threads()
    result = experiments.run("energy-schedules", "quick", out, seed=0)
    assert torch.get_num_threads() == threads  # the single-thread section is restored
    return out, result


def test_quick_preset_runs_end_to_end(quick):
    out, result = quick
    for name in ("result.json", "report.md", "toy_A.png", "toy_B.png", "sweep_ngram-exact.png",
                 "sweep_ngram-trained.png", "tune_ngram-exact_random.png"):
        assert (out / name).stat().st_size > 0, name
    on_disk = json.loads((out / "result.json").read_text())
    assert on_disk["preset"] == "quick" and on_disk["provenance"]["seed"] == 0
    report = (out / "report.md").read_text()
    assert "Exact toy" in report and "Exact languages" in report and "Model trained here" in report
    for png in sorted(out.glob("*.png")):  # the report shows every plot the run drew
        assert f"]({png.name})" in report, png.name

    # toy: the closed-form reference values
    toy_a = result["toy"]["targets"]["A"]["reference"]["scheduled/random"]
    assert toy_a["linear=Beta(0.5,0.5)"]["kl"] == pytest.approx(math.log(2))
    assert toy_a["sin2=Beta(1,1)"]["kl"] == pytest.approx(0.0, abs=1e-12)

    # every (order, schedule, N) measured once, metrics in range, a tuned schedule per order
    preset = exp.PRESETS["quick"]
    for part in (*result["languages"].values(), *result["trained"].values()):
        rows = part["rows"]
        assert len(rows) == len(preset.orders) * (len(exp.FIXED_SCHEDULES) + 1) * len(preset.steps)
        assert all(0.0 <= r["ser"] <= 1.0 and r["n"] == preset.samples for r in rows)
        assert set(part["tuned"]) == set(preset.orders)
        assert {"gap", "ser"} <= set(part["claim"])
    # with the exact oracle, more steps mean fewer impossible sequences
    lin = {r["steps"]: r["ser"] for r in result["languages"][exp.NGRAM]["rows"]
           if r["order"] == "random" and r["schedule"] == "linear"}
    assert lin[16] < lin[4]


def test_convex_vs_linear_counts_wins_and_direction():
    rows = [{"order": "random", "schedule": s, "steps": n, "ser": v}
            for s, vals in {"linear": (0.5, 0.3, 0.1), "Beta(0.9,0.3)": (0.4, 0.35, 0.1),
                            "tuned": (0.5, 0.3, 0.1)}.items()
            for n, v in zip((4, 8, 32), vals)]
    c = exp.convex_vs_linear(rows, "ser", max_steps=16)
    assert c["random/Beta(0.9,0.3)"]["wins"] == 1 and c["random/Beta(0.9,0.3)"]["of"] == 2
    assert c["random/Beta(0.9,0.3)"]["mean_improvement"] == pytest.approx((0.1 - 0.05) / 2)
    assert c["random/tuned"]["ties"] == 2
    acc = exp.convex_vs_linear([{**r, "accuracy": r["ser"]} for r in rows], "accuracy", higher_is_better=True)
    assert acc["random/Beta(0.9,0.3)"]["mean_improvement"] == pytest.approx(-(0.1 - 0.05) / 2)


def test_padded_language_reports_what_each_schedule_reveals_first(quick):
    """The exact padded HMM (end-of-text tokens) gets the reveal counts; the n-gram has none."""
    _, result = quick
    padded = result["languages"][exp.PADDED_HMM.spec]["rows"]
    assert all(0.0 <= r["end_of_text_first_half"] <= r["revealed_first_half"] for r in padded)
    lin = next(r for r in padded if r["label"] == "linear" and r["order"] == "confidence" and r["steps"] == 4)
    assert lin["revealed_first_half"] == 16.0  # linear reveals half of the 32 positions in 2 of 4 steps
    assert all("end_of_text_first_half" not in r for r in result["languages"][exp.NGRAM]["rows"])


def test_parts_select_what_runs(tmp_path):
    """`--parts`: the quick preset's parts are listed; one part runs alone; a bad name fails first."""
    assert experiments.parts("energy-schedules", "quick") == (
        "toy", "languages", "trained", "calibration", "calibration-trained")
    # every part in both presets
    assert experiments.parts("energy-schedules", "full") == experiments.parts("energy-schedules", "quick")
    result = experiments.run("energy-schedules", "quick", tmp_path / "toy", parts=("toy",))
    assert result["parts"] == ["toy"] and result["toy"] and not result["languages"]
    assert result["calibration"] == {}
    assert result["provenance"]["command"].endswith("--parts toy")
    assert "## 1. Exact toy" in (tmp_path / "toy" / "report.md").read_text()
    with pytest.raises(ConfigError, match="unknown part"):
        experiments.run("energy-schedules", "quick", tmp_path / "bad", parts=("toy", "nope"))
    assert not (tmp_path / "bad").exists()


def test_quick_calibration_map_is_consistent(quick):
    """Every (blocks, temperature, factor, N, schedule) once; each Beta's paired difference is its
    pass@1 minus linear's, and its sign says whether the CI excludes 0."""
    out, result = quick
    for index, name in enumerate(("calibration", "calibration-trained")):
        setup, part = exp.PRESETS["quick"].calibration[index], result["calibration"][name]
        rows = part["rows"]
        cells = len(setup.blocks) * len(setup.temperatures) * len(setup.factors) * len(setup.steps)
        assert len(rows) == cells * len(setup.schedules)
        by = {(r["blocks"], r["temperature"], r["factor"], r["steps"], r["schedule"]): r for r in rows}
        for r in rows:
            assert 0.0 <= r["pass"] <= 1.0 and r["pass_ci"][0] <= r["pass"] <= r["pass_ci"][1]
            assert 0.0 <= r["answer_tokens"] <= setup.length
            if r["schedule"] == "linear":
                assert "vs_linear" not in r
                continue
            lin = by[r["blocks"], r["temperature"], r["factor"], r["steps"], "linear"]
            assert r["vs_linear"] == pytest.approx(r["pass"] - lin["pass"], abs=1e-12)
            lo, hi = r["vs_linear_ci"]
            assert r["sign"] == ("+" if lo > 0 else "-" if hi < 0 else "0")
        assert f"## {name}: convex Beta vs linear" in (out / "report.md").read_text()
    assert len(result["calibration"]["calibration-trained"]["train"]) == 2  # two training seeds


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_calibration_sweep_pairs_every_schedule_on_the_same_draws(temperature):
    """Beta(0.5, 0.5) is linear (the paper), so against linear it differs by exactly 0 in every
    instance when both see the same prompts and random numbers, also for a miscalibrated oracle."""
    language = parse_language_spec(exp.PADDED_HMM.spec)
    setup = CalibrationSetup("t", exp.PADDED_HMM.spec, length=8, prompt_len=2, instances=32, blocks=(2,),
                             temperatures=(temperature,), factors=(0.25,), steps=(4,),
                             schedules=("linear", "beta:0.5,0.5"))
    prompts = calibration.draw_prompts(language, 32, 2, seed=3)
    assert not torch.isin(prompts, torch.tensor(language.end_tokens)).any()
    rows = calibration.sweep(language, [language.denoiser()], setup, prompts, seed=0)
    assert rows[1]["vs_linear"] == 0.0 and rows[1]["vs_linear_ci"] == [0.0, 0.0] and rows[1]["sign"] == "0"


def test_calibration_answer_length_counts_tokens_before_end_of_text():
    """End-of-text damped by 1e-9 is never drawn: every answer fills the whole length."""
    language = parse_language_spec(exp.PADDED_HMM.spec)
    setup = CalibrationSetup("t", exp.PADDED_HMM.spec, length=8, prompt_len=2, instances=16, blocks=(1,),
                             temperatures=(1.0,), factors=(1e-9, 1.0), steps=(8,), schedules=("linear",))
    prompts = calibration.draw_prompts(language, 16, 2, seed=0)
    rows = calibration.sweep(language, [language.denoiser()], setup, prompts, seed=0)
    assert rows[0]["answer_tokens"] == 8.0 and rows[1]["answer_tokens"] < 8.0
