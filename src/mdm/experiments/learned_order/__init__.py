"""Learned-order MDMs: ``mdm exp learned-order``.

Garg, Kohli, Sarawagi (arXiv 2511.19152): per-position schedules ``alpha_l(t) = 1 - t^{w_l}`` learned
with the NELBO (RLOO for the score-function term) make an MDM a mixture of autoregressive models over
Plackett--Luce(``w``) orders (:mod:`mdm.order`).  Parts (:mod:`.parts`), on models trained here:
``planted`` (a shift register written in a planted order), ``hard-orders`` (registers whose
per-position difficulty does not point to the best order; exact oracles in :mod:`mdm.order.oracle`)
and ``tables`` (scikit-learn tables).  Settings are the presets' (nothing tuned); every number is on
held-out rows.  Runner seed ``N`` shifts every training seed by ``SEED_STRIDE * N``.
"""

from __future__ import annotations

from dataclasses import asdict

from mdm.experiments.learned_order.parts import hard_orders_part, planted_part, tables_part
from mdm.experiments.learned_order.presets import ORDER_TRAIN, PRESETS, SEED_STRIDE, Preset, train_config
from mdm.experiments.learned_order.report import plots, report
from mdm.experiments.runner import Experiment, Part, fields

__all__ = ["EXPERIMENT", "ORDER_TRAIN", "PRESETS", "SEED_STRIDE", "Preset"]


def _train_fields(overrides) -> dict:
    """The resolved training knobs of a preset's overrides (``config`` in result.json) and the overrides."""
    cfg = train_config({"task": "planted-order", "seq_len": 2}, overrides)
    return {"steps": cfg.max_steps, "batch_size": cfg.batch_size, "d_model": cfg.model.d_model,
            "n_layers": cfg.model.n_layers, "n_heads": cfg.model.n_heads, "lr": cfg.optim.lr,
            "order_lr": cfg.loss.lr, "order_draws": cfg.loss.draws, "order_times": cfg.loss.times,
            "eval_every": cfg.eval_every, "warmup_steps": cfg.optim.warmup_steps,
            "overrides": list(overrides)}


def _assemble(p: Preset, results: dict, seed: int) -> dict:
    trained = {f"{k}_train": _train_fields(getattr(p, f"{k}_train")) for k in ("planted", "table", "hard")}
    return {"config": {**asdict(p), **trained}, "planted": results.get("planted"),
            "tables": results.get("tables", {}), "hard_orders": results.get("hard-orders", {})}


def _verdict(result: dict) -> list[str]:
    diffs = {f"{name}: learned - fixed": t["nelbo_diff"] for name, t in (result.get("tables") or {}).items()}
    if result.get("planted"):
        diffs["planted: learned - fixed"] = result["planted"]["nelbo_diff"]
    for task, per in (result.get("hard_orders") or {}).items():
        diffs.update({f"{task}: {arm} - control": per[arm]["nelbo_vs_control"] for arm in per
                      if "nelbo_vs_control" in per.get(arm, {})})
    return [f"{name} NELBO {d['mean']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}] nats (paired over "
            f"{d['n']} seeds)" for name, d in diffs.items()]


def _headline(result: dict) -> dict:
    tables = result.get("tables") or {}
    arms = {f"{name}: NELBO learned vs fixed (nats/row)": t for name, t in tables.items()}
    out = {}
    if result.get("planted"):
        out["planted: Kendall tau (learned)"] = result["planted"]["tau"]["mean"]
        arms = {"planted: NELBO learned vs fixed (nats/seq)": result["planted"], **arms}
    out.update({name: (t["nelbo_learned"]["mean"], t["nelbo_fixed"]["mean"]) for name, t in arms.items()})
    return out


def _evidence(result: dict, p: Preset) -> dict:
    return {"n_test": p.n_heldout, "seeds_per_run": len(p.planted_seeds), "level": 0.95,
            "setting": "our proxy",
            "method": "percentile bootstrap CI over training seeds (NELBO differences paired by seed)"}


# each part's own settings (the rest -- data sizes, samples, pathwise seeds, the planted noise level
# that hard-orders uses too -- are shared): a part reads its own and the shared ones only
# (Part.reads), so changing one group reruns its part alone
_PLANTED = ("planted_seeds", "planted_length", "planted_vocab", "planted_train")
_HARD = ("hard_tasks", "hard_seeds", "hard_length", "hard_vocab", "hard_draws", "hard_train")
_TABLES = ("tables", "table_seeds", "table_train", "table_controls")

EXPERIMENT = Experiment(
    name="learned-order", presets=PRESETS, assemble=_assemble, report=report, plots=plots, verdict=_verdict,
    headline=_headline, evidence=_evidence, parts=lambda p: [
        Part("planted", planted_part, reads=fields(exclude=(*_HARD, *_TABLES))),
        Part("hard-orders", hard_orders_part, reads=fields(exclude=(*_PLANTED, *_TABLES))),
        Part("tables", tables_part, reads=fields(exclude=(*_PLANTED, *_HARD)))])
