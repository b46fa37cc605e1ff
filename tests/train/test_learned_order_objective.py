"""The learned-order objective (``loss.schedule: per-position`` in configs written before ``loss.kind``):
w trains, resumes exactly, mdm.load restores it."""

from __future__ import annotations

import pytest
import torch

import mdm
from mdm.errors import MDMError
from mdm.order.times import PowerTime
from mdm.train import load_config, train
from mdm.train.checkpoint import load_weights
from mdm.train.objective import objective_for
from mdm.variance import AntitheticTime


def _cfg(**loss):
    return {
        "data": {"task": "exact-language", "seq_len": 6,
                 "options": {"spec": "ngram:vocab=4,order=2,branching=2,seed=0", "n_train": 256,
                             "n_val": 32}},
        "model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "learned_positions": True},
        "loss": {"schedule": "per-position", "order_lr": 0.05, "order_draws": 3, **loss},
        "batch_size": 8, "max_steps": 8, "eval_every": 0, "log_every": 4, "threads": 1, "device": "cpu",
        "optim": {"warmup_steps": 1},
    }


def test_schedule_trains_resumes_exactly_and_loads(tmp_path):
    full = train(_cfg(), out_dir=tmp_path / "full", progress=False, resume=False)
    w_full = load_weights(full.checkpoint)["order_schedule.theta"]
    assert not torch.allclose(w_full, torch.zeros(6) + float(torch.log(torch.expm1(torch.tensor(1.0)))))
    assert "order_w" in full.metrics[0] and len(full.metrics[0]["order_w"]) == 6

    part = dict(_cfg(), stop_after=4)
    train(part, out_dir=tmp_path / "resumed", progress=False, resume=False)
    resumed = train(_cfg(), out_dir=tmp_path / "resumed", progress=False, resume=True)
    a, b = load_weights(full.checkpoint), load_weights(resumed.checkpoint)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    model, _ = mdm.load(full.checkpoint)
    assert torch.allclose(model.order_schedule.theta.detach(), w_full)


def test_pathwise_estimator_gives_a_different_gradient(tmp_path):
    a = train(_cfg(), out_dir=tmp_path / "a", progress=False, resume=False)
    b = train(_cfg(order_estimator="pathwise"), out_dir=tmp_path / "b", progress=False, resume=False)
    ta = load_weights(a.checkpoint)["order_schedule.theta"]
    tb = load_weights(b.checkpoint)["order_schedule.theta"]
    assert not torch.allclose(ta, tb)


@pytest.mark.parametrize("times, expected", [("power", PowerTime), ("shared", AntitheticTime)])
def test_per_position_runs_draw_times_from_power_time_by_default(times, expected):
    cfg = load_config(_cfg(), [] if times == "power" else [f"loss.order_times={times}"])
    assert cfg.loss.kind == "learned-order" and cfg.loss.times == times
    model = torch.nn.Module()
    objective = objective_for(cfg)
    objective.prepare_model(model, 6)
    objective.bind(model)
    sampler = objective.time_sampler
    assert isinstance(sampler, expected)
    if expected is PowerTime:
        assert sampler.schedule is model.order_schedule
    fixed = objective_for(load_config(dict(_cfg(), loss={"schedule": "linear"})))
    fixed.bind(torch.nn.Module())
    assert isinstance(fixed.time_sampler, AntitheticTime)  # others unchanged


@pytest.mark.parametrize("override", ["loss.order_times=uniform", "loss.order_draws=1",
                                      "loss.order_estimator=reinforce",
                                      "model.time_conditioned=true", "loss.order_init=0"])
def test_bad_order_options_raise(override):
    with pytest.raises(MDMError):
        load_config(_cfg(), [override])
