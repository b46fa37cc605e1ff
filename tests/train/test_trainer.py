import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

import mdm
from mdm.errors import CheckpointError, ConfigError
from mdm.tasks.base import DataBundle, TensorItems, register_task, sft_item
from mdm.tokenizers import CharTokenizer
from mdm.train import checkpoint, load_config, train

TINY = [
    "model.d_model=16", "model.n_layers=1", "model.n_heads=2", "data.seq_len=16", "data.max_chars=4000",
    "batch_size=4", "log_every=1", "eval_every=3", "eval_batches=1", "eval_samples=1", "threads=1",
    "precision=fp32", "optim.warmup_steps=2",
]


def _cfg(*extra):
    return load_config(None, TINY + list(extra))


def _weights(path, name="model.safetensors"):
    return load_file(str(path / name))


def _assert_bitwise_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path):
    # dropout, time conditioning, EMA and accumulation all draw on state that must survive a resume
    extra = ["max_steps=6", "grad_accum=2", "ema=0.9", "model.dropout=0.1", "model.time_conditioned=true"]
    full = train(_cfg(*extra), out_dir=tmp_path / "full", progress=False, resume=False)
    assert full.steps == 6 and not full.interrupted
    part = train(_cfg(*extra, "stop_after=4"), out_dir=tmp_path / "part", progress=False)
    assert part.steps == 4 and part.interrupted
    assert checkpoint.load_trainer_state(part.checkpoint)["step"] == 4
    resumed = train(_cfg(*extra), out_dir=tmp_path / "part", progress=False, resume="auto")
    assert resumed.steps == 6 and not resumed.interrupted
    assert resumed.tokens_seen == full.tokens_seen == 6 * 2 * 4 * 16
    for name in ("model.safetensors", "ema.safetensors"):
        _assert_bitwise_equal(_weights(full.checkpoint, name), _weights(resumed.checkpoint, name))
    s_full = checkpoint.load_trainer_state(full.checkpoint)
    s_res = checkpoint.load_trainer_state(resumed.checkpoint)
    for p, st in s_full["optimizer"]["state"].items():
        assert torch.equal(st["exp_avg_sq"], s_res["optimizer"]["state"][p]["exp_avg_sq"])
    # metrics: one train row per step, no duplicates after resuming; val rows identical
    rows = [r for r in resumed.metrics if r["split"] == "train"]
    assert [r["step"] for r in rows] == list(range(1, 7))
    val = lambda res: [(r["step"], r["val_bits_per_token"]) for r in res.metrics if r["split"] == "val"]
    assert val(full) == val(resumed) and [s for s, _ in val(full)] == [3, 6]
    # a resumed run must use the same model/data config
    with pytest.raises(ConfigError, match="model config differs"):
        train(_cfg(*extra, "model.d_model=32"), out_dir=tmp_path / "part", progress=False, resume=True)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        train(_cfg(*extra), out_dir=tmp_path / "fresh", progress=False, resume=True)


def test_validation_metrics_and_loaded_model(tmp_path):
    res = train(_cfg("max_steps=3", "ema=0.5"), out_dir=tmp_path, progress=False)
    v = res.final_val
    assert v["val_weights"] == "ema" and v["val_bits_per_char"] == v["val_bits_per_token"]  # char level
    assert v["val_bits_per_token"] == pytest.approx(v["val_nelbo_nats_per_token"] / math.log(2))
    # an untrained model is near uniform over the vocabulary: NELBO ~ log V per token (ELBO weight 1/t)
    model, tok = mdm.load(res.checkpoint)
    assert 0.5 * math.log(tok.vocab_size) < v["val_nelbo_nats_per_token"] < 2.0 * math.log(tok.vocab_size)
    assert model.config.max_len == 16 and model.vocab_size == tok.vocab_size
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == res.metrics
    assert {"loss", "lr", "grad_norm", "tokens_per_s", "tokens_seen"} <= set(res.metrics[0])
    assert (tmp_path / "config.yaml").is_file()


def test_sft_task_bf16_and_accumulation(tmp_path):
    tok = CharTokenizer("0123456789+=")

    @register_task("unit-sft-sum")
    def build(seq_len, seed=0, n=24):
        g = torch.Generator().manual_seed(seed)
        items = []
        for _ in range(n):
            a, b = (int(v) for v in torch.randint(0, 50, (2,), generator=g))
            items.append(sft_item(tok.encode(f"{a}+{b}="), tok.encode(str(a + b)), seq_len,
                                  pad_id=tok.pad_id, eos_id=tok.eos_id))
        data = TensorItems.from_items(items)
        return DataBundle(train=data, val=data, tokenizer=tok, seq_len=seq_len)

    cfg = _cfg("data.task=unit-sft-sum", "data.seq_len=10", "data.options.n=16", "precision=bf16",
               "loss.normalize=sequence", "grad_accum=2", "max_steps=2", "loss.time_sampler=stratified")
    res = train(cfg, out_dir=tmp_path, progress=False)
    assert res.steps == 2 and "val_bits_per_char" not in res.final_val
    assert math.isfinite(res.final_val["val_bits_per_token"])
    _, tok2 = mdm.load(res.checkpoint)
    assert tok2 == tok


def test_sigterm_saves_a_checkpoint_and_the_run_resumes(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps(_cfg("max_steps=100000", "eval_every=0").to_dict()))
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "mdm.train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.stdout.read().decode()
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 143, out
    state = checkpoint.load_trainer_state(tmp_path / "run" / "checkpoint")
    step = state["step"]
    assert step >= 2 and checkpoint.read_config(tmp_path / "run" / "checkpoint")["metadata"]["step"] == step
    res = train(_cfg(f"max_steps={step + 1}", "eval_every=0"), out_dir=tmp_path / "run", progress=False)
    assert res.steps == step + 1 and not res.interrupted
