"""SIGINT while an experiment's model trains: ``mdm exp`` exits non-zero (130), writes no
``result.json`` and caches no part; ``--resume`` finishes the training and writes what an
uninterrupted run writes.  A real ``mdm exp`` process, a real signal, the real trainer (watched
failing with the experiments' training helper ignoring the trainer's ``interrupted`` flag: exit 0)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# A toy experiment whose one part trains a small char model through the experiments' own
# train-or-resume helper and reports the trained weights' sum (equal only after an exact resume).
TOY = '''
from dataclasses import dataclass

from mdm.experiments import EXPERIMENTS
from mdm.experiments.runner import Experiment, Part
from mdm.experiments.training import finished_checkpoint
from mdm.train import load_config


@dataclass(frozen=True)
class Setup:
    steps: int


def train_part(setup, seed, ctx):
    from mdm.loading import load

    cfg = load_config({
        "model": {"d_model": 16, "n_layers": 1, "n_heads": 2},
        "data": {"task": "text", "corpus": "kjv", "tokenizer": "char", "seq_len": 16, "max_chars": 4000,
                 "val_fraction": 0.1},
        "optim": {"lr": 1.0e-3, "warmup_steps": 1}, "batch_size": 4, "max_steps": setup.steps,
        "precision": "fp32", "eval_every": 0, "eval_batches": 1, "eval_samples": 1, "log_every": 1,
        "threads": 1, "seed": seed})
    ckpt = finished_checkpoint(cfg, ctx.out_dir / "models" / "m")
    model, _ = load(ckpt, ema=False)
    return {"weight_sum": float(sum(p.detach().double().sum() for p in model.parameters()))}


EXPERIMENT = Experiment(
    name="trainy", presets={"quick": Setup(steps=400), "full": Setup(steps=400)},
    parts=lambda setup: [Part("train", train_part)],
    assemble=lambda setup, results, seed: dict(results),
    report=lambda result, setup: "# trainy\\n",
)
EXPERIMENTS.register("trainy", EXPERIMENT)
'''


def _mdm(tmp_path: Path, *args) -> subprocess.Popen:
    (tmp_path / "trainy_exp.py").write_text(textwrap.dedent(TOY))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(SRC)]), "OMP_NUM_THREADS": "1",
           "MPLBACKEND": "Agg"}
    code = "import sys, trainy_exp; from mdm.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, "-c", code, "exp", "trainy", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(out: Path) -> dict:
    result = json.loads((out / "result.json").read_text())
    result.pop("provenance")
    return result


@pytest.mark.slow
def test_sigint_during_training_stops_the_experiment_and_resume_completes_it(tmp_path):
    stopped = tmp_path / "stopped"
    proc = _mdm(tmp_path, "--out", stopped)
    metrics = stopped / "models" / "m" / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 3):  # training is under way
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "training never started"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 130, err
    assert not (stopped / "result.json").exists() and not (stopped / "parts" / "train").exists()
    saved = json.loads((stopped / "models" / "m" / "checkpoint" / "config.json").read_text())
    step = saved["metadata"]["step"]
    assert 0 < step < 400, "the signal came too late to test an interrupted training"

    resumed = _mdm(tmp_path, "--out", stopped, "--resume")
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    whole = _mdm(tmp_path, "--out", tmp_path / "whole")
    _, err = whole.communicate(timeout=600)
    assert whole.returncode == 0, err
    assert _result(stopped) == _result(tmp_path / "whole")  # exact resume: the same trained weights
