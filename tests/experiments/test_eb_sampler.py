"""`mdm exp eb-sampler`: the quick preset end to end, the equal-accuracy rule, the sampler grid and the
EB-vs-Threshold analysis on hand-made sweeps (decoding itself: tests/eval/test_verified.py)."""

import json
import math

import pytest
import torch

from mdm import experiments
from mdm.errors import ConfigError
from mdm.experiments import eb_sampler
from mdm.experiments.eb_sampler import frontier, parts, presets, selection
from mdm.experiments.training import task_model
from mdm.tasks.base import build_task
from mdm.train import load_config


def _row(family, label, acc, nfe, block=None, correct=None):
    return {"family": family, "label": label, "block_size": block, "accuracy": acc, "nfe_mean": nfe,
            **({"correct": torch.tensor(correct, dtype=torch.bool)} if correct is not None else {})}


def test_speedup_picks_cheapest_setting_within_half_a_point():
    rows = [_row("top-k", "k=1", 0.900, 89.0, correct=[1, 1, 1, 0]),
            _row("top-k", "k=2", 0.850, 45.0),
            _row("EB (entropy)", "gamma=0.1", 0.897, 20.0, correct=[1, 1, 0, 1]),  # within 0.5 pt
            _row("EB (entropy)", "gamma=1", 0.890, 10.0),  # 1 pt worse: not equal accuracy
            _row("EB (margin)", "gamma=0.01", 0.905, 30.0),
            _row("EB (entropy)", "gamma=0.1", 0.95, 5.0, block=4)]  # other block size: ignored
    s = selection.speedup(rows, "EB")
    assert s["best"]["label"] == "gamma=0.1" and s["speedup"] == pytest.approx(89 / 20)
    assert s["accuracy_diff"] == 0.0 and s["accuracy_diff_se"] == pytest.approx(math.sqrt(2 / 3) / 2)
    assert selection.speedup(rows, "EB (margin)")["speedup"] == pytest.approx(89 / 30)
    assert selection.speedup(rows, "top-k")["best"] is None  # k=2 loses 5 points
    assert selection.speedup(rows, "EB", block_size=2) is None  # no top-1 reference with blocks of 2


def test_speedup_compares_within_one_stop_rule_setting():
    """Rows decoded without the stop rule (every position costs a pass) never serve as the
    reference or the candidate for rows with it, and vice versa."""
    rows = [_row("top-k", "k=1", 0.90, 8.0, correct=[1, 1, 0, 0]),
            _row("EB (margin)", "gamma=0.1", 0.90, 4.0),
            {**_row("top-k", "k=1", 0.90, 32.0), "stop": False},
            {**_row("EB (margin)", "gamma=0.1", 0.90, 2.0), "stop": False},
            {**_row("EB (margin)", "gamma=1", 0.80, 1.0), "stop": False}]
    on, off = selection.speedup(rows, "EB"), selection.speedup(rows, "EB", stop=False)
    assert on["reference"]["nfe_mean"] == 8.0 and on["speedup"] == pytest.approx(2.0) and on["stop"]
    assert off["reference"]["nfe_mean"] == 32.0 and off["speedup"] == pytest.approx(16.0) and not off["stop"]


def test_sampler_specs_sweep_each_stop_rule_setting_and_task_grid():
    grid = presets.SamplerGrid(topk=(1, 2), gammas=(0.1,), proxies=("margin",), taus=(0.9,))
    task = presets.TaskSetup("a", "arithmetic-padded", blocks=(None, 8), scheduled_steps=(8,),
                         stop_rule=(True, False))
    specs = parts.sampler_specs(presets.SamplerGrid(), task, answer_len=32)
    assert len(specs) == 2 * len(parts.sampler_specs(presets.SamplerGrid(), presets.TaskSetup(
        "a", "arithmetic-padded", blocks=(None, 8), scheduled_steps=(8,)), answer_len=32))
    own_task = presets.TaskSetup("a", "arithmetic-padded", scheduled_steps=(8,), stop_rule=(False,),
                                 grid=grid)
    own = parts.sampler_specs(presets.SamplerGrid(), own_task, answer_len=32)
    assert [s.label for s in own] == ["k=1", "k=2", "gamma=0.1", "tau=0.9", "steps=8"]
    assert all(not s.stop and s.curve.endswith(", no stop rule") for s in own)
    assert {s.stop for s in specs} == {True, False}


