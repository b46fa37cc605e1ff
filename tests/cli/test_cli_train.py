"""`mdm train`: writes a checkpoint, refuses to overwrite it, resumes it."""

import json
import shutil

import torch


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


PER_POSITION = """
model: {d_model: 16, n_layers: 1, n_heads: 2, learned_positions: true}
data: {task: exact-language, seq_len: 6,
       options: {spec: "ngram:vocab=4,order=2,branching=2,seed=0", n_train: 64, n_val: 8}}
loss: {schedule: per-position, order_lr: 0.05, order_draws: 2}
optim: {warmup_steps: 1}
batch_size: 4
max_steps: 4
precision: fp32
eval_every: 2
eval_batches: 1
eval_samples: 1
log_every: 1
"""


def test_a_per_position_config_trains_and_resumes_through_the_cli(tmp_path, run, capsys):
    """A YAML in the old spelling (loss.schedule: per-position) trains the learned-order objective
    through `mdm train` (it once ended with "unknown schedule 'per-position'") and resumes bit for bit."""
    from mdm.train.checkpoint import load_weights

    cfg = tmp_path / "order.yaml"
    cfg.write_text(PER_POSITION)
    rc, out, err = run(["train", cfg, "--out", tmp_path / "full", "--quiet"], capsys)
    assert rc == 0, err
    assert out.startswith("done: 4 steps") and "bits/token" in out
    saved = json.loads((tmp_path / "full" / "checkpoint" / "config.json").read_text())
    assert saved["train"]["loss"]["kind"] == "learned-order" and saved["train"]["loss"]["lr"] == 0.05
    assert saved["model"]["schedule"] == {"per_position": 6}
    rc, out, err = run(["train", cfg, "--set", "stop_after=2", "--out", tmp_path / "part", "--quiet"], capsys)
    assert rc == 0 and out.startswith("interrupted: 2 steps"), err
    rc, out, err = run(["train", cfg, "--out", tmp_path / "part", "--resume", "--quiet"], capsys)
    assert rc == 0 and out.startswith("done: 4 steps"), err
    full, resumed = (load_weights(tmp_path / d / "checkpoint") for d in ("full", "part"))
    assert "order_schedule.theta" in full and full.keys() == resumed.keys()
    assert all(torch.equal(full[k], resumed[k]) for k in full)
    # the new spelling names the same run: resuming with it is allowed
    new = tmp_path / "new.yaml"
    new.write_text(PER_POSITION.replace("loss: {schedule: per-position, order_lr: 0.05, order_draws: 2}",
                                        "loss: {kind: learned-order, lr: 0.05, draws: 2}"))
    rc, out, err = run(["train", new, "--set", "max_steps=5", "--out", tmp_path / "part", "--resume",
                        "--quiet"], capsys)
    assert rc == 0 and out.startswith("done: 5 steps"), err
