"""The small-Sudoku parts of ``mdm exp any-process`` (issue 27 item 3b): the quick setup end to end
in seconds, and the summary's statistics on hand-made results."""


import numpy as np
import pytest

from mdm.experiments.any_process.sudoku_small import report_lines, shape_part, summarise
from mdm.experiments.any_process.sudoku_small_presets import QUICK


class _Ctx:
    def log(self, msg):
        pass


def test_the_quick_part_trains_three_arms_and_reports():
    r = shape_part("4x4", 20)(QUICK, 0, _Ctx())
    assert r["seeds"] == [0, 1] and set(r["runs"]) == {"20"} and r["n_train"] == 20
    one = r["runs"]["20"]["0"]
    assert set(one) == {"ap", "mdm", "mdm_threshold", "ar"}
    for arm in one.values():
        assert len(arm["correct"]) == len(arm["nfe"]) == 16
    sizes = {a: one[a]["train"]["parameters"] for a in ("ap", "mdm", "ar")}
    assert sizes["mdm"] == sizes["ar"] and abs(sizes["ap"] - sizes["mdm"]) < 0.1 * sizes["mdm"]
    assert one["ar"]["nfe"] == [16] * 16 and one["ap"]["train"]["transitions"] > 20
    text = "\n".join(report_lines({"sudoku-4x4-20": r}))
    assert "Small Sudoku 4x4" in text and "AP-MDM (traces, remask) - MDM, top-1 confidence" in text


def test_the_parts_are_in_the_full_preset_only():
    from mdm import experiments

    assert not [p for p in experiments.parts("any-process", "quick") if p.startswith("sudoku-")]
    assert experiments.parts("any-process", "full")[-4:] == (
        "sudoku-4x4-100", "sudoku-4x4-1000", "sudoku-6x6-100", "sudoku-6x6-1000")


def test_summarise_pairs_arms_on_the_same_seed_and_puzzle():
    def arm(correct):
        return {"correct": correct, "nfe": [1] * len(correct), "train": {"parameters": 7}}

    one = {"ap": arm([1, 1, 1, 0]), "mdm": arm([1, 0, 0, 0]), "mdm_threshold": arm([1, 0, 0, 0]),
           "ar": arm([0, 0, 0, 0])}
    runs = {"100": {str(s): one for s in range(3)}}
    s = summarise(runs)["100"]
    assert s["ap"]["accuracy"] == pytest.approx(0.75) and s["ap"]["per_seed"] == [0.75] * 3
    assert s["ap-mdm"]["diff"] == pytest.approx(0.5) and s["ap-ar"]["diff"] == pytest.approx(0.75)
    lo, hi = s["ap-mdm"]["ci"]
    assert lo <= 0.5 <= hi and hi <= 1.0 and np.isfinite(s["ap-mdm"]["p"])
    assert s["ar"]["ci"] == [0.0, 0.0]
