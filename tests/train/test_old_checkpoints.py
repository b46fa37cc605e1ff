"""Checkpoints written before the Objective seam and mdm.loading (by mdm at 94a67d1, see
fixtures/make_old_checkpoints.py) still load -- with the same logits, the schedule they trained with,
their EMA -- and still resume under the config they saved (``loss.schedule: per-position`` included)."""

import json
import shutil
from pathlib import Path

import pytest
import torch

import mdm
from mdm.schedules import Cosine
from mdm.train import checkpoint, load_config, train

OLD = Path(__file__).parent / "fixtures" / "pre_objectives"


def _logits(model, x):
    with torch.no_grad():
        return model(x, t=torch.full((x.shape[0],), 0.5)) if model.time_conditioned else model(x)


@pytest.mark.parametrize("name", ["nelbo", "per_position"])
def test_an_old_checkpoint_loads_with_the_same_logits(name):
    saved = torch.load(OLD / name / "logits.pt", weights_only=True)
    config = json.loads((OLD / name / "checkpoint" / "config.json").read_text())
    assert "schedule" not in config["model"] and "kind" not in config["train"]["loss"]  # the old format
    model, tok = mdm.load(OLD / name / "checkpoint")
    assert torch.equal(_logits(model, saved["x"]), saved["logits"])
    if name == "nelbo":  # time-conditioned, cosine, EMA weights returned
        assert model.schedule == Cosine()
        raw, _ = mdm.load(OLD / name / "checkpoint", ema=False)
        assert not torch.equal(_logits(raw, saved["x"]), saved["logits"])
    else:
        assert model.order_schedule.theta.shape == (6,) and not hasattr(model, "schedule")


@pytest.mark.parametrize("name", ["nelbo", "per_position"])
def test_an_old_checkpoint_resumes_under_its_saved_config(tmp_path, name):
    run = tmp_path / name
    shutil.copytree(OLD / name, run)
    saved = checkpoint.read_config(run / "checkpoint")["train"]
    cfg = load_config(saved, ["max_steps=3"])
    assert cfg.loss.kind == {"nelbo": "nelbo", "per_position": "learned-order"}[name]
    res = train(cfg, out_dir=run, progress=False, resume=True)
    assert res.steps == 3 and checkpoint.load_trainer_state(res.checkpoint)["step"] == 3
    new = json.loads((res.checkpoint / "config.json").read_text())
    assert new["train"]["loss"]["kind"] == cfg.loss.kind
    assert new["model"]["schedule"] == {"nelbo": "cosine", "per_position": {"per_position": 6}}[name]