def test_sampler_specs_cover_the_grid_and_reject_bad_blocks():
    grid = presets.SamplerGrid(topk=(1, 2), gammas=(0.1, 1.0), proxies=("confidence", "entropy"), taus=(0.9,))
    task = presets.TaskSetup("arithmetic", "arithmetic-small", blocks=(None, 4), scheduled_steps=(2, 4, 8))
    specs = parts.sampler_specs(grid, task, answer_len=8)
    per_block = 2 + 2 * 2 + 1
    assert len([s for s in specs if s.block_size is None]) == per_block + 3
    # blocks of 4 (2 blocks): Scheduled(2), (4), (8) -> 1, 2, 4 steps per block, all valid
    assert len([s for s in specs if s.block_size == 4]) == per_block + 3
    assert {s.curve for s in specs} >= {"EB (entropy)", "EB (entropy), blocks of 4", "top-k, blocks of 4"}
    with pytest.raises(ConfigError):
        parts.sampler_specs(grid, presets.TaskSetup("a", "arithmetic-small", blocks=(3,)), answer_len=8)


def test_other_gammas_give_the_first_proxy_the_fine_grid_and_the_rest_the_coarse_one():
    grid = presets.SamplerGrid(topk=(), gammas=(0.003, 0.01, 0.1), other_gammas=(0.05,),
                               proxies=("confidence", "entropy", "margin"), taus=())
    task = presets.TaskSetup("s", "sudoku-hard", scheduled_steps=(), grid=grid)
    labels = [(s.family, s.label) for s in parts.sampler_specs(grid, task, answer_len=8)]
    assert labels == [("EB (confidence)", "gamma=0.003"), ("EB (confidence)", "gamma=0.01"),
                      ("EB (confidence)", "gamma=0.1"), ("EB (entropy)", "gamma=0.05"),
                      ("EB (margin)", "gamma=0.05")]
    assert presets.SamplerGrid(gammas=(0.1,)).gammas_of("margin") == (0.1,)  # unset: one grid for all


def test_speedup_chooses_on_validation_and_reports_on_test():
    """On validation gamma=1 is the cheapest within 0.5 pt; on test it lost 2 points and gamma=0.1
    would be the in-sample pick.  The chosen setting stays gamma=1, with its test numbers."""
    valid = [_row("top-k", "k=1", 0.90, 89.0, correct=[1, 1, 0, 0]),
             _row("EB (entropy)", "gamma=0.1", 0.90, 20.0, correct=[1, 1, 0, 0]),
             _row("EB (entropy)", "gamma=1", 0.898, 10.0, correct=[1, 0, 1, 0])]
    test = [_row("top-k", "k=1", 0.80, 88.0, correct=[1, 1, 1, 1]),
            _row("EB (entropy)", "gamma=0.1", 0.80, 22.0, correct=[1, 1, 1, 1]),
            _row("EB (entropy)", "gamma=1", 0.78, 11.0, correct=[1, 1, 1, 0])]
    s = selection.speedup(valid, "EB", test_rows=test)
    assert s["chosen_on"] == "validation" and s["best"]["label"] == "gamma=1"
    assert s["best"]["accuracy"] == 0.78 and s["reference"]["nfe_mean"] == 88.0
    assert s["speedup"] == pytest.approx(88 / 11) and s["accuracy_diff"] == pytest.approx(-0.25)
    assert s["validation"]["best"]["accuracy"] == 0.898 and s["validation"]["speedup"] == pytest.approx(8.9)
    assert selection.speedup(test, "EB")["best"]["label"] == "gamma=0.1"  # what in-sample choice would take
    none = selection.speedup(valid, "top-k", test_rows=test)  # no top-k setting besides k=1
    assert none["best"] is None and none["reference"]["accuracy"] == 0.80


def test_quick_preset_runs_end_to_end(eb_quick):
    out, result = eb_quick
    for name in ("result.json", "report.md", "sudoku.png", "arithmetic.png", "bound.png"):
        assert (out / name).stat().st_size > 0, name
    on_disk = json.loads((out / "result.json").read_text())
    assert on_disk["preset"] == "quick" and on_disk["provenance"]["seed"] == 0
    grid = presets.PRESETS["quick"].grid
    for name, part in result["tasks"].items():
        families = {r["family"] for r in part["rows"]}
        assert families == {"top-k", "threshold", "scheduled"} | {f"EB ({p})" for p in grid.proxies}, name
        assert all(0.0 <= r["accuracy"] <= 1.0 and 1.0 <= r["nfe_mean"] <= part["answer_len"]
                   for r in part["rows"])
        top1 = next(r for r in part["rows"] if r["label"] == "k=1" and r["block_size"] is None)
        if name == "sudoku":
            assert top1["nfe_mean"] == 89.0  # no end token: top-1 pays every position
        assert part["train"]["steps"] == 40 and part["train"]["parameters"] > 0
    assert {r["block_size"] for r in result["tasks"]["arithmetic"]["rows"]} == {None, 4}
    report = (out / "report.md").read_text()
    assert "Speed-up at equal accuracy" in report and "The bound on an exact HMM" in report
    assert "test (chosen on validation)" in report and "8 validation prompts" in report


