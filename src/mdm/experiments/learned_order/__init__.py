"""Learned-order MDMs: ``mdm exp learned-order``.

Garg, Kohli, Sarawagi, "Masked Diffusion Models are Secretly Learned-Order Autoregressive Models"
(arXiv 2511.19152): per-position schedules ``alpha_l(t) = 1 - t^{w_l}`` trained with the NELBO
(RLOO for the score-function part) turn an MDM into a mixture of autoregressive models over
Plackett--Luce(``w``) orders (:mod:`mdm.order`).  Parts, each measured on models trained here:

1. **planted order** (:mod:`mdm.tasks.planted`): Kendall tau between the learned mean order and the
   planted ``pi`` per seed, and held-out NELBO of the learned vs the fixed (shared linear) schedule
   at equal steps, with a 95 % CI over seeds;
2. **tables** (:mod:`mdm.tasks.tables`, scikit-learn's bundled tables): held-out NELBO (nats per
   row) learned vs fixed per dataset over seeds, with fidelity beside it (marginal TV, pairwise
   association error of samples vs held-out rows);
3. **decoding orders** on one planted model: learned vs random vs confidence (and the planted /
   reverse orders) by the exact log-likelihood of samples under the planted generator;
4. **RLOO vs pathwise-only**: the two gradient estimates' means and variances on the same draws,
   and the order that training with the pathwise gradient alone learns.

Settings are fixed in the presets (nothing is tuned); every number is reported on held-out rows
(the table's test split, fresh planted sequences).  Parts: ``planted`` (1, 3, 4) and ``tables`` (2),
:mod:`mdm.experiments.learned_order.parts`; runner seed ``N`` shifts every training seed by
``SEED_STRIDE * N`` (seed 0: the preset's seeds), so the runs of different seeds never share a model.
"""

from __future__ import annotations

from dataclasses import asdict

from mdm.experiments.learned_order.measures import ORDER_TRAIN, train_config
from mdm.experiments.learned_order.presets import (  # noqa: F401 (re-exported)
    PRESETS,
    SEED_STRIDE,
    Preset,
)
from mdm.experiments.learned_order.report import plots, report
from mdm.experiments.runner import Experiment, Part

__all__ = ["EXPERIMENT", "ORDER_TRAIN", "PRESETS", "SEED_STRIDE", "Preset"]


def _parts(p: Preset) -> list[Part]:
    from mdm.experiments.learned_order.parts import planted_part, tables_part

    return [Part("planted", planted_part), Part("tables", tables_part)]


def _train_fields(overrides) -> dict:
    """The resolved training knobs of a preset's overrides (``config`` in result.json), and the overrides."""
    cfg = train_config({"task": "planted-order", "seq_len": 2}, overrides)
    return {"steps": cfg.max_steps, "batch_size": cfg.batch_size, "d_model": cfg.model.d_model,
            "n_layers": cfg.model.n_layers, "n_heads": cfg.model.n_heads, "lr": cfg.optim.lr,
            "order_lr": cfg.loss.lr, "order_draws": cfg.loss.draws,
            "order_times": cfg.loss.times, "eval_every": cfg.eval_every,
            "warmup_steps": cfg.optim.warmup_steps, "overrides": list(overrides)}


def _assemble(p: Preset, results: dict, seed: int) -> dict:
    config = {**asdict(p), "planted_train": _train_fields(p.planted_train),
              "table_train": _train_fields(p.table_train)}
    return {"config": config, "planted": results.get("planted"), "tables": results.get("tables", {})}


def _verdict(result: dict) -> list[str]:
    lines = []
    if result.get("planted"):
        pl = result["planted"]
        d = pl["nelbo_diff"]
        lines.append(f"planted: Kendall tau {pl['tau']['mean']:.3f}; NELBO learned - fixed {d['mean']:+.3f} "
                     f"[{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}] nats/seq (paired over {d['n']} seeds)")
    for name, t in (result.get("tables") or {}).items():
        d = t["nelbo_diff"]
        lines.append(f"{name}: NELBO learned - fixed {d['mean']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]")
    return lines


def _evidence(p: Preset) -> dict:
    return {"n_test": p.n_heldout, "seeds_per_run": len(p.planted_seeds), "level": 0.95,
            "method": "percentile bootstrap CI over training seeds (NELBO differences paired by seed)",
            "setting": "our proxy"}


def _headline(result: dict) -> dict:
    out = {}
    if result.get("planted"):
        pl = result["planted"]
        out = {"planted: Kendall tau (learned)": pl["tau"]["mean"],
               "planted: NELBO learned vs fixed (nats/seq)": (pl["nelbo_learned"]["mean"],
                                                              pl["nelbo_fixed"]["mean"])}
    for name, t in (result.get("tables") or {}).items():
        out[f"{name}: NELBO learned vs fixed (nats/row)"] = (t["nelbo_learned"]["mean"],
                                                             t["nelbo_fixed"]["mean"])
    return out


EXPERIMENT = Experiment(name="learned-order", presets=PRESETS, parts=_parts, assemble=_assemble,
                        report=report, plots=plots, verdict=_verdict,
                        evidence=lambda result, p: _evidence(p), headline=_headline)
