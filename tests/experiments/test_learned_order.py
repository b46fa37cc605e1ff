"""`mdm exp learned-order`: the quick preset end to end through the CLI's entry point."""

from __future__ import annotations

import json
import math

import pytest

import mdm.experiments


@pytest.mark.slow
def test_quick_preset_runs_end_to_end(tmp_path):
    result = mdm.experiments.run("learned-order", "quick", tmp_path, seed=0)
    for name in (
        "result.json",
        "report.md",
        "w_over_training.png",
        "order_heatmap.png",
        "val_nelbo_curves.png",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk["preset"] == "quick" and on_disk["provenance"]["seed"] == 0
    planted = result["planted"]
    for row in planted["seeds"].values():
        assert -1.0 <= row["learned"]["tau"] <= 1.0 and len(row["learned"]["w"]) == len(row["perm"])
        # a NELBO is an upper bound on the entropy (up to Monte-Carlo noise, here far below the gap)
        assert row["learned"]["nelbo"] > row["entropy"] and row["fixed"]["nelbo"] > row["entropy"]
    first = next(iter(planted["seeds"].values()))
    assert set(first["decoding"]["learned"]) == {
        "learned",
        "random",
        "confidence",
        "planted",
        "reverse-planted",
    }
    heat = first["heatmap"]
    assert all(math.isclose(sum(r), 1.0, abs_tol=1e-9) for r in heat)  # each position decoded once
    g = first["gradients"]
    assert g["rloo_total_var"] > 0 and g["pathwise_total_var"] > 0
    iris = result["tables"]["iris"]
    assert iris["nelbo_learned"]["n"] == 2 and 0 <= iris["marginal_tv_fixed"]["mean"] <= 1
    report = (tmp_path / "report.md").read_text()
    assert "Planted order" in report and "Tables" in report and "RLOO" in report


def test_unknown_preset_is_rejected(tmp_path):
    from mdm.errors import MDMError

    with pytest.raises(MDMError, match="preset"):
        mdm.experiments.run("learned-order", "huge", tmp_path)
