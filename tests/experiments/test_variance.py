"""`mdm exp variance`: the quick preset end to end through the registry."""

import json

import pytest
import torch

from mdm import experiments
from mdm.experiments.variance_arms import ARMS


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
    seeds = experiments.get("variance").PRESETS["quick"].seeds
    for arm in result["arms"].values():
        assert len(arm["runs"]) == seeds
        for key in ("equal_steps", "equal_compute"):
            s = arm[key]
            assert 0 <= s["min"] <= s["mean"] <= s["max"] <= 1 and len(s["per_seed"]) == seeds
        assert arm["loss_var"] > 0 and arm["grad_norm_var"] >= 0 and arm["estimator_var_init"] >= 0
        assert set(arm["end_abc"]) == {"A", "B", "C", "total"}
    assert result["ar"]["init_C"] > 0 and len(result["ar"]["runs"]) == seeds
    assert result["ppots"]["params"] is not None
    report = (tmp_path / "report.md").read_text()
    assert "P-POTS+MIRROR" in report and "AR (C only)" in report