def test_quick_padded_arithmetic_sweeps_with_and_without_the_stop_rule(eb_quick):
    """Without the stop rule every one of the 32 generated positions costs top-1 a pass; with it
    and blocks of 8 a row stops once its answer has ended, so never later than the 32nd pass."""
    _, result = eb_quick
    part = result["tasks"]["arithmetic-padded"]
    assert part["task"] == "arithmetic" and part["answer_len"] == 32
    top1 = {(r["block_size"], r["stop"]): r for r in part["rows"] if r["label"] == "k=1"}
    assert set(top1) == {(None, True), (None, False), (8, True), (8, False)}
    assert top1[None, False]["nfe_mean"] == 32.0 and top1[8, False]["nfe_mean"] == 32.0
    assert top1[8, True]["nfe_mean"] <= 32.0
    assert {(s["block_size"], s["stop"]) for s in part["speedups"]} == set(top1)
    assert result["tasks"]["sudoku-hard"]["task"] == "sudoku"


def test_parts_select_tasks_and_reject_unknown_names(tmp_path):
    assert experiments.parts("eb-sampler", "quick") == (
        "bound", "sudoku", "arithmetic", "sudoku-hard", "arithmetic-padded", "eb-vs-threshold-model-0",
        "eb-vs-threshold-model-1", "eb-vs-threshold")
    result = experiments.run("eb-sampler", "quick", tmp_path / "b", parts=("bound",))
    assert result["tasks"] == {} and result["bound"] and result["parts"] == ["bound"]
    assert "The bound on an exact HMM" in (tmp_path / "b" / "report.md").read_text()
    with pytest.raises(ConfigError, match="unknown part"):
        experiments.run("eb-sampler", "quick", tmp_path / "x", parts=("sudoku-impossible",))
    assert not (tmp_path / "x").exists()


def test_quick_preset_chooses_on_validation_prompts_disjoint_from_train_and_test(eb_quick):
    out, result = eb_quick
    for setup in presets.PRESETS["quick"].tasks:
        part = result["tasks"][setup.name]
        assert part["n_valid"] == setup.n_valid and part["selection"] == "validation"
        settings = [(r["family"], r["label"], r["block_size"]) for r in part["rows"]]
        assert [(r["family"], r["label"], r["block_size"]) for r in part["valid_rows"]] == settings
        assert all(r["n"] == setup.n_valid for r in part["valid_rows"])
        assert part["speedups"] and all(s["chosen_on"] == "validation" for s in part["speedups"])
        # the validation prompts are none of the model's train or test prompts
        _, valid, test, _ = task_model(setup, out, progress=False)
        cfg = load_config(setup.config, list(setup.overrides))
        train = build_task(cfg.data.task, seq_len=cfg.data.seq_len, seed=cfg.seed, **cfg.data.options).train
        seen = {tuple(r) for split in (train, test) for r in split.prompts().tolist()}
        assert len(valid) == setup.n_valid and not seen & {tuple(r) for r in valid.prompts().tolist()}


def test_quick_preset_reuses_finished_parts(eb_quick, monkeypatch):
    out, result = eb_quick

    def boom(*a, **k):
        raise AssertionError("a cached part was recomputed")

    for name in ("task_part", "bound_part", "sweep_model", "analyse"):
        monkeypatch.setattr(eb_sampler, name, boom)
    again = experiments.run("eb-sampler", "quick", out, seed=0, resume=True)
    assert again["tasks"] == json.loads(json.dumps(result["tasks"]))
    assert again["eb_vs_threshold"] == json.loads(json.dumps(result["eb_vs_threshold"]))


def test_accuracy_by_group_splits_the_prompts():
    correct = torch.tensor([True, False, True, True])
    groups = ["a", "b", "a", "b"]
    assert parts.accuracy_by_group(correct, groups) == {"a": 1.0, "b": 0.5}


def test_quick_report_has_difficulty_groups(eb_quick):
    out, result = eb_quick
    sudoku = result["tasks"]["sudoku"]
    assert sum(sudoku["groups"].values()) == sudoku["rows"][0]["n"]
    assert set(sudoku["groups"]) <= {"naked singles", "hidden singles", "search"}
    assert "Accuracy (%) by difficulty" in (out / "report.md").read_text()


def test_a_checkpoint_from_another_config_is_not_reused(eb_quick):
    """The quick arithmetic model was trained on 512 problems; asking for a model on 256 must not
    silently load it, although it is finished and its model config is the same."""
    out, _ = eb_quick
    quick_setup = next(t for t in presets.PRESETS["quick"].tasks if t.name == "arithmetic")
    other = presets.TaskSetup("arithmetic", "arithmetic-small", presets.QUICK_MODEL + (
        "data.options={max_digits: 5, ops: ['+'], n_train: 256, n_test: 8}",))
    model, _, dataset, summary = task_model(quick_setup, out, progress=False)  # same config: loaded
    assert summary["steps"] == 40 and len(dataset) == 8
    with pytest.raises(ConfigError, match="data config differs"):
        task_model(other, out, progress=False)


