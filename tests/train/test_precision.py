"""precision: auto resolves to bf16 only where the device computes bf16 natively."""

import warnings

import pytest
import torch

from mdm.errors import ConfigError
from mdm.train import load_config, precision, train
from mdm.train.precision import resolve_precision, warn_if_emulated

NATIVE = {"avx512_f": True, "avx512_bf16": True}
EMULATED = {"avx512_f": True, "avx512_bf16": False}


@pytest.fixture
def cpu_flags(monkeypatch):
    def set_flags(flags):
        monkeypatch.setattr(precision, "_cpu_flags", lambda: dict(flags))
    return set_flags


def test_auto_is_bf16_only_on_a_cpu_with_native_bf16(cpu_flags):
    cpu_flags(NATIVE)
    choice, why = resolve_precision("auto", "cpu")
    assert choice == "bf16" and "native bf16" in why and "+avx512_bf16" in why
    cpu_flags({"amx_bf16": True})
    assert resolve_precision("auto", torch.device("cpu"))[0] == "bf16"
    cpu_flags(EMULATED)
    choice, why = resolve_precision("auto", "cpu")
    assert choice == "fp32" and "no native bf16" in why


def test_explicit_choices_are_honoured_and_emulated_bf16_warns_once(cpu_flags):
    cpu_flags(EMULATED)
    assert resolve_precision("fp32", "cpu")[0] == "fp32"
    choice, why = resolve_precision("bf16", "cpu")
    assert choice == "bf16" and "slower" in why
    with pytest.warns(RuntimeWarning, match="no native bf16") as record:
        warn_if_emulated(choice, why, "cpu")
    assert len(record) == 1
    cpu_flags(NATIVE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_emulated(*resolve_precision("bf16", "cpu"), "cpu")
    with pytest.raises(ConfigError, match="precision must be one of"):
        resolve_precision("fp16", "cpu")


def test_cuda_follows_the_device_bf16_support(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "FakeGPU")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", "cuda") == ("bf16", "auto: CUDA device FakeGPU has native bf16")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", "cuda")[0] == "fp32"


def test_auto_is_the_default_everywhere():
    from mdm.train import TrainConfig, packaged_configs

    assert TrainConfig().precision == "auto"
    for name in packaged_configs():
        assert load_config(name).precision == "auto", name


TINY = ["model.d_model=16", "model.n_layers=1", "model.n_heads=2", "data.seq_len=16", "data.max_chars=4000",
        "batch_size=4", "log_every=1", "eval_every=0", "eval_batches=1", "eval_samples=1", "threads=1",
        "max_steps=1", "optim.warmup_steps=0", "device=cpu"]


@pytest.mark.parametrize("flags, expected", [(EMULATED, "fp32"), (NATIVE, "bf16")])
def test_the_trainer_prints_and_records_the_resolved_precision(tmp_path, cpu_flags, capsys, flags, expected):
    cpu_flags(flags)
    res = train(load_config(None, TINY), out_dir=tmp_path, progress=True)
    assert f"precision: {expected} (auto: CPU" in capsys.readouterr().out
    assert {row["precision"] for row in res.metrics} == {expected}
