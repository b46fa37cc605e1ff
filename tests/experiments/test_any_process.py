"""`mdm exp any-process --preset quick` end to end (slow: it trains five tiny models)."""

import json

import pytest

from mdm import experiments
from mdm.experiments.runner import TrainingInterrupted


@pytest.mark.slow
def test_quick_preset_writes_every_output(tmp_path):
    result = experiments.run("any-process", "quick", tmp_path, seed=0)
    for name in ("result.json", "report.md", "accuracy_vs_length.png", "steps_vs_length.png",
                 "trajectory_parity.png", "trajectory_rewrite.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert set(on_disk["parity"]["accuracy"]) == {"10", "100"}
    assert on_disk["sudoku"]["ap_mdm"]["n"] == on_disk["sudoku"]["mdm"]["n"] == 16
    assert 0 <= on_disk["sudoku"]["ap_mdm"]["solve_rate"] <= 1
    assert set(on_disk["rewrite"]["validity"]) == {"8", "32"}
    # seed 0: the lengths-1-5 parity model is exact at 10 and 100 bits (32 and 4 inputs), and the
    # rewrite model at 4x its training length (50 inputs): what the full preset reports at scale
    assert on_disk["parity"]["runs"]["lengths 1-5"]["accuracy"] == {"10": 1.0, "100": 1.0}
    assert on_disk["rewrite"]["validity"]["32"] == 1.0
    report = (tmp_path / "report.md").read_text()
    assert "model" not in result["rewrite"] and "Sudoku" in report
    # CIs beside the rates: an exact 1.0 has the degenerate interval, 0.25 of 4 a wide one
    by = on_disk["parity"]["runs"]["length 2 (own 13-transition variant)"]["by_length"]["100"]
    assert by["accuracy_ci"][0] <= by["accuracy"] <= by["accuracy_ci"][1] and by["accuracy_ci"][1] > 0.25
    assert on_disk["parity"]["runs"]["lengths 1-5"]["by_length"]["10"]["accuracy_ci"] == [1.0, 1.0]
    diff = on_disk["sudoku"]["ap_minus_mdm"]
    sudoku = on_disk["sudoku"]
    assert diff["diff"] == pytest.approx(sudoku["ap_mdm"]["solve_rate"] - sudoku["mdm"]["solve_rate"])
    assert 0 <= diff["p"] <= 1 and "paired on the same test puzzles" in report
    # the traced trajectories are plain data: the parity run ends in the answer (1 + 0 + ... = 0 mod 2)
    states = on_disk["parity"]["trajectory"]["states"]
    assert on_disk["parity"]["trajectory"]["input"] == "10110111" and len(states) > 1
    assert "![parity trajectory](trajectory_parity.png)" in report and "How strong is this evidence" in report
    # the two Sudoku models share the training config but for the family, its objective and the data
    ap_cfg, mdm_cfg = (on_disk["sudoku"][k]["train"]["config"] for k in ("ap_mdm", "mdm"))
    assert ap_cfg["model"]["family"] == "anyprocess" and mdm_cfg["model"]["family"] == "transformer"
    assert (ap_cfg["loss"]["kind"], mdm_cfg["loss"]["kind"]) == ("ap-mdm", "nelbo")
    assert {k: v for k, v in ap_cfg.items() if k not in ("model", "data", "loss")} == \
        {k: v for k, v in mdm_cfg.items() if k not in ("model", "data", "loss")}
    assert ap_cfg["max_steps"] == 30 and ap_cfg["model"]["d_model"] == mdm_cfg["model"]["d_model"] == 32


def test_an_interrupted_training_raises(tmp_path, monkeypatch):
    """A training stopped early must not become a cached part: train_model raises instead."""
    import mdm.train
    from mdm.experiments.any_process import PARITY_TRAIN
    from mdm.experiments.any_process.parts import train_model
    from mdm.train.loop import TrainResult

    def stopped(cfg, **kwargs):
        return TrainResult(checkpoint=tmp_path / "none", out_dir=tmp_path, steps=2, interrupted=True)

    monkeypatch.setattr(mdm.train, "train", stopped)
    with pytest.raises(TrainingInterrupted, match="step 2 of 30"):
        train_model(PARITY_TRAIN, ["max_steps=30"], tmp_path / "run")


def test_full_preset_trains_what_the_results_page_reports():
    """The full preset's overrides resolve to the configs behind docs/results/any-process.md: parity
    800 steps (seq_len = longest training length + 2), rewrite 400 steps on inputs up to 8, Sudoku
    300 steps of a 64-wide, 3-layer, 4-head model for both the AP-MDM and the MDM."""
    from mdm.experiments.any_process import PARITY_TRAIN, PRESETS, REWRITE_TRAIN, SUDOKU_TRAIN
    from mdm.train import load_config

    full = PRESETS["full"]
    for setup, lengths in zip(full.parity, ([2], [1, 2, 3, 4, 5])):
        cfg = load_config(PARITY_TRAIN, list(setup.train))
        assert cfg.data.options["lengths"] == lengths and cfg.data.seq_len == max(lengths) + 2
        assert (cfg.max_steps, cfg.model.d_model, cfg.model.n_layers, cfg.optim.lr) == (800, 8, 2, 1e-2)
    cfg = load_config(REWRITE_TRAIN, list(full.rewrite.train))
    assert cfg.data.options == {"n_train": 2000, "max_len": 8} and cfg.data.seq_len == 2 * 8 + 2
    assert (cfg.max_steps, cfg.model.family, cfg.model.d_model) == (400, "anyprocess", 16)
    cfg = load_config(SUDOKU_TRAIN, list(full.sudoku.train))
    assert (cfg.max_steps, cfg.batch_size, cfg.optim.lr, cfg.optim.warmup_steps) == (300, 64, 2e-3, 20)
    assert (cfg.model.d_model, cfg.model.n_layers, cfg.model.n_heads) == (64, 3, 4)


@pytest.mark.slow
def test_quick_ablation_parts_run_and_report(tmp_path):
    """parity-paper(-1-5), brackets and brackets-mdm (quick: one seed, tiny models) end to end."""
    result = experiments.run("any-process", "quick", tmp_path, seed=0,
                             parts=["parity-paper", "parity-paper-1-5", "brackets", "brackets-mdm"])
    cells = {**result["parity-paper"]["cells"], **result["parity-paper-1-5"]["cells"]}
    assert set(cells) == {f"{d} | {m}" for d in ("paper windows", "lengths 1-5")
                          for m in ("global, paper size", "local +-2")}
    for c in cells.values():
        for v in c["by_length"].values():
            assert v["rate_ci"][0] <= v["rate"] <= v["rate_ci"][1]
            assert sum(v["n_per_seed"]) + v["unfinished"] > 0
    # seed 0: every model fits the paper's 7 windows; the local model trained on lengths 1-5 is exact
    # at 20 and 100 bits; the global model has the paper's size (~200 parameters there, 339 here)
    assert all(c["paper_windows_reproduced"] == [7] for c in cells.values())
    assert cells["lengths 1-5 | local +-2"]["by_length"]["100"]["rate"] == 1.0
    assert cells["paper windows | global, paper size"]["train"][0]["parameters"] < 400
    br, mdm = result["brackets"]["models"]["global"], result["brackets-mdm"]
    assert set(br["by_length"]) == set(mdm["by_length"]) == {"16", "32"}
    assert br["train"][0]["steps"] == mdm["train"][0]["steps"] == 60
    report = (tmp_path / "report.md").read_text()
    assert "paper's data: global (paper size) vs local" in report and "plain MDM" in report
    assert "Evidence: 1 training seed" in report and "Wilson" in report


def test_full_preset_ablation_configs():
    """The parity-paper cells: the paper's 7 windows (seq_len 3) or lengths 1-5 (seq_len 6), a global
    width-4 1-block 1-head model or the local one; the bracket models and their plain-MDM baseline share
    width, depth, steps and optimiser."""
    from mdm.experiments.any_process.presets import (
        BRACKETS_MDM_TRAIN,
        BRACKETS_TRAIN,
        PARITY_PAPER_TRAIN,
        PRESETS,
    )
    from mdm.train import load_config

    s = PRESETS["full"].parity_paper
    assert s.seeds >= 3 and [n for n, _ in s.tests] == [100, 1000, 10000]
    for (_, data), want in zip(s.data, (None, [1, 2, 3, 4, 5])):
        cfg = load_config(PARITY_PAPER_TRAIN, list(data))
        assert cfg.data.options.get("lengths") == want and cfg.data.seq_len == (3 if want is None else 6)
    (_, glob), (_, local) = s.models
    g, loc = (load_config(PARITY_PAPER_TRAIN, list(o)).model for o in (glob, local))
    assert (g.d_model, g.n_layers, g.n_heads, g.window) == (4, 1, 1, None)
    assert (loc.d_model, loc.n_layers, loc.window) == (8, 2, 1)
    b = PRESETS["full"].brackets
    ap, base = load_config(BRACKETS_TRAIN, list(b.train)), load_config(BRACKETS_MDM_TRAIN, list(b.train))
    assert b.seeds >= 3 and b.lengths == (16, 32, 64) and ap.data.options["max_len"] == b.train_max_len == 16
    assert (ap.model.family, base.model.family) == ("anyprocess", "transformer")
    for k in ("d_model", "n_layers", "n_heads"):
        assert getattr(ap.model, k) == getattr(base.model, k)
    assert (ap.max_steps, ap.batch_size, ap.optim.lr) == (base.max_steps, base.batch_size, base.optim.lr)
    assert base.data.seq_len == 2 * 16 + 2
