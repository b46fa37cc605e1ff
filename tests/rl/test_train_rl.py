"""RL through the trainer: ``mdm train`` with ``loss.kind: diffu-grpo`` / ``spg`` from an SFT
checkpoint -- exact resume (reference, rollout buffer and sampler RNG included), metrics, errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from mdm.errors import ConfigError
from mdm.rl.rewards import REWARDS
from mdm.train import load_config, train
from mdm.train.metrics import read_metrics

OPTIONS = "data.options={max_digits: 1, ops: ['+'], reverse: true, n_train: 64, n_test: 16}"
TINY = [
    "batch_size=4",
    "eval_every=0",
    "threads=1",
    "precision=fp32",
    "optim.warmup_steps=0",
    "model.d_model=16",
    "model.n_layers=1",
    "model.n_heads=2",
    "ema=0",
    "data.seq_len=8",
    OPTIONS,
]


def _even_first_token(**_):
    """A reward that varies within groups even for an untrained model: the first answer token is even."""
    return lambda tokens, prompt_len: (tokens[:, prompt_len] % 2 == 0).float()


if "test-even-first" not in REWARDS:
    REWARDS.register("test-even-first", _even_first_token)


@pytest.fixture(scope="module")
def sft(tmp_path_factory):
    root = tmp_path_factory.mktemp("rl")
    return train(
        load_config("arithmetic-small", TINY + ["max_steps=2"]), out_dir=root / "sft", progress=False
    ).checkpoint


def _rl(sft, *extra, kind="diffu-grpo"):
    name = "rl-arithmetic" if kind == "diffu-grpo" else "rl-arithmetic-spg"
    return load_config(
        name,
        TINY
        + [
            f"loss.init={sft}",
            "loss.group_size=3",
            "loss.inner_updates=3",
            "max_steps=4",
            "log_every=1",
            "save_every=0",
            "eval_every=2",
            "eval_batches=1",
            "optim.lr=0.01",
            "loss.reward=test-even-first",
            *extra,
        ],
    )


@pytest.mark.parametrize("kind", ["diffu-grpo", "spg"])
def test_resume_is_bitwise_and_metrics_are_logged(sft, tmp_path, kind):
    extra = ["loss.upper_draws=2"] if kind == "spg" else []
    full = train(_rl(sft, *extra, kind=kind), out_dir=tmp_path / "full", progress=False)
    part = train(_rl(sft, *extra, "stop_after=2", kind=kind), out_dir=tmp_path / "part", progress=False)
    assert part.steps == 2 and part.interrupted
    rest = train(_rl(sft, *extra, kind=kind), out_dir=tmp_path / "part", progress=False)  # resumes: auto
    assert rest.steps == 4
    a = load_file(str(full.checkpoint / "model.safetensors"))
    b = load_file(str(rest.checkpoint / "model.safetensors"))
    start = load_file(str(sft / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], start[k]) for k in a)  # it trained
    rows = [r for r in read_metrics(full.out_dir / "metrics.jsonl") if r.get("split") == "train"]
    for key in ("reward_mean", "reward_ci95", "nfe_per_rollout", "rollout_s", "loss"):
        assert all(key in r for r in rows), key
    if kind == "diffu-grpo":
        assert all("kl" in r and "entropy" in r for r in rows)
    assert any("update_s" in r for r in rows)
    val = [r for r in read_metrics(full.out_dir / "metrics.jsonl") if r.get("split") == "val"]
    assert val and all(0.0 <= r["val_reward_mean"] <= 1.0 for r in val)


def test_the_reference_is_the_sft_model_and_is_saved(sft, tmp_path):
    from mdm.train.checkpoint import load_trainer_state

    res = train(_rl(sft, "max_steps=2"), out_dir=tmp_path / "r", progress=False)
    state = load_trainer_state(res.checkpoint)["objective"]
    start = load_file(str(sft / "model.safetensors"))
    assert all(torch.equal(state["reference"][k], start[k]) for k in start)
    assert state["calls"] == 2 and state["buffer"]["rollout"]["tokens"].shape[0] == 4 * 3


def test_missing_init_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no SFT checkpoint"):
        train(_rl(tmp_path / "nowhere"), out_dir=tmp_path / "x", progress=False)
    assert not (tmp_path / "x" / "checkpoint").exists()
    with pytest.raises(ConfigError, match="grad_accum"):
        train(_rl(tmp_path / "nowhere", "grad_accum=2"), out_dir=tmp_path / "y", progress=False)
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "mdm.cli",
            "train",
            "rl-arithmetic",
            "--set",
            f"loss.init={tmp_path / 'nowhere'}",
            "--out",
            str(tmp_path / "z"),
        ],
        capture_output=True,
        text=True,
    )
    assert (
        cli.returncode == 2
        and "no SFT checkpoint" in cli.stderr
        and len(cli.stderr.strip().splitlines()) == 1
    )


@pytest.mark.parametrize("kind", ["diffu-grpo", "spg"])
def test_an_easy_reward_rises(sft, tmp_path, kind):
    """End to end through the trainer: 'the first answer token is even' goes up within 30 steps."""
    res = train(
        _rl(sft, "max_steps=30", "eval_every=0", "optim.lr=0.03", "loss.inner_updates=1", kind=kind),
        out_dir=tmp_path / "r",
        progress=False,
    )
    r = [row["reward_mean"] for row in res.metrics if row.get("split") == "train"]
    first, last = sum(r[:5]) / 5, sum(r[-5:]) / 5
    print(kind, "reward first 5 steps", first, "last 5", last)
    assert last > first + 0.2


def test_a_nan_reward_is_caught_by_the_non_finite_guard(sft, tmp_path):
    from mdm.errors import NonFiniteError

    if "test-nan" not in REWARDS:
        REWARDS.register("test-nan", lambda **_: lambda tokens, p: torch.full((len(tokens),), float("nan")))
    with pytest.raises(NonFiniteError):
        train(
            _rl(sft, "loss.reward=test-nan", "max_nonfinite_steps=2"), out_dir=tmp_path / "n", progress=False
        )
    assert not (tmp_path / "n" / "checkpoint").exists()
