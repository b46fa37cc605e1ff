"""Fault injection: `kill -9` of a real training process at 10 seeded random moments (mid-step, mid-save,
during start-up or resume), resumed each time; the final weights equal an uninterrupted run's bit for bit
(CPU, fp32), the metrics hold each step once, and no lock or temporary directory is left stuck."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from test_trainer import _assert_bitwise_equal, _cfg, _weights

from mdm.errors import CheckpointError
from mdm.train import checkpoint, train

# Start-up (importing torch) dominates: 11 launches take ~25 s on an idle 2-core machine, more when busy.
STEPS = 120  # room for 10 kills even when steps are fast (a jitter of 0.1 s can span several)
EXTRA = [f"max_steps={STEPS}", "eval_every=0", "save_every=1", "ema=0.9", "model.dropout=0.1",
         "model.time_conditioned=true"]
KILLS = 10


def _saved_step(ckpt):
    try:
        return checkpoint.read_config(ckpt, verify=False)["metadata"]["step"]
    except CheckpointError:  # absent, or being replaced right now
        return None


def _step_on_disk(run):
    """The saved step after a kill (also when the kill came between a save's two renames)."""
    asides = sorted(run.glob(".checkpoint.old-*"))
    steps = [_saved_step(p) for p in [run / "checkpoint", *asides]]
    return max([s for s in steps if s is not None], default=0)


def _launch(cfg, out):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "mdm.train", str(cfg), "--out", str(out), "--quiet"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_equals_an_uninterrupted_run(tmp_path):
    ref = train(_cfg(*EXTRA, "save_every=0"), out_dir=tmp_path / "ref", progress=False)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps(_cfg(*EXTRA).to_dict()))
    run, rng, moments, on_disk = tmp_path / "run", random.Random(16), [], [0]
    for _ in range(KILLS):
        start = _saved_step(run / "checkpoint") or 0
        assert start < STEPS - 3, f"the kills reached the end of the run: {moments}"
        proc = _launch(cfg, run)
        if rng.random() < 0.2:  # during start-up, data building or loading the checkpoint
            delay = rng.uniform(0.0, 1.5)
            time.sleep(delay)
            moments.append(f"t+{delay:.2f}s")
        else:  # k saved steps after this start, then anywhere inside the next step or save
            k, jitter = rng.randint(1, 2), rng.uniform(0.0, 0.1)
            deadline = time.monotonic() + 120
            while (_saved_step(run / "checkpoint") or 0) < start + k and time.monotonic() < deadline:
                assert proc.poll() is None, proc.stdout.read().decode()
                time.sleep(0.01)
            time.sleep(jitter)
            moments.append(f"step {start}+{k}, +{jitter:.2f}s")
        assert proc.poll() is None, f"the run ended before kill {len(moments)}: {moments}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        on_disk.append(_step_on_disk(run))
        assert on_disk[-1] >= on_disk[-2], f"a kill lost saved progress: {on_disk}, {moments}"
    assert on_disk[-1] > 0
    final = _launch(cfg, run)
    log = final.communicate(timeout=300)[0].decode()
    assert final.returncode == 0, (moments, log)
    for name in ("model.safetensors", "ema.safetensors"):
        _assert_bitwise_equal(_weights(ref.checkpoint, name), _weights(run / "checkpoint", name))
    assert checkpoint.load_trainer_state(run / "checkpoint")["step"] == STEPS
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["split"] == "train"]
    ref_rows = [r for r in ref.metrics if r["split"] == "train"]
    assert [r["step"] for r in train_rows] == list(range(1, STEPS + 1))
    assert [r["loss"] for r in train_rows] == [r["loss"] for r in ref_rows]
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint", "config.yaml", "metrics.jsonl"], moments
