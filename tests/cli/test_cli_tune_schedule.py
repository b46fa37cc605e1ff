"""`mdm tune-schedule`: resumes from its cache; bad grids are rejected before anything is written."""

import json

import torch

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


def test_tune_schedule_on_a_task_checkpoint_chooses_on_validation_items(tmp_path, monkeypatch, capsys):
    # The schedule is a choice: it must be scored on validation prompts, none of them a test prompt.
    import mdm.tuning
    from mdm.eval.splits import task_eval_splits

    options = "data.options={max_digits: 2, ops: ['+'], n_train: 64, n_test: 16}"
    assert main(["train", "arithmetic-small", "--out", str(tmp_path / "m"), "--quiet", "--set", "max_steps=1",
                 "--set", "model.d_model=16", "--set", "model.n_layers=1", "--set", "model.n_heads=2",
                 "--set", "batch_size=4", "--set", "eval_every=0", "--set", options]) == 0
    scored = []
    real = mdm.tuning.verifier_objective
    monkeypatch.setattr(mdm.tuning, "verifier_objective", lambda model, ds, *a, **k: (
        scored.append(ds), real(model, ds, *a, **k))[1])
    ckpt = str(tmp_path / "m" / "checkpoint")
    assert main(["tune-schedule", "--checkpoint", ckpt, "--steps", "2", "--samples", "4",
                 "--refine-samples", "8", "--top", "1", "--grid-a", "0.5", "--grid-b", "0.5",
                 "--out", str(tmp_path / "t"), "--no-progress"]) == 0
    (dataset,) = scored
    valid, test, _ = task_eval_splits(ckpt, None, 8)
    assert torch.equal(dataset.prompts(), valid.prompts())
    test_rows = {tuple(r) for r in test.prompts().tolist()}
    assert not any(tuple(r) in test_rows for r in dataset.prompts().tolist())
    assert "validation, 8 items" in json.loads((tmp_path / "t" / "result.json").read_text())["what"]
