"""Shared by the `mdm` command's tests: a tiny checkpoint trained through `mdm train`, a runner."""

import shutil
import textwrap
from pathlib import Path

import pytest

from mdm import cli

TINY_CONFIG = textwrap.dedent(
    """
    model: {d_model: 16, n_layers: 1, n_heads: 2}
    data: {task: text, corpus: kjv, tokenizer: char, seq_len: 16, max_chars: 4000, val_fraction: 0.1}
    optim: {lr: 1.0e-3, warmup_steps: 1}
    batch_size: 4
    max_steps: 3
    precision: fp32
    eval_every: 0
    eval_batches: 1
    eval_samples: 1
    log_every: 1
    """
)


def _run(argv, capsys):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.fixture
def run():
    """``run(argv, capsys) -> (exit code, stdout, stderr)`` of ``mdm ARGV``."""
    return _run


@pytest.fixture
def tree():
    """``tree(path)``: every path under ``path``, to check that nothing was written."""
    return _tree


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    """A tiny checkpoint trained through `mdm train` (3 steps), shared by every CLI test file."""
    root = tmp_path_factory.mktemp("cli")
    cfg = root / "tiny.yaml"
    cfg.write_text(TINY_CONFIG)
    out = root / "run"
    rc = cli.main(["train", str(cfg), "--set", "seed=1", "--out", str(out), "--quiet"])
    assert rc == 0
    return out


@pytest.fixture
def corrupt_ckpt(run_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(run_dir / "checkpoint", bad)
    weights = bad / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    return bad


@pytest.fixture
def fake_module(tmp_path, monkeypatch):
    """``fake_module(name, source)``: an importable module ``name`` with ``source``, for this test only."""

    def make(name, source):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(tmp_path))

    return make
