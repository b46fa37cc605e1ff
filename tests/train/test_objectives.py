"""The Objective seam: an objective registered from outside the package trains through
``mdm.train.train()`` and ``mdm train`` with no edit to the trainer, its typed ``loss`` section checked,
its calibration state kept in the checkpoint (resume is bitwise equal to an uninterrupted run), its
validation metric reported; the built-in objectives come from the same registry."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
import yaml

from mdm import cli
from mdm.errors import ConfigError
from mdm.train import OBJECTIVES, Objective, checkpoint, load_config, train

DATA = {"task": "exact-language", "seq_len": 6,
        "options": {"spec": "ngram:vocab=4,order=2,branching=2,seed=0", "n_train": 64, "n_val": 8}}
CONFIG = {
    "model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "learned_positions": True},
    "data": DATA, "loss": {"kind": "unit-ce", "label_smoothing": 0.1},
    "batch_size": 4, "max_steps": 6, "eval_every": 3, "eval_batches": 1, "eval_samples": 1, "log_every": 1,
    "threads": 1, "device": "cpu", "precision": "fp32", "optim": {"warmup_steps": 1},
}


@dataclass
class PlainCEOptions:
    label_smoothing: float = 0.0
    calibration_examples: int = 8


class PlainCE(Objective):
    """Cross-entropy of the clean tokens given the clean input (no masking at all), each token weighted
    by 1 / (0.1 + the model's mean predicted probability of it before step 1): a calibration that
    depends on the model, so a resumed run must take it from the checkpoint, not refit it."""

    Config = PlainCEOptions

    @classmethod
    def check(cls, config, train_config) -> None:
        if not 0.0 <= config.label_smoothing < 1.0:
            raise ConfigError(f"loss.label_smoothing must be in [0, 1), got {config.label_smoothing}")

    def calibrate(self, model, bundle, state, device, out) -> None:
        if state is not None:
            self.weights = state["weights"]
            return
        x = torch.stack([bundle.train[i]["input_ids"] for i in range(self.config.calibration_examples)])
        with torch.no_grad():
            p = model(x.to(device)).softmax(-1).mean((0, 1)).double()
        self.weights = (1.0 / (0.1 + p)).float().cpu()

    def state_dict(self) -> dict:
        return {"weights": self.weights}

    def loss(self, model, batch, generator):
        x, keep = batch["input_ids"], batch["eligible"].float()
        logits = model(x, attention_mask=batch.get("attention_mask"))
        ce = F.cross_entropy(logits.transpose(1, 2), x, weight=self.weights.to(logits.device),
                             reduction="none", label_smoothing=self.config.label_smoothing)
        per_sample, n = (ce * keep).sum(1), keep.sum()
        return SimpleNamespace(loss=per_sample.sum() / n.clamp_min(1), per_sample=per_sample, num_eligible=n)

    def val_row(self, nats, bundle) -> dict:
        return {"val_clean_ce": nats}


@pytest.fixture
def plain_ce(monkeypatch):
    """Registered as a user would (``OBJECTIVES.register``), removed again after the test."""
    monkeypatch.setattr(OBJECTIVES, "_entries", dict(OBJECTIVES._entries))
    OBJECTIVES.register("unit-ce", PlainCE)


def _weights(run):
    return checkpoint.load_weights(run / "checkpoint")


def _equal(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_registered_objective_trains_and_resumes_bitwise_through_train(tmp_path, plain_ce):
    cfg = load_config(CONFIG)
    assert isinstance(cfg.loss, PlainCEOptions) and cfg.loss.kind == "unit-ce"
    full = train(cfg, out_dir=tmp_path / "full", progress=False)
    assert full.steps == 6 and set(full.final_val) >= {"val_clean_ce", "val_sequences"}
    assert "val_nelbo_nats_per_token" not in full.final_val
    assert [r["step"] for r in full.metrics if r["split"] == "val"] == [3, 6]
    train(dict(CONFIG, stop_after=3), out_dir=tmp_path / "part", progress=False)
    state = checkpoint.load_trainer_state(tmp_path / "part" / "checkpoint")
    assert torch.equal(state["objective"]["weights"], full_weights := _ce_weights(tmp_path / "full"))
    resumed = train(CONFIG, out_dir=tmp_path / "part", progress=False, resume=True)
    assert resumed.steps == 6 and _equal(_weights(tmp_path / "full"), _weights(tmp_path / "part"))
    assert torch.equal(_ce_weights(tmp_path / "part"), full_weights)


def _ce_weights(run):
    return checkpoint.load_trainer_state(run / "checkpoint")["objective"]["weights"]


def test_a_registered_objective_trains_and_resumes_through_the_cli(tmp_path, plain_ce, capsys):
    cfg = tmp_path / "ce.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    assert cli.main(["train", str(cfg), "--out", str(tmp_path / "full"), "--quiet"]) == 0
    assert "validation clean_ce" in capsys.readouterr().out
    assert cli.main(["train", str(cfg), "--set", "stop_after=2", "--out", str(tmp_path / "part"),
                     "--quiet"]) == 0
    assert cli.main(["train", str(cfg), "--out", str(tmp_path / "part"), "--resume", "--quiet"]) == 0
    assert _equal(_weights(tmp_path / "full"), _weights(tmp_path / "part"))
    # the same config through train() gives the same weights
    train(CONFIG, out_dir=tmp_path / "api", progress=False)
    assert _equal(_weights(tmp_path / "full"), _weights(tmp_path / "api"))


def test_the_loss_section_is_the_objectives_typed_keys(plain_ce, capsys):
    with pytest.raises(ConfigError, match=r"unknown config key.*'loss.schedule'.*loss.label_smoothing"):
        load_config(CONFIG, ["loss.schedule=cosine"])
    with pytest.raises(ConfigError, match="loss.label_smoothing must be float"):
        load_config(CONFIG, ["loss.label_smoothing=lots"])
    with pytest.raises(ConfigError, match=r"loss.label_smoothing must be in \[0, 1\)"):
        load_config(CONFIG, ["loss.label_smoothing=1.5"])
    with pytest.raises(ConfigError,
                       match="unknown loss.kind 'nope'; known: ap-mdm, bd3lm, diffu-grpo, learned-order"):
        load_config(CONFIG, ["loss.kind=nope"])
    assert cli.main(["train", "kjv-char-tiny", "--set", "loss.kind=nope"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("old, kind", [
    ({}, "nelbo"),
    ({"loss": {"schedule": "cosine", "order_draws": 4}}, "nelbo"),  # an old trainer wrote order_* always
    ({"loss": {"schedule": "per-position", "order_init": 2.0}}, "learned-order"),
    ({"model": {"block_size": 4}, "data": {"seq_len": 16}}, "bd3lm"),
    ({"model": {"family": "anyprocess"}, "loss": {"schedule": "linear", "t_eps": 0.001}}, "ap-mdm"),
])
def test_configs_without_loss_kind_are_mapped_to_their_objective(old, kind):
    cfg = load_config(old)
    assert cfg.loss.kind == kind and isinstance(cfg.loss, OBJECTIVES.get(kind).Config)
    assert load_config(cfg.to_dict()) == cfg  # the written config names its objective
    if kind == "learned-order":
        assert cfg.loss.init == 2.0


def test_objectives_check_what_they_train():
    with pytest.raises(ConfigError, match="bd3lm needs a block-causal model"):
        load_config({"loss": {"kind": "bd3lm"}})
    with pytest.raises(ConfigError, match="trains with loss.kind: bd3lm"):
        load_config({"model": {"block_size": 4}, "data": {"seq_len": 16}, "loss": {"kind": "nelbo"}})
    with pytest.raises(ConfigError, match="anyprocess model trains with loss.kind: ap-mdm"):
        load_config({"model": {"family": "anyprocess"}, "loss": {"kind": "nelbo"}})
    with pytest.raises(ConfigError, match="learned-order needs model.time_conditioned: false"):
        load_config({"model": {"time_conditioned": True}, "loss": {"kind": "learned-order"}})