def test_bound_report_and_plot(tmp_path):
    from mdm.eval.eb_bound import check_bound
    from mdm.experiments.eb_sampler.plots import plot_bound
    from mdm.experiments.eb_sampler.report import bound_lines
    from mdm.languages import HMM

    result = check_bound(HMM.random(3, 3, seed=0), length=8, n_trials=30, seed=0)
    lines = "\n".join(bound_lines(result)).split("\n")
    assert sum(line.startswith("| 2 |") for line in lines) == 1  # the |S| = 2 row
    assert sum(line.startswith("| 0.1 |") for line in lines) == 1  # the gamma = 0.1 row
    assert plot_bound(result, tmp_path / "bound.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the EB-vs-Threshold analysis on hand-made sweeps: every number known --------------------------


def _setting(family, label, valid, test):
    """``valid``/``test``: (mean NFE, per-puzzle correctness as a 0/1 string)."""
    splits = {"valid": valid, "test": test}
    return {"family": family, "label": label,
            **{split: {"nfe": nfe, "blanks_nfe": nfe / 2, "correct": bits}
               for split, (nfe, bits) in splits.items()}}


def _sweep():
    return {"train": {}, "settings": [
        _setting("threshold", "tau=0.5", (4, "1100"), (4, "1111100000")),  # test 0.5 at 4 NFE
        _setting("threshold", "tau=0.9", (8, "1110"), (8, "1111111100")),  # test 0.8 at 8 NFE
        _setting("EB (margin)", "gamma=1", (4, "1110"), (4, "1111111000")),  # test 0.7 at 4 NFE
        _setting("EB (margin)", "gamma=0.1", (8, "1111"), (8, "1111111110")),  # test 0.9 at 8 NFE
        # dominated on validation, so off EB's curve although it would top the test frontier
        _setting("EB (margin)", "gamma=0.5", (6, "0000"), (6, "1111111111"))]}


def test_analysis_compares_at_matched_nfe_on_validation_chosen_curves():
    f = presets.FrontierSetup(presets.PRESETS["quick"].frontier.task, presets.SamplerGrid(), models=(0, 1),
                          nfe_grid=(2, 6, 8), n_boot=200)
    r = frontier.analyse(f, [_sweep(), _sweep()], seed=0)
    # at 6 NFE: threshold halfway between 0.5 and 0.8, EB halfway between 0.7 and 0.9 (not 1.0)
    assert r["bands"]["threshold"]["mean"][1] == pytest.approx(0.65)
    assert r["bands"]["EB (margin)"]["mean"][1] == pytest.approx(0.8)
    d = r["matched"]["EB (margin)"]
    assert d[0] is None  # 2 NFE: cheaper than every setting
    assert d[1]["mean"] == pytest.approx(0.15) and d[2]["mean"] == pytest.approx(0.1)
    assert d[1]["n"] == 20  # 2 models x 10 puzzles, paired
    # within one validation SE of the best: threshold's best (0.75, SE 0.25) admits tau=0.5 (0.5 at
    # 4 NFE); EB's best (1.0, SE 0) admits nothing cheaper.  Reported on test.
    assert [c["key"] for c in r["chosen"]["threshold"]] == ["threshold: tau=0.5"] * 2
    assert r["chosen"]["threshold"][0]["test"]["mean"] == pytest.approx(0.5)
    assert r["chosen"]["any"][0]["key"] == "EB (margin): gamma=0.1"
    assert r["chosen"]["EB (margin)"][0]["test"]["mean"] == pytest.approx(0.9)
    assert r["chosen"]["EB (margin)"][0]["nfe"] == 8 and r["chosen"]["EB (margin)"][0]["blanks_nfe"] == 4
    assert r["n_test"] == 10 and r["n_valid"] == 4 and r["models"] == [0, 1]


def test_quick_comparison_runs_on_two_models(eb_quick):
    out, result = eb_quick
    r = result["eb_vs_threshold"]
    f = presets.PRESETS["quick"].frontier
    assert r["models"] == [0, 1] and r["n_test"] == f.task.n_eval and len(r["train"]) == 2
    assert r["train"][0]["checkpoint"] != r["train"][1]["checkpoint"]  # two trained models
    assert set(r["matched"]) == {f"EB ({p})" for p in f.grid.proxies}
    assert set(r["chosen"]) == {"top-k", "threshold", "scheduled", "any"} | set(r["matched"])
    assert all(1 <= s["test_blanks_nfe"] <= s["test_nfe"] for s in r["settings"])
    assert (out / "eb-vs-threshold.png").stat().st_size > 0
    assert "EB vs Threshold at matched NFE" in (out / "report.md").read_text()
