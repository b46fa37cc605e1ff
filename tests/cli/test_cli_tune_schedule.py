"""`mdm tune-schedule`: resumes from its cache; bad grids are rejected before anything is written."""

import json

from mdm.cli import main


def test_tune_schedule_resumes_and_rejects_bad_grid(tmp_path, capsys):
    args = ["tune-schedule", "--language", "ngram:vocab=4,order=2,branching=2,seed=0", "--steps", "4",
            "--length", "12", "--samples", "16", "--refine-samples", "32", "--top", "1",
            "--grid-a", "0.3,0.9", "--grid-b", "0.3,0.9", "--out", str(tmp_path / "t"), "--no-progress"]
    assert main(args) == 0
    first = json.loads((tmp_path / "t" / "result.json").read_text())
    assert first["evaluations"] == 4 + 2 and (tmp_path / "t" / "heatmap.png").is_file()
    assert "best: Beta(" in capsys.readouterr().out
    assert main(args) == 0  # everything cached: nothing recomputed, same answer
    second = json.loads((tmp_path / "t" / "result.json").read_text())
    assert second["evaluations"] == 0 and second["best"] == first["best"]
    assert main([*args[:-3], "--grid-b", "0.5,0", "--out", str(tmp_path / "u")]) == 2
    assert "must be a finite number > 0" in capsys.readouterr().err
    assert not (tmp_path / "u").exists()  # rejected before anything is written
