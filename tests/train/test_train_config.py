import pytest

from mdm.errors import ConfigError
from mdm.train import TrainConfig, load_config, packaged_configs, valid_keys
from mdm.train.optim import lr_factor


def test_defaults_packaged_and_yaml_file(tmp_path):
    assert load_config() == TrainConfig()
    assert "kjv-char-tiny" in packaged_configs()
    for name in packaged_configs():
        cfg = load_config(name)
        assert isinstance(cfg, TrainConfig) and cfg.max_steps >= 1
    f = tmp_path / "c.yaml"
    f.write_text("max_steps: 7\noptim:\n  lr: 1e-4\nmodel: {d_model: 64}\n")
    cfg = load_config(f)
    assert (cfg.max_steps, cfg.optim.lr, cfg.model.d_model) == (7, 1e-4, 64)
    assert cfg.model.n_layers == TrainConfig().model.n_layers  # untouched keys keep defaults
    assert load_config(cfg.to_dict()) == cfg == TrainConfig.from_dict(cfg.to_dict())


def test_overrides_are_typed():
    cfg = load_config("kjv-char-tiny", [
        "optim.lr=3e-4", "model.n_layers=6", "precision=fp32", "model.time_conditioned=true",
        "data.max_chars=1000", "stop_after=null", "data.corpus=/tmp/x.txt", "ema=0", "data.options.k=3",
    ])
    assert cfg.optim.lr == pytest.approx(3e-4) and isinstance(cfg.optim.lr, float)
    assert cfg.model.n_layers == 6 and cfg.model.time_conditioned is True
    assert cfg.precision == "fp32" and cfg.data.max_chars == 1000 and cfg.stop_after is None
    assert cfg.data.corpus == "/tmp/x.txt" and cfg.ema == 0.0 and cfg.data.options == {"k": 3}
    assert load_config(None, ["optim.warmup_steps=1e2"]).optim.warmup_steps == 100


def test_unknown_keys_and_bad_values_raise_config_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'optim.lrr'.*optim.lr"):
        load_config(None, ["optim.lrr=1"])
    with pytest.raises(ConfigError, match="valid keys"):
        load_config({"modle": {}})
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["max_steps"])
    with pytest.raises(ConfigError, match="model.n_layers must be int"):
        load_config(None, ["model.n_layers=two"])
    with pytest.raises(ConfigError, match="model.time_conditioned must be bool"):
        load_config(None, ["model.time_conditioned=3"])
    with pytest.raises(ConfigError, match="precision must be one of"):
        load_config(None, ["precision=fp16"])
    with pytest.raises(ConfigError, match="batch_size must be >= 1"):
        load_config(None, ["batch_size=0"])
    with pytest.raises(ConfigError, match="packaged configs"):
        load_config("no-such-config")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)
    keys = valid_keys()
    assert "optim.lr" in keys and "model.d_model" in keys and "data.seq_len" in keys and "model" not in keys


def test_lr_warmup_then_cosine():
    kw = {"warmup_steps": 10, "max_steps": 110, "min_lr_ratio": 0.1}
    assert lr_factor(0, **kw) == pytest.approx(0.1)
    assert lr_factor(9, **kw) == pytest.approx(1.0)
    assert lr_factor(10, **kw) == pytest.approx(1.0)
    assert lr_factor(60, **kw) == pytest.approx(0.55)  # half way down the cosine
    assert lr_factor(110, **kw) == pytest.approx(0.1) == lr_factor(500, **kw)
