"""``mdm exp steps-vs-length``: the model's training budget, the quick preset.

The quick preset is run end to end once (about 20 s on 2 cores) and its oracle curves must have
the claim's shape: the N needed for a small token-error gap does not grow with L, the N needed for
a fixed SER does.  (The exact oracles: ``tests/languages/test_markov_oracle.py``; thresholds and
exponents: ``tests/eval/test_scaling.py``.)
"""

from __future__ import annotations

import json
import math

import pytest

from mdm import experiments
from mdm.errors import ConfigError
from mdm.experiments import steps_vs_length as svl
from mdm.experiments.runner import TrainingInterrupted
from mdm.experiments.steps_vs_length.model import ModelSetup, train_on_language


def test_step_grid():
    assert svl.step_grid(16) == [1, 2, 4, 8, 16]
    assert svl.step_grid(16, 4) == [1, 2, 4, 8, 16, 32, 64]
    assert svl.step_grid(24) == [1, 2, 4, 8, 16, 24]


def test_unknown_preset_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="unknown preset"):
        experiments.run("steps-vs-length", "huge", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_model_is_trained_by_the_trainer_on_padded_mixed_lengths(tmp_path):
    """One model for L = 4 and 8 through mdm.train: a step consumes ``batch_size`` sequences of
    the 1/L mix, so the budget is ``tokens_per_step`` real tokens per step on average."""
    setup = ModelSetup("x", lengths=(4, 8), steps=3, tokens_per_step=96, d_model=16, n_layers=1, n_heads=2)
    assert setup.batch_size() == 18 and setup.n_train() == 54  # 96 / harmonic mean 16/3
    model, summary = train_on_language(svl.SPARSE, setup, tmp_path / "run", seed=1)
    assert summary["train_steps"] == 3 and summary["train_tokens"] == 36 * 4 + 18 * 8 == 3 * 96
    assert set(summary["heldout_nelbo_per_token"]) == {4, 8}
    assert all(math.isfinite(v) for v in summary["heldout_nelbo_per_token"].values())
    assert math.isfinite(summary["train_loss_last50"]) and summary["model_config"]["max_len"] == 8
    config = json.loads((tmp_path / "run" / "checkpoint" / "config.json").read_text())
    assert config["train"]["data"]["options"]["lengths"] == [4, 8]
    assert config["train"]["precision"] == "fp32" and config["train"]["ema"] == 0.0
    assert not model.training


def test_an_interrupted_training_raises(tmp_path, monkeypatch):
    """A training stopped early (SIGINT/SIGTERM: the trainer returns ``interrupted=True``) must
    not become a cached part: :func:`train_on_language` raises instead of using the model."""
    import mdm.train
    from mdm.train.loop import TrainResult

    def stopped(cfg, **kwargs):
        return TrainResult(checkpoint=tmp_path / "none", out_dir=tmp_path, steps=1, interrupted=True)

    monkeypatch.setattr(mdm.train, "train", stopped)
    setup = ModelSetup("x", lengths=(4,), steps=3, tokens_per_step=32, d_model=16, n_layers=1, n_heads=2)
    with pytest.raises(TrainingInterrupted, match="step 1 of 3"):
        train_on_language(svl.SPARSE, setup, tmp_path / "run")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("steps-vs-length")
    return experiments.run("steps-vs-length", "quick", out, seed=0), out


def test_quick_preset_writes_its_outputs(quick):
    result, out = quick
    saved = json.loads((out / "result.json").read_text())
    assert saved["rows"] and saved == result
    assert saved["provenance"]["command"] == "mdm exp steps-vs-length --preset quick --seed 0"
    report = (out / "report.md").read_text()
    assert "## Verdict" in report and "ngram-sparse" in report
    for name in ("ter_gap_vs_steps.png", "ser_vs_steps.png", "steps_needed_vs_length.png"):
        assert name in result["plots"] and (out / name).stat().st_size > 0
        assert f"]({name})" in report
    # The trained-model half ran: a model, its held-out bound, its sweep.
    (model,) = result["models"]
    assert math.isfinite(model["heldout_nelbo_per_token"]["16"])  # keys as in result.json
    assert any(r["denoiser"] == "model" for r in result["rows"])


def test_quick_preset_exact_sampler_is_exact(quick):
    """Scheduled random order at N = L reveals one token per step from the exact conditionals:
    an exact sampler, so no impossible sequence (SER exactly 0) and a token-error gap within
    four standard errors of 0 (1024 samples per length)."""
    result, _ = quick
    rows = [r for r in result["rows"] if r["denoiser"] == "oracle" and r["sampler"] == "random"
            and r["steps"] == r["length"]]
    assert len(rows) == 3
    for r in rows:
        assert r["ser"] == 0.0
        assert abs(r["gap"]) < 4 * r["gap_stderr"]


def test_quick_preset_has_the_claimed_shape(quick):
    """On the exact oracle with the ancestral sampler, L from 16 to 64 (4x):

    * TER (full-support bigram, perplexity within 5%): the N needed stays flat -- at most 1.5x
      from L=16 to L=64, growth exponent <= 0.25;
    * SER (sparse bigram, SER <= 10%): the N needed grows with every doubling of L and by at
      least 2.5x overall, exponent >= 0.75 (theory: linear, 4x).
    """
    result, _ = quick
    curves = result["analysis"]["curves"]
    ter = curves["oracle/ngram-dense/ancestral"]
    n_ter = [ter["per_length"][n]["n_ter"] for n in ("16", "32", "64")]
    assert all(v is not None for v in n_ter), n_ter
    assert max(n_ter) <= 1.5 * min(n_ter), n_ter
    assert ter["ter_exponent"] <= 0.25

    for sampler in ("ancestral", "random"):
        ser = curves[f"oracle/ngram-sparse/{sampler}"]
        n_ser = [ser["per_length"][n]["n_ser"] for n in ("16", "32", "64")]
        assert all(v is not None for v in n_ser), (sampler, n_ser)
        assert n_ser[0] < n_ser[1] < n_ser[2], (sampler, n_ser)
        assert n_ser[2] >= 2.5 * n_ser[0], (sampler, n_ser)
        assert ser["ser_exponent"] >= 0.75
    assert result["analysis"]["ter_half"]["overall"] == "reproduced"
    assert result["analysis"]["ser_half"]["overall"] == "reproduced"


def test_quick_preset_scaling_part(quick):
    """The scaling part at toy size: every (order, seed, metric, L) has a bracketed N*, and the
    summary's exponent is the mean of the per-seed log-log slopes with a CI around it."""
    from mdm.eval.scaling import loglog_slope

    result, out = quick
    assert set(result["scaling"]) == {"order-2", "order-3"}
    for s in result["scaling"].values():
        assert len(s["seeds"]) == 2
        for metric in ("ter", "ser"):
            x = s["summary"][metric]
            slopes = [loglog_slope(x["lengths"], n) for n in x["n_star_by_seed"]]
            assert x["exponent"]["mean"] == pytest.approx(sum(slopes) / 2, abs=1e-12)
            assert x["exponent"]["lo"] <= x["exponent"]["mean"] <= x["exponent"]["hi"]
            for seed in s["seeds"]:
                for row in seed[metric]:
                    errors = {int(n): e for n, e in row["errors"].items()}
                    assert min(errors) <= row["n_star"] <= max(errors)  # bracketed by evaluated points
    assert "exponent, 95% CI over seeds" in (out / "report.md").read_text()
