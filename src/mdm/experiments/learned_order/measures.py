"""Measures of ``mdm exp learned-order``: train one model, measure its NELBO, orders and samples.

Every model is trained by :func:`mdm.train.train` (``loss.schedule: per-position`` for the
learned schedule, ``linear`` for the fixed one) and scored with :func:`mdm.order.multivariate_nelbo`
(the fixed schedule's NELBO is the same estimator at ``w = 1``: uniform orders).  A training
stopped early raises :class:`~mdm.experiments.runner.TrainingInterrupted` (the part is not cached).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import mdm
from mdm.eval.stats import paired_difference, summarize
from mdm.eval.tabular import association_error, marginal_tv
from mdm.experiments.runner import TrainingInterrupted
from mdm.order import LearnedOrder, gradient_stats, multivariate_nelbo, sample_order
from mdm.order.plackett_luce import decode_ranks
from mdm.sampling import TopK
from mdm.train import train
from mdm.train.checkpoint import load

__all__ = ["TrainSetup", "decoding_comparison", "gradient_comparison", "kendall_tau", "learned_w", "mean_ci",
           "nelbo_of", "order_heatmap", "paired_ci", "table_fidelity", "train_model", "val_curve",
           "w_history"]


@dataclass(frozen=True)
class TrainSetup:
    """The tiny transformer and budget every model of one part trains with."""

    steps: int = 200
    batch_size: int = 32
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 2
    lr: float = 3e-3
    order_lr: float = 0.05
    order_draws: int = 4
    order_times: str = "power"  # loss.order_times; "shared" = the eps-truncated sampler before the fix
    eval_every: int = 50


def train_model(data: dict, setup: TrainSetup, *, schedule: str, seed: int, out: Path,
                estimator: str = "rloo"):
    """Train one model; returns ``(model in eval mode, metrics rows)``."""
    loss = {"schedule": schedule}
    if schedule == "per-position":
        loss.update(order_lr=setup.order_lr, order_draws=setup.order_draws, order_estimator=estimator,
                    order_times=setup.order_times)
    cfg = {"data": data, "loss": loss, "seed": seed, "batch_size": setup.batch_size, "max_steps": setup.steps,
           "model": {"d_model": setup.d_model, "n_layers": setup.n_layers, "n_heads": setup.n_heads,
                     "learned_positions": True},
           "eval_every": setup.eval_every, "eval_batches": 4, "eval_samples": 2, "log_every": 10,
           "threads": 1, "device": "cpu", "precision": "fp32",
           "optim": {"lr": setup.lr, "warmup_steps": max(1, setup.steps // 10)}}
    result = train(cfg, out_dir=out, progress=False, resume=False)
    if result.interrupted:
        raise TrainingInterrupted(f"training in {out} stopped at step {result.steps} of {setup.steps}")
    model, _ = load(result.checkpoint)
    return model, result.metrics


def learned_w(model) -> torch.Tensor | None:
    sched = getattr(model, "order_schedule", None)
    return None if sched is None else sched.w.detach().double()


def kendall_tau(w: torch.Tensor, perm: torch.Tensor) -> float:
    """Kendall tau between the learned mean order (descending ``w``: the Plackett--Luce mode) and
    the planted order ``perm`` (``perm[j]`` generated ``j``-th)."""
    from scipy.stats import kendalltau

    decode_rank = (-w).argsort().argsort()
    planted_rank = perm.argsort()
    return float(kendalltau(decode_rank.numpy(), planted_rank.numpy()).statistic)


def mean_ci(values) -> dict:
    """Mean over seeds with its 95 % percentile bootstrap CI ``ci`` (:func:`mdm.eval.stats.summarize`)
    and, as before, the 95 % Student-t half-width ``ci95``."""
    from scipy.stats import t

    v = np.asarray(list(values), dtype=np.float64)
    half = float(t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")
    ci = [float("nan")] * 2
    if np.isfinite(v).all():  # a tau is NaN when the learned w are all tied
        est = summarize(v)
        ci = [est.lo, est.hi]
    return {"mean": float(v.mean()), "ci95": half, "n": int(len(v)), "values": v.tolist(), "ci": ci}


def paired_ci(a, b) -> dict:
    """``a - b`` over matched seeds: :func:`mean_ci` of the differences, with ``ci`` and the sign-flip
    ``p`` of :func:`mdm.eval.stats.paired_difference`."""
    out = mean_ci(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    if math.isfinite(out["mean"]):
        est = paired_difference(a, b)
        out.update(ci=[est.lo, est.hi], p=est.p_value)
    return out


def nelbo_of(model, x: torch.Tensor, *, samples: int, seed: int) -> float:
    """Mean NELBO in nats per sequence under the model's own schedule (learned ``w`` or ``w = 1``)."""
    w = learned_w(model)
    w = torch.ones(x.shape[1], dtype=torch.float64) if w is None else w
    with torch.no_grad():
        return float(multivariate_nelbo(model, x, w, samples=samples, seed=seed).mean())


