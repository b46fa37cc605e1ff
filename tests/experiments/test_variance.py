"""`mdm exp variance`: the quick preset end to end through the registry."""

import json
from collections import Counter
from dataclasses import replace

import pytest
import torch

from mdm import experiments
from mdm.experiments.variance.arms import ARMS
from mdm.tasks.arithmetic import ArithmeticConfig, Problem, make_splits, make_valid


@pytest.mark.slow
def test_quick_preset_runs_end_to_end(tmp_path):
    threads = torch.get_num_threads()
    result = experiments.run("variance", "quick", tmp_path, seed=0)
    assert torch.get_num_threads() == threads
    for name in ("result.json", "report.md", "abc.png", "accuracy.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk["preset"] == "quick" and on_disk["provenance"]["seed"] == 0
    assert list(result["arms"]) == [a.name for a in ARMS]
    seeds = experiments.get("variance").presets["quick"].seeds
    for arm in [*result["arms"].values(), result["ar"]]:
        assert len(arm["runs"]) == seeds
        for split in ("test", "valid"):
            for key in ("equal_steps", "equal_compute"):
                s = arm[split][key]
                assert 0 <= s["min"] <= s["mean"] <= s["max"] <= 1 and len(s["per_seed"]) == seeds
                assert s["min"] <= s["ci"][0] <= s["mean"] <= s["ci"][1] <= s["max"]  # bootstrap over seeds
            by, counts = arm[split]["equal_steps_by_digits"], result["splits"][split]["digits"]
            assert set(by) == set(counts)  # the by-digits means recombine into the overall mean
            assert sum(by[k] * counts[k] for k in by) / sum(counts.values()) == pytest.approx(
                arm[split]["equal_steps"]["mean"])
    for arm in result["arms"].values():
        assert arm["loss_var"] > 0 and arm["grad_norm_var"] >= 0 and arm["estimator_var_init"] >= 0
        assert set(arm["end_abc"]) == {"A", "B", "C", "total"}
    assert result["ar"]["init_C"] > 0 and len(result["ar"]["runs"]) == seeds
    assert result["ppots"]["params"] is not None
    # the held-out test split is disjoint from train and from the validation split the probes saw,
    # and fixing the splits left train and validation as they were for the seed
    preset = experiments.get("variance").presets["quick"]
    cfg = ArithmeticConfig(max_digits=2, ops=("+",), n_train=preset.n_train, n_test=preset.n_valid, seed=0,
                           reverse=True)
    train, valid = make_splits(cfg)
    test = make_valid(replace(cfg, n_valid=preset.n_test), train, valid)
    seen = {q for p in (*train, *valid) for q in (p, Problem(p.b, p.op, p.a))}
    assert len(test) == preset.n_test and not seen & set(test)
    sizes = {k: v["n"] for k, v in result["splits"].items()}
    assert sizes == {"test": preset.n_test, "valid": preset.n_valid}
    digits = Counter(f"{len(str(p.a))}+{len(str(p.b))}" for p in test)
    assert result["splits"]["test"]["digits"] == dict(digits)  # the experiment scored this split
    # each arm minus standard, paired on seeds and problems: the point is the difference of the means
    std = result["arms"]["standard"]
    assert "vs_standard" not in std
    for arm in [*(a for n, a in result["arms"].items() if n != "standard"), result["ar"]]:
        for split in ("test", "valid"):
            d = arm["vs_standard"][split]["equal_steps"]
            mean = arm[split]["equal_steps"]["mean"]
            assert d["diff"] == pytest.approx(mean - std[split]["equal_steps"]["mean"])
            assert d["ci"][0] <= d["diff"] <= d["ci"][1] and 0 <= d["p"] <= 1
    mirror = result["arms"]["MIRROR"]["vs_standard"]["test"]["equal_compute"]
    assert mirror["diff"] == pytest.approx(result["arms"]["MIRROR"]["test"]["equal_compute"]["mean"]
                                           - std["test"]["equal_steps"]["mean"])
    assert "correct" not in result and (tmp_path / "parts" / "mdm" / "seed-0.json").is_file()
    report = (tmp_path / "report.md").read_text()
    assert "minus standard, paired" in report and "![A, B, C](abc.png)" in report
    assert "P-POTS+MIRROR" in report and "AR (C only)" in report
    assert "valid acc % equal steps" in report and "held-out test" in report and "by operand digits" in report


@pytest.mark.parametrize("name, per_run", [("variance", 5), ("learned-order", 5), ("any-process", 1)])
def test_evidence_boxes_count_the_training_seeds_inside_a_run(name, per_run):
    """variance trains each arm with `seeds` seeds and learned-order each model with `planted_seeds`
    inside one run: the evidence box counts those, times the seeds the runner ran."""
    from mdm.experiments import evidence_box

    assert f"Evidence: {per_run} training seed" in evidence_box(name, "full")
    assert f"Evidence: {3 * per_run} training seeds" in evidence_box(name, "full", seeds=3)


def test_runner_seeds_never_share_an_sft_seed():
    """Seed 0 keeps the preset's SFT seeds (the published numbers); seeds 0-9 of the runner share none."""
    from mdm.experiments.variance.parts import _sft_seeds

    p = experiments.get("variance").presets["full"]
    assert list(_sft_seeds(p, 0)) == list(range(p.seeds))
    used = [s for seed in range(10) for s in _sft_seeds(p, seed)]
    assert len(used) == len(set(used)) == 10 * p.seeds


@pytest.mark.slow
def test_quick_curves_repeat_the_mdm_part_and_report_every_definition(tmp_path):
    """The learning-curve parts reuse the mdm part's pretrained model, P-POTS fit, data order and noise:
    at the mdm part's last step their first seeds score what that part's runs scored, problem for problem."""
    result = experiments.run("variance", "quick", tmp_path, seed=0)
    p = experiments.get("variance").presets["quick"]
    curves = result["curves"]
    for arm in p.curve_arms:
        mdm_runs, run = result["arms"][arm]["runs"], curves["runs"][f"{arm}@{p.sft_batch}"]
        last = run["steps"].index(p.sft_steps)
        got = [acc[last] for acc in run["acc"][:len(mdm_runs)]]
        assert got == [r["test_acc_full"] for r in mdm_runs]
        # one budget of forward passes for every run: 2 * curve_steps batches of sft_batch rows
        assert run["steps"][-1] * run["copies"] == 2 * p.curve_steps
    assert set(curves["runs"]) == {f"{a}@{p.sft_batch}" for a in p.curve_arms} | {
        f"{a}@{p.sft_batch // 2}" for a in p.half_batch_arms} | {f"standard@{2 * p.sft_batch}"}
    defs = {(c["arm"], c["definition"]) for c in curves["comparisons"]}
    for arm in p.half_batch_arms:
        assert {(arm, d) for d in ("equal steps", "half the steps", "half the batch",
                                   "double batch for standard")} <= defs
    assert ("P-POTS", "half the batch") not in defs  # one mask per row: equal steps already is equal compute
    long = result["long"]
    assert long["task"]["answer_tokens"] >= 32
    for key in ("pretrained", "after_sft"):
        f = long[key]["ppots"]
        assert f["kl"] >= 0 and len(f["target_density"]) == len(f["fitted_density"]) == p.ppots_grid
        assert sum(f["target_density"]) / p.ppots_grid == pytest.approx(1.0)
    for name in ("curves.png", "ppots_fit.png"):
        assert (tmp_path / name).stat().st_size > 0
    report = (tmp_path / "report.md").read_text()
    assert "double batch for standard" in report and "sorting 32 digits" in report
