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
    by = on_disk["parity"]["runs"]["length 2 (paper)"]["by_length"]["100"]
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