def order_heatmap(w: torch.Tensor, n: int = 4000, seed: int = 0) -> np.ndarray:
    """``P[l, j]``: probability that position ``l`` is decoded at step ``j`` under PL(``w``)."""
    ranks = decode_ranks(sample_order(w, n, generator=torch.Generator().manual_seed(seed)))
    L = w.numel()
    return torch.stack([torch.bincount(ranks[:, p], minlength=L) for p in range(L)]).double().numpy() / n


def _order_weights(perm: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """Weights whose PL order is ``perm`` (or its reverse) with near certainty."""
    rank = perm.argsort().double()
    return torch.exp(-3.0 * (rank if not reverse else -rank))


def decoding_comparison(model, planted, *, n: int, seed: int) -> dict:
    """Samples of one model (k = 1, temperature 1) decoded in the learned, random, confidence, planted
    and reverse-planted orders, scored by the planted generator's exact log-likelihood."""
    L = planted.length
    w = learned_w(model)
    unmaskers = {"random": TopK(1, proxy="random"), "confidence": TopK(1, proxy="confidence"),
                 "planted": LearnedOrder(_order_weights(planted.perm)),
                 "reverse-planted": LearnedOrder(_order_weights(planted.perm, reverse=True))}
    if w is not None:
        unmaskers = {"learned": LearnedOrder(w), **unmaskers}
    rows = {}
    for name, um in unmaskers.items():
        x = mdm.sample(model, batch_size=n, length=L, unmasker=um, temperature=1.0, seed=seed).tokens
        lp = planted.log_prob(x)
        valid = torch.isfinite(lp)
        rows[name] = {"log_lik": float(lp[valid].mean()) if valid.any() else float("-inf"),
                      "invalid_token_rate": float(1 - valid.double().mean()),
                      "rule_rate": float(planted.follows_rule(x).double().mean())}
    return rows


def gradient_comparison(model, x: torch.Tensor, *, draws: int, repeats: int, seed: int) -> dict:
    """RLOO vs pathwise-only estimates of dNELBO/dtheta on the same draws (:func:`gradient_stats`)."""
    sched = model.order_schedule
    stats = gradient_stats(model, x, sched, draws=draws, repeats=repeats,
                           generator=torch.Generator().manual_seed(seed))
    a, b = stats.rloo_mean, stats.pathwise_mean
    cos = float((a @ b) / (a.norm() * b.norm()).clamp_min(1e-30))
    return {**stats.summary(), "cosine_rloo_pathwise": cos}


def table_fidelity(model, reference: torch.Tensor, *, n: int, seed: int) -> dict:
    """Marginal TV and pairwise association error of ``n`` samples vs held-out rows, decoding in
    the model's own order (learned PL order, or uniform random order for the fixed schedule)."""
    L = reference.shape[1]
    w = learned_w(model)
    um = LearnedOrder(w) if w is not None else TopK(1, proxy="random")
    x = mdm.sample(model, batch_size=n, length=L, unmasker=um, temperature=1.0, seed=seed).tokens
    return {"marginal_tv": marginal_tv(x, reference), "association_error": association_error(x, reference),
            "out_of_range_rate": float((x >= int(reference.max()) + 1).double().mean())}


def val_curve(metrics: list[dict]) -> list[tuple[int, float]]:
    return [(r["step"], r["val_nelbo_nats_per_token"]) for r in metrics if r.get("split") == "val"]


def w_history(metrics: list[dict]) -> list[tuple[int, list[float]]]:
    return [(r["step"], r["order_w"]) for r in metrics if r.get("split") == "train" and "order_w" in r]

