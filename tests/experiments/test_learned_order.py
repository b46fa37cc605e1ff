"""`mdm exp learned-order`: the quick preset end to end through the CLI's entry point."""

from __future__ import annotations

import json
import math

import pytest

import mdm.experiments


@pytest.mark.slow
def test_quick_preset_runs_end_to_end(tmp_path):
    result = mdm.experiments.run("learned-order", "quick", tmp_path, seed=0)
    for name in (
        "result.json",
        "report.md",
        "w_over_training.png",
        "order_heatmap.png",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk["preset"] == "quick" and on_disk["provenance"]["seed"] == 0
    planted = result["planted"]
    for row in planted["seeds"].values():
        assert -1.0 <= row["learned"]["tau"] <= 1.0 and len(row["learned"]["w"]) == len(row["perm"])
        # a NELBO is an upper bound on the entropy (up to Monte-Carlo noise, here far below the gap)
        assert row["learned"]["nelbo"] > row["entropy"] and row["fixed"]["nelbo"] > row["entropy"]
    first = next(iter(planted["seeds"].values()))
    assert set(first["decoding"]["learned"]) == {
        "learned",
        "random",
        "confidence",
        "planted",
        "reverse-planted",
    }
    heat = first["heatmap"]
    assert all(math.isclose(sum(r), 1.0, abs_tol=1e-9) for r in heat)  # each position decoded once
    for key in ("gradients", "gradients_truncated"):  # training's PowerTime times; the eps-truncated ones
        g = first[key]
        assert g["rloo_total_var"] > 0 and g["pathwise_total_var"] > 0
        assert -1 <= g["cosine_rloo_pathwise"] <= 1
    assert -1 <= planted["tau_easy_first"]["mean"] <= 1 and "control" in first
    for task in ("circular", "stationary"):
        hard = result["hard_orders"][task]
        assert set(hard) >= {"rloo4", "rloo6", "pathwise", "control"}
        # the order-1 NELBO of any order lies between the entropy and its worst; the best attains the minimum
        assert hard["entropy"]["mean"] <= hard["order1_best"]["mean"] + 1e-9
        assert hard["order1_best"]["mean"] <= hard["rloo4"]["order1"]["mean"] + 1e-9
        for row in hard["seeds"].values():
            assert row["rloo4"]["nelbo"] > row["entropy"] and -1 <= row["pathwise"]["tau"] <= 1
    assert math.isnan(result["hard_orders"]["circular"]["tau_easy_first"]["mean"])  # every position ties
    iris = result["tables"]["iris"]
    assert iris["nelbo_learned"]["n"] == 2 and 0 <= iris["marginal_tv_fixed"]["mean"] <= 1
    # the paired learned - fixed difference is the mean of the per-seed differences, its CI brackets it
    diff = planted["nelbo_diff"]
    per_seed = [r["learned"]["nelbo"] - r["fixed"]["nelbo"] for r in planted["seeds"].values()]
    assert diff["mean"] == pytest.approx(sum(per_seed) / len(per_seed))
    assert diff["ci"][0] <= diff["mean"] <= diff["ci"][1] and 0 <= diff["p"] <= 1
    assert min(per_seed) <= diff["ci"][0] and diff["ci"][1] <= max(per_seed)  # bootstrap over 2 pairs
    report = (tmp_path / "report.md").read_text()
    assert "Planted order" in report and "Tables" in report and "RLOO" in report
    assert "circular register" in report and "stationary register" in report
    assert "![order heatmap](order_heatmap.png)" in report and "2 training seeds" in report


def test_an_interrupted_training_raises(tmp_path, monkeypatch):
    """A training stopped early must not become a cached part: train_model raises instead."""
    import mdm.train
    from mdm.experiments.learned_order.presets import train_model
    from mdm.experiments.runner import TrainingInterrupted
    from mdm.train.loop import TrainResult

    def stopped(cfg, **kwargs):
        return TrainResult(checkpoint=tmp_path / "none", out_dir=tmp_path, steps=3, interrupted=True)

    monkeypatch.setattr(mdm.train, "train", stopped)
    with pytest.raises(TrainingInterrupted, match="step 3 of 40"):
        train_model({"task": "planted-order", "seq_len": 4}, ["max_steps=40"], arm="fixed", seed=0,
                    out=tmp_path / "run")


def test_unknown_preset_is_rejected(tmp_path):
    from mdm.errors import MDMError

    with pytest.raises(MDMError, match="preset"):
        mdm.experiments.run("learned-order", "huge", tmp_path)


def test_full_preset_trains_what_the_results_page_reports():
    """The full preset's overrides resolve to the configs behind docs/results/learned-order.md (300 planted /
    120 table steps, a 32-wide 2-layer 2-head transformer, warm-up a tenth of the steps); the fixed
    schedule's loss has no order knobs."""
    from mdm.experiments.learned_order import PRESETS
    from mdm.experiments.learned_order.presets import train_config

    p = PRESETS["full"]
    data = {"task": "planted-order", "seq_len": p.planted_length}
    for overrides, steps, every in ((p.planted_train, 300, 50), (p.table_train, 120, 40)):
        cfg = train_config(data, overrides, seed=3, estimator="pathwise")
        assert (cfg.max_steps, cfg.optim.warmup_steps, cfg.eval_every, cfg.batch_size) == (
            steps, steps // 10, every, 32)
        assert (cfg.model.d_model, cfg.model.n_layers, cfg.model.n_heads, cfg.optim.lr, cfg.seed) == (
            32, 2, 2, 3e-3, 3)
        assert (cfg.loss.kind, cfg.loss.lr, cfg.loss.draws, cfg.loss.estimator) == (
            "learned-order", 0.05, 4, "pathwise")
        fixed = train_config(data, overrides, schedule="linear")
        assert (fixed.loss.kind, fixed.loss.schedule, fixed.max_steps) == ("nelbo", "linear", steps)
        assert not hasattr(fixed.loss, "lr")  # the NELBO's own section has no order knobs
    hard = train_config(data, [*p.hard_train, "loss.order_draws=16"], seed=1)
    assert (hard.max_steps, hard.batch_size, hard.loss.draws, p.hard_draws, p.hard_seeds) == (
        2000, 16, 16, (8, 16), (0, 1, 2, 3, 4))
