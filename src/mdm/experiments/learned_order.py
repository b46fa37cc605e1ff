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
(the table's test split, fresh planted sequences).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from mdm.errors import ConfigError
from mdm.experiments.common import one_thread, provenance, write_json_atomic
from mdm.experiments.learned_order_parts import (
    TrainSetup,
    decoding_comparison,
    gradient_comparison,
    kendall_tau,
    learned_w,
    mean_ci,
    nelbo_of,
    order_heatmap,
    table_fidelity,
    train_model,
    val_curve,
    w_history,
)
from mdm.experiments.learned_order_report import plot_all, write_report
from mdm.tasks.planted import PlantedOrder
from mdm.tasks.tables import load_table

__all__ = ["Preset", "PRESETS", "run"]


@dataclass(frozen=True)
class Preset:
    planted_seeds: tuple[int, ...]
    planted_length: int
    planted_vocab: int
    planted_train: TrainSetup
    tables: tuple[str, ...]
    table_seeds: tuple[int, ...]
    table_train: TrainSetup
    pathwise_seeds: tuple[int, ...]
    nelbo_samples: int = 8
    decode_samples: int = 1000
    fidelity_samples: int = 500
    grad_repeats: int = 16
    planted_noise: float = 0.05
    n_train: int = 4096
    n_heldout: int = 512
    extra: dict = field(default_factory=dict)


PRESETS = {
    "quick": Preset(
        planted_seeds=(0, 1),
        planted_length=6,
        planted_vocab=4,
        planted_train=TrainSetup(steps=40, batch_size=16, d_model=16, n_layers=1, eval_every=20),
        tables=("iris",),
        table_seeds=(0, 1),
        table_train=TrainSetup(steps=30, batch_size=16, d_model=16, n_layers=1, eval_every=15),
        pathwise_seeds=(0,),
        nelbo_samples=2,
        decode_samples=100,
        fidelity_samples=100,
        grad_repeats=4,
        n_train=512,
        n_heldout=64,
    ),
    "full": Preset(
        planted_seeds=(0, 1, 2, 3, 4),
        planted_length=8,
        planted_vocab=8,
        planted_train=TrainSetup(steps=300, batch_size=32, d_model=32, n_layers=2, eval_every=50),
        tables=("iris", "wine", "breast_cancer", "diabetes", "digits"),
        table_seeds=(0, 1, 2, 3, 4),
        table_train=TrainSetup(steps=120, batch_size=32, d_model=32, n_layers=2, eval_every=40),
        pathwise_seeds=(0, 1, 2, 3, 4),
    ),
}


def run(preset: str, out_dir: Path, seed: int = 0) -> dict:
    """Run the preset; write ``result.json``, ``report.md`` and PNGs into ``out_dir``.  ``seed``
    offsets every training seed."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    with one_thread():
        return _run(PRESETS[preset], preset, Path(out_dir), seed)


def _planted(p: Preset, seed: int, runs: Path) -> dict:
    out: dict = {"seeds": {}}
    for s in p.planted_seeds:
        s = s + seed
        planted = PlantedOrder.random(p.planted_vocab, p.planted_length, p.planted_noise, seed=s)
        heldout = planted.sample(p.n_heldout, torch.Generator().manual_seed(10_000 + s))
        data = {
            "task": "planted-order",
            "seq_len": p.planted_length,
            "options": {
                "vocab": p.planted_vocab,
                "noise": p.planted_noise,
                "n_train": p.n_train,
                "n_val": p.n_heldout,
            },
        }
        row: dict = {"perm": planted.perm.tolist(), "entropy": planted.entropy()}
        models = {}
        for kind, sched, est in (
            ("learned", "per-position", "rloo"),
            ("fixed", "linear", "rloo"),
            ("pathwise", "per-position", "pathwise"),
        ):
            if kind == "pathwise" and s - seed not in p.pathwise_seeds:
                continue
            model, metrics = train_model(
                data, p.planted_train, schedule=sched, seed=s, out=runs / f"planted{s}-{kind}", estimator=est
            )
            models[kind] = model
            w = learned_w(model)
            row[kind] = {
                "nelbo": nelbo_of(model, heldout, samples=p.nelbo_samples, seed=s),
                "val_curve": val_curve(metrics),
            }
            if w is not None:
                row[kind].update(w=w.tolist(), tau=kendall_tau(w, planted.perm), w_history=w_history(metrics))
        if s == p.planted_seeds[0] + seed:
            row["heatmap"] = order_heatmap(learned_w(models["learned"])).tolist()
            row["decoding"] = {
                kind: decoding_comparison(models[kind], planted, n=p.decode_samples, seed=s)
                for kind in ("learned", "fixed")
            }
            row["gradients"] = gradient_comparison(
                models["learned"],
                heldout[:64],
                draws=p.planted_train.order_draws,
                repeats=p.grad_repeats,
                seed=s,
            )
        out["seeds"][s] = row
    seeds = list(out["seeds"].values())
    out["tau"] = mean_ci(r["learned"]["tau"] for r in seeds)
    out["nelbo_learned"] = mean_ci(r["learned"]["nelbo"] for r in seeds)
    out["nelbo_fixed"] = mean_ci(r["fixed"]["nelbo"] for r in seeds)
    out["nelbo_diff"] = mean_ci(r["learned"]["nelbo"] - r["fixed"]["nelbo"] for r in seeds)
    out["entropy"] = mean_ci(r["entropy"] for r in seeds)
    pw = [r for r in seeds if "pathwise" in r]
    if pw:
        out["tau_pathwise"] = mean_ci(r["pathwise"]["tau"] for r in pw)
        out["nelbo_pathwise"] = mean_ci(r["pathwise"]["nelbo"] for r in pw)
    return out


def _tables(p: Preset, seed: int, runs: Path) -> dict:
    out: dict = {}
    for name in p.tables:
        table = load_table(name)
        L = table.test.shape[1]
        data = {"task": "table", "seq_len": L, "options": {"table": name}}
        per: dict = {
            "columns": L,
            "rows": {"train": table.train.shape[0], "test": table.test.shape[0]},
            "seeds": {},
        }
        for s in p.table_seeds:
            s = s + seed
            row = {}
            for kind, sched in (("learned", "per-position"), ("fixed", "linear")):
                model, metrics = train_model(
                    data, p.table_train, schedule=sched, seed=s, out=runs / f"{name}{s}-{kind}"
                )
                w = learned_w(model)
                row[kind] = {
                    "nelbo": nelbo_of(model, table.test, samples=p.nelbo_samples, seed=s),
                    **table_fidelity(model, table.test, n=p.fidelity_samples, seed=s),
                    "val_curve": val_curve(metrics),
                }
                if w is not None:
                    row[kind]["w"] = w.tolist()
            per["seeds"][s] = row
        rows = list(per["seeds"].values())
        for metric in ("nelbo", "marginal_tv", "association_error"):
            for kind in ("learned", "fixed"):
                per[f"{metric}_{kind}"] = mean_ci(r[kind][metric] for r in rows)
            per[f"{metric}_diff"] = mean_ci(r["learned"][metric] - r["fixed"][metric] for r in rows)
        out[name] = per
    return out


def _run(p: Preset, preset: str, out_dir: Path, seed: int) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = out_dir / "runs"
    t0 = time.perf_counter()
    config = {k: (asdict(v) if isinstance(v, TrainSetup) else v) for k, v in asdict(p).items()}
    command = f"mdm exp learned-order --preset {preset} --seed {seed}"
    result: dict = {
        "preset": preset,
        "config": config,
        "provenance": provenance(command, seed, config, "fp32"),
    }
    result["planted"] = _planted(p, seed, runs)
    t1 = time.perf_counter()
    result["tables"] = _tables(p, seed, runs)
    result["timings_s"] = {
        "planted": t1 - t0,
        "tables": time.perf_counter() - t1,
        "total": time.perf_counter() - t0,
    }
    plot_all(result, out_dir)
    write_json_atomic(out_dir / "result.json", result)
    write_report(result, out_dir)
    return result
