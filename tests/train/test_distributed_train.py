"""torchrun with 2 gloo processes reaches the parameters of one process with the same global batch."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from mdm.train import checkpoint, load_config, train

TINY = [
    "model.d_model=16", "model.n_layers=2", "model.n_heads=2", "data.seq_len=16", "data.max_chars=4000",
    "batch_size=4", "log_every=1", "eval_every=2", "eval_batches=1", "eval_samples=1", "threads=1",
    "precision=fp32", "optim.warmup_steps=1", "max_steps=4", "ema=0.9",
]


def _torchrun(cfg_path, out, nproc=2):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "mdm.train", str(cfg_path), "--out", str(out), "--quiet"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.distributed
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_match_one_process_with_same_global_batch(tmp_path, strategy):
    # one process: 4 per micro-batch x 2 accumulation steps; two processes: 4 per rank x 1
    single = train(load_config(None, TINY + ["grad_accum=2"]), out_dir=tmp_path / "single", progress=False)
    cfg = tmp_path / "cfg.yaml"
    multi_cfg = load_config(None, TINY + ["grad_accum=1", f"distributed={strategy}"])
    cfg.write_text(json.dumps(multi_cfg.to_dict()))
    _torchrun(cfg, tmp_path / "multi")
    multi_ckpt = tmp_path / "multi" / "checkpoint"
    assert checkpoint.load_trainer_state(multi_ckpt)["world_size"] == 2
    for name in ("model.safetensors", "ema.safetensors"):
        a, b = load_file(str(single.checkpoint / name)), load_file(str(multi_ckpt / name))
        assert a.keys() == b.keys()
        for k in a:
            # same examples and noise per micro-batch; only the gradient summation order differs
            torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
    rows = [json.loads(x) for x in (tmp_path / "multi" / "metrics.jsonl").read_text().splitlines()]
    losses_multi = [r["loss"] for r in rows if r["split"] == "train"]
    losses_single = [r["loss"] for r in single.metrics if r["split"] == "train"]
    assert losses_multi == pytest.approx(losses_single, rel=1e-4)
