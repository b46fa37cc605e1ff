"""`mdm train`: writes a checkpoint, refuses to overwrite it, resumes it."""

import json
import shutil


def test_train_writes_a_checkpoint_and_refuses_to_overwrite_it(run_dir, run, tree, capsys):
    assert (run_dir / "checkpoint" / "config.json").is_file() and (run_dir / "metrics.jsonl").is_file()
    saved = json.loads((run_dir / "checkpoint" / "config.json").read_text())
    assert saved["train"]["seed"] == 1  # --set applied
    before = tree(run_dir)
    rc, out, err = run(["train", run_dir.parent / "tiny.yaml", "--out", run_dir], capsys)
    assert rc == 2 and err.count("\n") == 1 and "--resume" in err
    assert tree(run_dir) == before


def test_train_resume_continues_the_run(run_dir, run, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    rc, out, err = run(["train", run_dir.parent / "tiny.yaml", "--set", "seed=1", "--set", "max_steps=5",
                        "--out", copy, "--resume", "--quiet"], capsys)
    assert rc == 0, err
    assert out.startswith("done: 5 steps")
    saved = json.loads((copy / "checkpoint" / "config.json").read_text())
    assert saved["metadata"]["step"] == 5
