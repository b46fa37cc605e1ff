"""Model families: a config names one, the trainer builds it, checkpoints record and rebuild it;
time-conditioned models carry the schedule they trained with."""

import json
from dataclasses import dataclass

import pytest
import torch

import mdm
from mdm.errors import CheckpointError, ConfigError
from mdm.schedules import Cosine, Linear
from mdm.train import MODEL_FAMILIES, ModelFamily, build_model, checkpoint, load_config, train
from mdm.train.distributed import ForwardAdapter
from mdm.train.resume import check_compatible

TINY = ["data.seq_len=16", "data.max_chars=4000", "batch_size=4", "log_every=1", "eval_every=0",
        "eval_batches=1", "eval_samples=1", "threads=1", "precision=fp32", "optim.warmup_steps=0"]
TRANSFORMER = ["model.d_model=16", "model.n_layers=1", "model.n_heads=2"]


@dataclass
class BagConfig:
    vocab_size: int
    mask_id: int
    width: int = 8


class BagOfTokens(torch.nn.Module):
    """Logits from the token at each position alone (no context): the smallest trainable denoiser."""

    def __init__(self, config: BagConfig):
        super().__init__()
        self.config, self.vocab_size, self.mask_id = config, config.vocab_size, config.mask_id
        self.embed = torch.nn.Embedding(config.vocab_size, config.width)
        self.head = torch.nn.Linear(config.width, config.vocab_size)

    def forward(self, x, attention_mask=None):
        return self.head(self.embed(x))


@pytest.fixture
def bag_family(monkeypatch):
    monkeypatch.setitem(MODEL_FAMILIES._entries, "unit-bag", ModelFamily(BagConfig, BagOfTokens))


def test_a_registered_family_trains_through_train_and_loads_back(tmp_path, bag_family):
    cfg = load_config({"model": {"family": "unit-bag", "width": 4}}, TINY + ["max_steps=2"])
    assert cfg.model.family == "unit-bag" and cfg.model.width == 4
    assert load_config(cfg.to_dict()).model == cfg.model  # round-trips through its dict
    res = train(cfg, out_dir=tmp_path, progress=False)
    assert res.steps == 2 and all(torch.isfinite(torch.tensor(r["loss"])) for r in res.metrics if "loss" in r)
    model, tok = mdm.load(res.checkpoint)
    assert isinstance(model, BagOfTokens) and model.config == BagConfig(tok.vocab_size, tok.mask_id, 4)
    assert json.loads((res.checkpoint / "config.json").read_text())["model"]["kind"] == "unit-bag"
    with pytest.raises(ConfigError, match="unknown config key"):
        load_config({"model": {"family": "unit-bag", "d_model": 16}})
    with pytest.raises(ConfigError, match="model.width must be int"):
        load_config({"model": {"family": "unit-bag"}}, ["model.width=wide"])


def test_unknown_family_is_a_config_error_and_an_unregistered_checkpoint_a_checkpoint_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown model family 'nope'.*transformer"):
        load_config(None, ["model.family=nope"])
    res = train(load_config(None, TINY + TRANSFORMER + ["max_steps=1"]), out_dir=tmp_path, progress=False)
    cfg_file = res.checkpoint / "config.json"
    saved = json.loads(cfg_file.read_text())
    saved["model"]["kind"] = "nope"
    cfg_file.write_text(json.dumps(saved))
    with pytest.raises(CheckpointError, match="unknown model kind 'nope'"):
        checkpoint.load(res.checkpoint, verify=False)


def test_a_checkpoint_written_before_families_still_loads_and_resumes(tmp_path):
    cfg = load_config(None, TINY + TRANSFORMER + ["max_steps=1"])
    res = train(cfg, out_dir=tmp_path, progress=False)
    cfg_file = res.checkpoint / "config.json"
    saved = json.loads(cfg_file.read_text())
    del saved["train"]["model"]["family"]  # what the trainer wrote before model.family existed
    cfg_file.write_text(json.dumps(saved))
    model, _ = checkpoint.load(res.checkpoint, verify=False)
    assert model.config.d_model == 16
    check_compatible(saved["train"], cfg, res.checkpoint)
    with pytest.raises(ConfigError, match="model config differs"):
        check_compatible(saved["train"], load_config(cfg.to_dict(), ["model.d_model=32"]), res.checkpoint)


def test_time_conditioned_models_carry_their_training_schedule(tmp_path):
    base = TINY + TRANSFORMER + ["max_steps=1"]
    cosine = load_config(None, base + ["model.time_conditioned=true", "loss.schedule=cosine"])
    res = train(cosine, out_dir=tmp_path / "cos", progress=False)
    model, tok = mdm.load(res.checkpoint)
    assert model.schedule == Cosine() and build_model(cosine, tok).schedule == Cosine()
    assert ForwardAdapter(model).schedule == Cosine()  # validation calls the model through it
    linear = load_config(None, base + ["model.time_conditioned=true"])
    res = train(linear, out_dir=tmp_path / "lin", progress=False)
    assert mdm.load(res.checkpoint)[0].schedule == Linear()
    # a time-independent model has no training time to match: it carries no schedule
    res = train(load_config(None, base + ["loss.schedule=cosine"]), out_dir=tmp_path / "ti", progress=False)
    assert not hasattr(mdm.load(res.checkpoint)[0], "schedule")


def test_loss_schedule_uses_the_one_schedule_grammar():
    assert load_config(None, ["loss.schedule=poly:2"]).loss.schedule == "poly:2"
    assert load_config(None, ["loss.schedule=beta:0.9,0.3"]).loss.schedule == "beta:0.9,0.3"
    for bad in ("polynomial:2", "poly", "cosine:1", "beta:a,b"):
        with pytest.raises(ConfigError, match="loss.schedule"):
            load_config(None, [f"loss.schedule={bad}"])


def test_samplers_are_registries(tmp_path):
    from mdm.train.loop import MASK_SAMPLERS, TIME_SAMPLERS

    assert {"uniform", "antithetic", "stratified"} <= set(TIME_SAMPLERS) and "bernoulli" in MASK_SAMPLERS
    with pytest.raises(ConfigError, match="unknown loss.time_sampler 'nope'; known: antithetic"):
        train(load_config(None, TINY + TRANSFORMER + ["max_steps=1", "loss.time_sampler=nope"]),
              out_dir=tmp_path, progress=False)
