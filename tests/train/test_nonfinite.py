"""Non-finite steps: a NaN injected into a batch's forward pass is skipped (weights, optimizer and EMA
untouched), counted and logged; a run of them stops training with the last checkpoint intact."""

import pytest
import torch
from safetensors.torch import load_file

import mdm.train.nelbo as nelbo_objective
from mdm.errors import ConfigError, NonFiniteError
from mdm.train import checkpoint, load_config, train

TINY = [
    "model.d_model=16", "model.n_layers=1", "model.n_heads=2", "data.seq_len=16", "data.max_chars=4000",
    "batch_size=4", "log_every=1", "eval_every=0", "eval_batches=1", "eval_samples=1", "threads=1",
    "precision=fp32", "optim.warmup_steps=2", "ema=0.9",
]


class _Poisoned:
    """The denoiser with NaN logits (the attributes of the Denoiser protocol pass through)."""

    def __init__(self, denoiser):
        self.denoiser = denoiser

    def __getattr__(self, name):
        return getattr(self.denoiser, name)

    def __call__(self, x, **kw):
        return self.denoiser(x, **kw) * float("nan")


def _inject_nan(monkeypatch, bad_steps):
    """Make the forward pass of the batches of ``bad_steps`` (1-based) return NaN logits."""
    real, calls = nelbo_objective.diffusion_loss, [0]

    def loss(denoiser, *args, **kw):
        calls[0] += 1
        if calls[0] in bad_steps:
            return real(_Poisoned(denoiser), *args, **kw)
        return real(denoiser, *args, **kw)

    # the NELBO objective (mdm.train.nelbo) calls diffusion_loss for the training and validation loss
    monkeypatch.setattr(nelbo_objective, "diffusion_loss", loss)


def test_nan_steps_are_skipped_counted_and_logged(tmp_path, monkeypatch, capsys):
    _inject_nan(monkeypatch, {3, 4})
    res = train(load_config(None, TINY + ["max_steps=6"]), out_dir=tmp_path / "run", progress=False)
    assert res.steps == 6 and not res.interrupted
    skipped = [r for r in res.metrics if r["split"] == "nonfinite"]
    assert [r["step"] for r in skipped] == [3, 4] and [r["consecutive"] for r in skipped] == [1, 2]
    train_rows = [r for r in res.metrics if r["split"] == "train"]
    assert [r["nonfinite_skipped"] for r in train_rows] == [0, 0, 1, 2, 2, 2]
    assert train_rows[2]["loss"] is None and all(r["loss"] is not None for r in train_rows[4:])
    assert "step 3 skipped: non-finite loss" in capsys.readouterr().err
    state = checkpoint.load_trainer_state(res.checkpoint)
    assert state["nonfinite_skipped"] == 2 and state["ema_updates"] == 4
    adam_steps = {int(s["step"]) for s in state["optimizer"]["state"].values()}
    assert adam_steps == {4}  # 6 steps, 2 skipped: the optimizer stepped 4 times
    for name in ("model.safetensors", "ema.safetensors"):
        assert all(torch.isfinite(v).all() for v in load_file(str(res.checkpoint / name)).values())


def test_consecutive_nan_steps_stop_training_and_keep_the_last_good_checkpoint(tmp_path, monkeypatch):
    cfg = TINY + ["max_steps=20", "save_every=2", "max_nonfinite_steps=3"]
    clean = train(load_config(None, [*cfg, "stop_after=2"]), out_dir=tmp_path / "clean", progress=False)
    _inject_nan(monkeypatch, set(range(3, 100)))
    with pytest.raises(NonFiniteError, match="stopped at step 5: 3 consecutive steps"):
        train(load_config(None, cfg), out_dir=tmp_path / "run", progress=False)
    ckpt = tmp_path / "run" / "checkpoint"
    assert checkpoint.read_config(ckpt)["metadata"]["step"] == 4  # saved mid-streak, weights of step 2
    for name in ("model.safetensors", "ema.safetensors"):
        got, want = load_file(str(ckpt / name)), load_file(str(clean.checkpoint / name))
        assert all(torch.equal(got[k], want[k]) for k in want), name
    checkpoint.load(ckpt)  # loadable
    with pytest.raises(ConfigError, match="max_nonfinite_steps must be >= 1"):
        load_config(None, ["max_nonfinite_steps=0"])
