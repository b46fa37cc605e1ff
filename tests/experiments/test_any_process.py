"""`mdm exp any-process --preset quick` end to end (slow: it trains five tiny models)."""

import json

import pytest

from mdm import experiments


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
    assert "model" not in result["rewrite"] and "Sudoku" in (tmp_path / "report.md").read_text()
