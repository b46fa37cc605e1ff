"""The parts of ``mdm exp learned-order``: planted orders and tables, each a function of the preset and
the runner's seed (which shifts every training seed by ``SEED_STRIDE`` x seed) returning plain data."""

from __future__ import annotations

import torch

from mdm.experiments.learned_order.measures import (
    decoding_comparison,
    gradient_comparison,
    kendall_tau,
    learned_w,
    mean_ci,
    nelbo_of,
    order_heatmap,
    paired_ci,
    table_fidelity,
    train_config,
    train_model,
    val_curve,
    w_history,
)
from mdm.experiments.learned_order.presets import SEED_STRIDE, Preset
from mdm.tasks.planted import PlantedOrder
from mdm.tasks.tables import load_table

__all__ = ["planted_part", "tables_part"]


def planted_part(p: Preset, seed: int, ctx) -> dict:
    """Per planted seed: learned / fixed / pathwise-only models, tau and held-out NELBO; on the first
    seed also the order heatmap, the decoding-order comparison and the two gradient estimates."""
    runs = ctx.out_dir / "runs"
    out: dict = {"seeds": {}}
    for s in p.planted_seeds:
        s = s + SEED_STRIDE * seed
        planted = PlantedOrder.random(p.planted_vocab, p.planted_length, p.planted_noise, seed=s)
        heldout = planted.sample(p.n_heldout, torch.Generator().manual_seed(10_000 + s))
        data = {"task": "planted-order", "seq_len": p.planted_length,
                "options": {"vocab": p.planted_vocab, "noise": p.planted_noise, "n_train": p.n_train,
                            "n_val": p.n_heldout}}
        row: dict = {"perm": planted.perm.tolist(), "entropy": planted.entropy()}
        models = {}
        for kind, sched, est in (("learned", "per-position", "rloo"), ("fixed", "linear", "rloo"),
                                 ("pathwise", "per-position", "pathwise")):
            if kind == "pathwise" and s - SEED_STRIDE * seed not in p.pathwise_seeds:
                continue
            model, metrics = train_model(data, p.planted_train, schedule=sched, seed=s,
                                         out=runs / f"planted{s}-{kind}", estimator=est)
            models[kind] = model
            w = learned_w(model)
            row[kind] = {"nelbo": nelbo_of(model, heldout, samples=p.nelbo_samples, seed=s),
                         "val_curve": val_curve(metrics)}
            if w is not None:
                row[kind].update(w=w.tolist(), tau=kendall_tau(w, planted.perm), w_history=w_history(metrics))
        if s == p.planted_seeds[0] + SEED_STRIDE * seed:
            row["heatmap"] = order_heatmap(learned_w(models["learned"])).tolist()
            row["decoding"] = {kind: decoding_comparison(models[kind], planted, n=p.decode_samples, seed=s)
                               for kind in ("learned", "fixed")}
            row["gradients"] = gradient_comparison(models["learned"], heldout[:64], seed=s,
                                                   draws=train_config(data, p.planted_train).loss.draws,
                                                   repeats=p.grad_repeats)
        out["seeds"][s] = row
    seeds = list(out["seeds"].values())
    out["tau"] = mean_ci(r["learned"]["tau"] for r in seeds)
    out["nelbo_learned"] = mean_ci(r["learned"]["nelbo"] for r in seeds)
    out["nelbo_fixed"] = mean_ci(r["fixed"]["nelbo"] for r in seeds)
    out["nelbo_diff"] = paired_ci([r["learned"]["nelbo"] for r in seeds],
                                  [r["fixed"]["nelbo"] for r in seeds])
    out["entropy"] = mean_ci(r["entropy"] for r in seeds)
    pw = [r for r in seeds if "pathwise" in r]
    if pw:
        out["tau_pathwise"] = mean_ci(r["pathwise"]["tau"] for r in pw)
        out["nelbo_pathwise"] = mean_ci(r["pathwise"]["nelbo"] for r in pw)
    return out


def tables_part(p: Preset, seed: int, ctx) -> dict:
    """Per table and seed: learned vs fixed held-out NELBO and fidelity of samples."""
    runs = ctx.out_dir / "runs"
    out: dict = {}
    for name in p.tables:
        table = load_table(name)
        L = table.test.shape[1]
        data = {"task": "table", "seq_len": L, "options": {"table": name}}
        per: dict = {"columns": L, "rows": {"train": table.train.shape[0], "test": table.test.shape[0]},
                     "seeds": {}}
        for s in p.table_seeds:
            s = s + SEED_STRIDE * seed
            row = {}
            for kind, sched in (("learned", "per-position"), ("fixed", "linear")):
                model, metrics = train_model(data, p.table_train, schedule=sched, seed=s,
                                             out=runs / f"{name}{s}-{kind}")
                w = learned_w(model)
                row[kind] = {"nelbo": nelbo_of(model, table.test, samples=p.nelbo_samples, seed=s),
                             **table_fidelity(model, table.test, n=p.fidelity_samples, seed=s),
                             "val_curve": val_curve(metrics)}
                if w is not None:
                    row[kind]["w"] = w.tolist()
            per["seeds"][s] = row
        rows = list(per["seeds"].values())
        for metric in ("nelbo", "marginal_tv", "association_error"):
            for kind in ("learned", "fixed"):
                per[f"{metric}_{kind}"] = mean_ci(r[kind][metric] for r in rows)
            per[f"{metric}_diff"] = paired_ci([r["learned"][metric] for r in rows],
                                              [r["fixed"][metric] for r in rows])
        out[name] = per
    return out
