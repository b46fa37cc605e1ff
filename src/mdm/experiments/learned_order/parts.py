"""The parts of ``mdm exp learned-order``: functions of the preset and the runner's seed (which shifts
every training seed by ``SEED_STRIDE`` x seed) returning plain data."""

from __future__ import annotations

import math

import numpy as np
import torch

import mdm
from mdm.eval.stats import standard_error
from mdm.eval.tabular import association_error, marginal_tv
from mdm.experiments.common import interval, paired
from mdm.experiments.learned_order.presets import ORDER_TRAIN, SEED_STRIDE, Preset, train_model
from mdm.order import LearnedOrder, PowerTime, gradient_stats, kendall_tau, model_nelbo, step_probabilities
from mdm.order.oracle import expected_order1_nelbo, masked_losses, order_oracles, tau_to_nearest
from mdm.sampling import TopK
from mdm.tasks.planted import PlantedOrder
from mdm.tasks.tables import load_table

__all__ = ["hard_orders_part", "planted_part", "tables_part"]

HARD_TASKS = {"circular": {"circular": True}, "stationary": {"start": "uniform"}}


def mean_ci(values) -> dict:
    """Mean over seeds, its 95% percentile bootstrap CI ``ci`` and 95% Student-t half-width ``ci95``."""
    from scipy.stats import t

    v = np.asarray(list(values), dtype=np.float64)
    half = float(t.ppf(0.975, len(v) - 1) * standard_error(v)) if len(v) > 1 else math.nan
    ci = interval(v) if np.isfinite(v).all() else [math.nan] * 2  # a tau is NaN when all scores tie
    return {"mean": float(v.mean()), "ci95": half, "n": int(len(v)), "values": v.tolist(), "ci": ci}


