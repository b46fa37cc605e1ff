"""Loading lives outside the trainer: ``mdm.load`` (:mod:`mdm.loading`) reads a checkpoint or an
exported folder with one parse of its config.json, and ``mdm sample / eval / export / tune-schedule``
run without importing ``mdm.train``."""

from __future__ import annotations

import inspect
import json
import pathlib
import subprocess
import sys
import textwrap

import pytest
import torch

import mdm
from mdm.train import load_config, train

TINY = ["data.max_chars=4000", "batch_size=4", "max_steps=1", "eval_every=0", "threads=1", "precision=fp32",
        "optim.warmup_steps=0", "model.d_model=16", "model.n_layers=1", "model.n_heads=2"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("loading")
    text = train(load_config(None, TINY + ["data.seq_len=16"]), out_dir=root / "text", progress=False)
    options = "data.options={max_digits: 2, ops: ['+'], n_train: 64, n_test: 16}"
    task = train(load_config("arithmetic-small", TINY + [options]), out_dir=root / "task", progress=False)
    return root, text.checkpoint, task.checkpoint


def test_mdm_load_keeps_its_signature_and_is_mdm_loading():
    import mdm.loading

    assert mdm.load is mdm.loading.load
    assert str(inspect.signature(mdm.load)) == (
        "(path: 'str | Path', *, ema: 'bool' = True, device: 'str | torch.device' = 'cpu', "
        "verify: 'bool' = True) -> 'tuple[torch.nn.Module, Tokenizer]'")


def test_config_json_is_read_once_per_load(runs, monkeypatch):
    root, text, _ = runs
    from mdm.models.hf.export import export

    model, tok = mdm.load(text)
    export(model, tok, root / "hf")
    reads = []
    real = pathlib.Path.read_text

    def read_text(self, *a, **k):
        if self.name == "config.json":
            reads.append(self)
        return real(self, *a, **k)

    monkeypatch.setattr(pathlib.Path, "read_text", read_text)
    for path in (text, root / "hf"):
        reads.clear()
        again, _ = mdm.load(path)
        assert len(reads) == 1, (path, reads)
        x = torch.randint(0, tok.mask_id, (1, 8))
        with torch.no_grad():
            assert torch.allclose(again(x), model(x), atol=1e-5)


SCRIPT = """
import sys
from mdm import cli

for argv in {commands!r}:
    rc = cli.main(argv)
    assert rc == 0, (argv, rc)
    trainer = sorted(m for m in sys.modules if m == "mdm.train" or m.startswith("mdm.train."))
    print(argv[0], trainer)
"""


def test_sample_eval_export_and_tune_schedule_do_not_import_the_trainer(runs):
    root, text, task = runs
    commands = [
        ["sample", str(text), "--length", "8", "--steps", "4", "--num", "1"],
        ["eval", str(text), "--max-sequences", "2", "--elbo-samples", "1", "--num", "1", "--no-genppl"],
        ["export", str(text), str(root / "exported")],
        ["tune-schedule", "--checkpoint", str(task), "--steps", "2", "--samples", "2",
         "--refine-samples", "2", "--top", "1", "--grid-a", "0.5", "--grid-b", "0.5",
         "--out", str(root / "tuned"), "--no-progress"],
    ]
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT.format(commands=commands))],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line for line in out.stdout.splitlines() if line.split(" ")[0] in
             ("sample", "eval", "export", "tune-schedule")]
    assert lines == [f"{c[0]} []" for c in commands], out.stdout[-2000:]
    assert json.loads((root / "tuned" / "result.json").read_text())
