"""`mdm exp remdm`: the quick preset end to end through the experiment registry."""

import json

import pytest

import mdm.experiments
from mdm.errors import ConfigError
from mdm.experiments.remdm import samplers
from mdm.sampling import Ancestral, ReMDM


@pytest.mark.slow  # two quick runs, ~20 s on 2 cores
def test_quick_preset_writes_every_number(tmp_path):
    res = mdm.experiments.run("remdm", "quick", tmp_path)
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["selection"]["eta"] in (0.02, 0.1) and saved["rows"]
    assert (tmp_path / "remdm_scaling.png").read_bytes()[:4] == b"\x89PNG"
    assert "ReMDM-loop" in (tmp_path / "report.md").read_text()
    by = {(r["family"], r["steps"]): r for r in res["rows"]}
    length = res["length"]
    # Ancestral spends at most one forward per position; ReMDM's remasked positions cost more.
    assert by[("ancestral", 2 * length)]["nfe"] <= length
    assert by[("remdm-cap", 2 * length)]["nfe"] > by[("ancestral", 2 * length)]["nfe"]
    # a second run reuses the trained model in OUT/train
    again = mdm.experiments.run("remdm", "quick", tmp_path)
    def strip(rows):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]

    assert again["trained"] is None and strip(again["rows"]) == strip(res["rows"])


def test_the_sweep_compares_equal_step_counts():
    rows = samplers(64, (0.5, 2), 0.02)
    assert [(f, t) for f, _, t, _ in rows] == [("ancestral", 32), ("remdm-cap", 32), ("ancestral", 128),
                                               ("remdm-cap", 128), ("remdm-loop", 128)]
    assert isinstance(rows[0][3], Ancestral) and rows[-1][3].loop_t == (0.55, 0.05)
    assert isinstance(rows[1][3], ReMDM)


def test_unknown_preset_is_rejected(tmp_path):
    with pytest.raises(ConfigError):
        mdm.experiments.run("remdm", "huge", tmp_path)
