"""The trainer with P-POTS, MIRROR, the weight clamp and the variance metrics."""

import json

import pytest
import torch
from safetensors.torch import load_file

from mdm.errors import ConfigError
from mdm.train import checkpoint, load_config, train

TINY = [
    "model.d_model=16", "model.n_layers=1", "model.n_heads=2", "data.seq_len=16", "data.max_chars=4000",
    "batch_size=4", "log_every=2", "eval_every=0", "eval_batches=1", "eval_samples=1", "threads=1",
    "precision=fp32", "optim.warmup_steps=2", "loss.ppots_grid=8", "loss.ppots_examples=3",
    "loss.ppots_masks=3", "loss.ppots_restarts=2",
]


def _cfg(*extra):
    return load_config(None, TINY + list(extra))


def test_ppots_mirror_run_resumes_with_the_same_density(tmp_path):
    extra = ["max_steps=4", "loss.time_sampler=ppots", "loss.mask_sampler=mirror", "loss.weight_clamp=50"]
    full = train(_cfg(*extra), out_dir=tmp_path / "full", progress=False, resume=False)
    part = train(_cfg(*extra, "stop_after=2"), out_dir=tmp_path / "part", progress=False)
    state = checkpoint.load_trainer_state(part.checkpoint)
    assert state["objective"]["params"] is not None
    cached = json.loads((tmp_path / "part" / "ppots.json").read_text())
    assert cached["params"] == state["objective"]["params"]
    # resuming re-uses the saved fit (re-estimating at step 2 would see other weights, other noise)
    resumed = train(_cfg(*extra), out_dir=tmp_path / "part", progress=False, resume="auto")
    a = load_file(str(full.checkpoint / "model.safetensors"))
    b = load_file(str(resumed.checkpoint / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert checkpoint.load_trainer_state(resumed.checkpoint)["objective"] == state["objective"]
    rows = [r for r in full.metrics if r["split"] == "train"]
    assert all(r["loss_var"] > 0 and r["grad_norm_var"] >= 0 for r in rows)


def test_mirror_independent_and_plain_runs_log_variances(tmp_path):
    res = train(_cfg("max_steps=2", "loss.mask_sampler=mirror-independent"), out_dir=tmp_path,
                progress=False, resume=False)
    row = [r for r in res.metrics if r["split"] == "train"][-1]
    assert row["loss_var"] > 0 and row["grad_norm_var"] is not None
    assert checkpoint.load_trainer_state(res.checkpoint)["objective"] is None


@pytest.mark.parametrize("bad", ["loss.weight_clamp=-1", "loss.ppots_grid=0", "loss.ppots_restarts=0"])
def test_bad_variance_settings(bad, tmp_path):
    with pytest.raises(ConfigError):
        _cfg(bad)
    with pytest.raises(ConfigError, match="mirror"):  # unknown names fail before anything is written
        train(_cfg("loss.mask_sampler=mirrror"), out_dir=tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()