def paired_ci(a, b) -> dict:
    """``a - b`` over matched seeds: :func:`mean_ci` of the differences, paired ``ci`` and sign-flip ``p``."""
    out = mean_ci(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    return {**out, **paired(a, b)} if math.isfinite(out["mean"]) else out


def _weights(model) -> torch.Tensor | None:
    sched = getattr(model, "order_schedule", None)
    return None if sched is None else sched.w.detach().double()


def _column(rows: list[dict], kind: str, key: str = "nelbo") -> list[float]:
    return [r[kind][key] for r in rows if kind in r]


def _history(metrics: list[dict], split: str, key: str) -> list:
    return [(r["step"], r[key]) for r in metrics if r.get("split") == split and key in r]


def _data(p: Preset, length: int, vocab: int, **options) -> dict:
    return {"task": "planted-order", "seq_len": length, "options": {
        "vocab": vocab, "noise": p.planted_noise, "n_train": p.n_train, "n_val": p.n_heldout, **options}}


def decoding_comparison(model, planted: PlantedOrder, *, n: int, seed: int) -> dict:
    """Samples (k = 1, temperature 1) decoded in the learned, random, confidence, planted and reverse
    orders, scored by the planted generator (:meth:`PlantedOrder.score`)."""
    rank = planted.perm.argsort().double()  # weights whose PL order is pi (or its reverse) almost surely
    unmaskers = {"random": TopK(1, proxy="random"), "confidence": TopK(1, proxy="confidence"),
                 "planted": LearnedOrder(torch.exp(-3.0 * rank)),
                 "reverse-planted": LearnedOrder(torch.exp(3.0 * rank))}
    if _weights(model) is not None:
        unmaskers = {"learned": LearnedOrder(_weights(model)), **unmaskers}
    return {name: planted.score(mdm.sample(model, batch_size=n, length=planted.length, unmasker=um,
                                           temperature=1.0, seed=seed).tokens)
            for name, um in unmaskers.items()}


def planted_part(p: Preset, seed: int, ctx) -> dict:
    """Per planted seed: learned (RLOO) / fixed / pathwise-only / w-frozen control models (tau, held-out
    NELBO) and the easy-first order of the exact masked losses (:func:`mdm.order.oracle.masked_losses`);
    on the first seed also the order heatmap, the decoding orders and the two gradient estimates on the
    same draws, at training's PowerTime times and at the eps-truncated uniform ones."""
    out: dict = {"seeds": {}}
    for s in (s + SEED_STRIDE * seed for s in p.planted_seeds):
        planted = PlantedOrder.random(p.planted_vocab, p.planted_length, p.planted_noise, seed=s)
        heldout = planted.sample(p.n_heldout, torch.Generator().manual_seed(10_000 + s))
        data = _data(p, p.planted_length, p.planted_vocab)
        losses = masked_losses(planted.probabilities())
        easy_first = kendall_tau(losses.round(decimals=9), planted.perm)  # the exact push's order vs pi
        row: dict = {"perm": planted.perm.tolist(), "entropy": planted.entropy(),
                     "masked_loss": losses.tolist(), "tau_easy_first": easy_first}
        models = {}
        for kind in ("learned", "fixed", "pathwise", "control"):
            if kind == "pathwise" and s - SEED_STRIDE * seed not in p.pathwise_seeds:
                continue
            models[kind], metrics = train_model(data, p.planted_train, arm=kind, seed=s,
                                                out=ctx.out_dir / "runs" / f"planted{s}-{kind}")
            row[kind] = {"nelbo": model_nelbo(models[kind], heldout, samples=p.nelbo_samples, seed=s),
                         "val_curve": _history(metrics, "val", "val_nelbo_nats_per_token")}
            if kind in ("learned", "pathwise"):
                w = _weights(models[kind])
                row[kind].update(w=w.tolist(), tau=kendall_tau(-w, planted.perm),
                                 w_history=_history(metrics, "train", "order_w"))
        if s == p.planted_seeds[0] + SEED_STRIDE * seed:
            learned = models["learned"]
            row["heatmap"] = step_probabilities(_weights(learned)).tolist()
            row["decoding"] = {kind: decoding_comparison(models[kind], planted, n=p.decode_samples, seed=s)
                               for kind in ("learned", "fixed")}
            sched = learned.order_schedule
            for key, times in (("gradients", PowerTime(sched)), ("gradients_truncated", None)):
                row[key] = gradient_stats(learned, heldout[:64], sched, repeats=p.grad_repeats,
                                          draws=ORDER_TRAIN["loss"]["order_draws"], time_sampler=times,
                                          generator=torch.Generator().manual_seed(s)).summary()
        out["seeds"][s] = row
    rows = list(out["seeds"].values())
    out.update({f"nelbo_{kind}": mean_ci(_column(rows, kind)) for kind in ("learned", "fixed", "control")})
    out.update(tau=mean_ci(_column(rows, "learned", "tau")), entropy=mean_ci(r["entropy"] for r in rows),
               tau_easy_first=mean_ci(r["tau_easy_first"] for r in rows),
               nelbo_diff=paired_ci(_column(rows, "learned"), _column(rows, "fixed")),
               nelbo_vs_control=paired_ci(_column(rows, "learned"), _column(rows, "control")))
    if any("pathwise" in r for r in rows):
        out.update(tau_pathwise=mean_ci(_column(rows, "pathwise", "tau")),
                   nelbo_pathwise=mean_ci(_column(rows, "pathwise")))
    return out


def hard_orders_part(p: Preset, seed: int, ctx) -> dict:
    """Registers whose per-position difficulty does not point to the best order (issue 27): per task and
    seed the exact oracles (:func:`mdm.order.oracle.order_oracles`) and the models RLOO (each K of
    ``hard_draws``), pathwise-only and the w-frozen control: held-out NELBO, tau to the nearest best
    order, order-1 NELBO of PL(w)."""
    out: dict = {}
    arms = [*((f"rloo{k}", "learned", k) for k in p.hard_draws), ("pathwise", "pathwise", p.hard_draws[0]),
            ("control", "control", p.hard_draws[0])]
    for task in p.hard_tasks:
        per: dict = {"seeds": {}}
        for s in (s + SEED_STRIDE * seed for s in p.hard_seeds):
            planted = PlantedOrder.random(p.hard_vocab, p.hard_length, p.planted_noise, seed=s,
                                          **HARD_TASKS[task])
            oracles, h, orders = order_oracles(planted.probabilities(), planted.perm)
            row: dict = {"perm": planted.perm.tolist(), **oracles}
            heldout = planted.sample(p.n_heldout, torch.Generator().manual_seed(10_000 + s))
            for name, arm, draws in arms:
                model, _ = train_model(_data(p, p.hard_length, p.hard_vocab, **HARD_TASKS[task]),
                                       [*p.hard_train, f"loss.order_draws={draws}"], arm=arm, seed=s,
                                       out=ctx.out_dir / "runs" / f"{task}{s}-{name}")
                w = _weights(model)
                row[name] = {"nelbo": model_nelbo(model, heldout, samples=p.nelbo_samples, seed=s),
                             "w": w.tolist()}
                if arm != "control":  # the control's w are 1 to 1e-6: no order
                    row[name].update(tau=tau_to_nearest(-w, orders), order1=expected_order1_nelbo(h, w))
            per["seeds"][s] = row
        rows = list(per["seeds"].values())
        per.update({key: mean_ci(r[key] for r in rows) for key in (
            "entropy", "order1_best", "order1_planted", "order1_uniform", "tau_easy_first", "chance_tau")})
        per["control"] = {"nelbo": mean_ci(_column(rows, "control"))}
        for name, _, _ in arms[:-1]:
            per[name] = {key: mean_ci(_column(rows, name, key)) for key in ("nelbo", "tau", "order1")}
            per[name]["nelbo_vs_control"] = paired_ci(_column(rows, name), _column(rows, "control"))
            if name != "pathwise":
                per[name]["tau_vs_pathwise"] = paired_ci(_column(rows, name, "tau"),
                                                         _column(rows, "pathwise", "tau"))
        out[task] = per
    return out


def tables_part(p: Preset, seed: int, ctx) -> dict:
    """Per table and seed: learned vs fixed (and, for ``table_controls``, the w-frozen control) held-out
    NELBO and the fidelity of samples decoded in the model's own order."""
    out: dict = {}
    for name in p.tables:
        table = load_table(name)
        length = table.test.shape[1]
        kinds = ("learned", "fixed", "control") if name in p.table_controls else ("learned", "fixed")
        data = {"task": "table", "seq_len": length, "options": {"table": name}}
        per: dict = {"columns": length, "rows": {"train": table.train.shape[0], "test": table.test.shape[0]},
                     "seeds": {}}
        for s in (s + SEED_STRIDE * seed for s in p.table_seeds):
            row = per["seeds"][s] = {}
            for kind in kinds:
                model, metrics = train_model(data, p.table_train, arm=kind, seed=s,
                                             out=ctx.out_dir / "runs" / f"{name}{s}-{kind}")
                w = _weights(model)
                nelbo = model_nelbo(model, table.test, samples=p.nelbo_samples, seed=s)
                x = mdm.sample(model, batch_size=p.fidelity_samples, length=length, temperature=1.0, seed=s,
                               unmasker=TopK(1, proxy="random") if w is None else LearnedOrder(w)).tokens
                row[kind] = {"nelbo": nelbo, "marginal_tv": marginal_tv(x, table.test),
                             "association_error": association_error(x, table.test),
                             "out_of_range_rate": float((x >= int(table.test.max()) + 1).double().mean()),
                             "val_curve": _history(metrics, "val", "val_nelbo_nats_per_token")}
                if w is not None and kind == "learned":
                    row[kind]["w"] = w.tolist()
        rows = list(per["seeds"].values())
        for metric in ("nelbo", "marginal_tv", "association_error"):
            per.update({f"{metric}_{kind}": mean_ci(_column(rows, kind, metric)) for kind in kinds})
            per[f"{metric}_diff"] = paired_ci(_column(rows, "learned", metric),
                                              _column(rows, "fixed", metric))
        if "control" in kinds:
            per["nelbo_vs_control"] = paired_ci(_column(rows, "learned"), _column(rows, "control"))
        out[name] = per
    return out
