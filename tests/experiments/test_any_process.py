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


def test_an_interrupted_training_raises(tmp_path, monkeypatch):
    """A training stopped early must not become a cached part: train_model raises instead."""
    import mdm.train
    from mdm.experiments.any_process.parts import train_model
    from mdm.train.loop import TrainResult

    def stopped(cfg, **kwargs):
        return TrainResult(checkpoint=tmp_path / "none", out_dir=tmp_path, steps=2, interrupted=True)

    monkeypatch.setattr(mdm.train, "train", stopped)
    with pytest.raises(TrainingInterrupted, match="step 2 of 30"):
        train_model({"max_steps": 30}, tmp_path / "run")
