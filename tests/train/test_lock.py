"""One writer per run folder: a second `mdm train` into a live run's folder is refused; a killed run's
lock does not stay stuck."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from mdm import cli
from mdm.errors import RunLockedError
from mdm.train import load_config, train
from mdm.train.lock import LOCK_FILE, RunLock, check_unlocked

TINY = [
    "model.d_model=16", "model.n_layers=1", "model.n_heads=2", "data.seq_len=16", "data.max_chars=4000",
    "batch_size=4", "log_every=1", "eval_every=0", "eval_batches=1", "eval_samples=1", "threads=1",
    "precision=fp32", "optim.warmup_steps=2",
]


def _wait_for_rows(path, n, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if path.is_file() and len(path.read_text().splitlines()) >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"the training process did not log {n} rows: {proc.poll()}")


def test_a_second_writer_is_refused_and_a_killed_writer_leaves_no_stuck_lock(tmp_path, capsys):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps(load_config(None, [*TINY, "max_steps=100000", "save_every=1"]).to_dict()))
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "mdm.train", str(cfg), "--out", str(out), "--quiet"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for_rows(out / "metrics.jsonl", 2, proc)
        assert f'"pid": {proc.pid}' in (out / LOCK_FILE).read_text()
        # a second real process: `mdm train --resume` into the live folder refuses, one line, exit 2
        second = subprocess.run([sys.executable, "-m", "mdm.cli", "train", str(cfg), "--out", str(out),
                                 "--resume", "--quiet"], env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "in use by another mdm train" in lines[0] and f"pid {proc.pid}" in lines[0]
        # in this process: the CLI without --resume and the API (past the CLI's checks) refuse too
        rc = cli.main(["train", str(cfg), "--out", str(out), "--quiet"])
        assert rc == 2 and "in use" in capsys.readouterr().err
        with pytest.raises(RunLockedError, match=f"pid {proc.pid}"):
            train(str(cfg), out_dir=out, progress=False, resume=True)
        assert proc.poll() is None  # the refusals did not disturb the live run
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    # kill -9 leaves the lock file but the kernel dropped the lock: the folder is free again
    assert (out / LOCK_FILE).is_file()
    check_unlocked(out)
    with RunLock(out):
        pass
    assert not (out / LOCK_FILE).exists()


def test_lock_is_exclusive_in_one_process_and_a_refused_run_leaves_no_folder(tmp_path):
    out = tmp_path / "new"
    with RunLock(out):
        with pytest.raises(RunLockedError, match="in use"):
            RunLock(out).acquire()
        with pytest.raises(RunLockedError):
            check_unlocked(out)
    assert not out.exists()  # created by the lock, nothing written: removed again
    bad = load_config(None, TINY + ["max_steps=1", "loss.time_sampler=nope"])
    with pytest.raises(Exception, match="nope"):
        train(bad, out_dir=out, progress=False)
    assert not out.exists()
