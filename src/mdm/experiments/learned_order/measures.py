"""Measures of ``mdm exp learned-order``: train one model, measure its NELBO, orders and samples.

Every model is trained by :func:`mdm.train.train` (``loss.schedule: per-position`` for the
learned schedule, ``linear`` for the fixed one) and scored with :func:`mdm.order.multivariate_nelbo`
(the fixed schedule's NELBO is the same estimator at ``w = 1``: uniform orders).  A training
stopped early raises :class:`~mdm.experiments.runner.TrainingInterrupted` (the part is not cached).
"""

from __future__ import annotations

import math
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

__all__ = ["ORDER_TRAIN", "decoding_comparison", "gradient_comparison", "kendall_tau", "learned_w", "mean_ci",
           "nelbo_of", "order_heatmap", "paired_ci", "table_fidelity", "train_config", "train_model",
           "val_curve", "w_history"]


# The training config (mdm.train) of every model here; a preset changes it with key=value overrides.
# ``loss.order_times``: ``power`` (unbiased) or ``shared`` (the eps-truncated sampler before the fix).
ORDER_TRAIN = {"model": {"d_model": 32, "n_layers": 2, "n_heads": 2, "learned_positions": True},
               "loss": {"schedule": "per-position", "order_lr": 0.05, "order_draws": 4,
                        "order_times": "power"},
               "batch_size": 32, "max_steps": 200, "eval_every": 50, "eval_batches": 4, "eval_samples": 2,
               "log_every": 10, "threads": 1, "device": "cpu", "precision": "fp32",
               "optim": {"lr": 3e-3, "warmup_steps": 20}}


def train_config(data: dict, overrides=(), *, schedule: str = "per-position", seed: int = 0,
                 estimator: str = "rloo"):
    """:data:`ORDER_TRAIN` on ``data`` with ``overrides``: the learned schedule (``per-position``,
    the order knobs of ``loss``, gradient ``estimator``) or a fixed one (``linear``: the loss's
    defaults otherwise)."""
    from mdm.train import load_config

    loss = {**ORDER_TRAIN["loss"], "order_estimator": estimator} if schedule == "per-position" else {
        "schedule": schedule}
    return load_config({**ORDER_TRAIN, "data": data, "loss": loss}, [*overrides, f"seed={seed}"])


def train_model(data: dict, overrides, *, schedule: str, seed: int, out: Path, estimator: str = "rloo"):
    """Train one model (:func:`train_config`); returns ``(model in eval mode, metrics rows)``."""
    cfg = train_config(data, overrides, schedule=schedule, seed=seed, estimator=estimator)
    result = train(cfg, out_dir=out, progress=False, resume=False)
    if result.interrupted:
        raise TrainingInterrupted(f"training in {out} stopped at step {result.steps} of {cfg.max_steps}")
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

