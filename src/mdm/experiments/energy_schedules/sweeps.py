"""The sweeps of ``mdm exp energy-schedules``: metric vs steps per schedule and order, the tuner,
the small model trained on a language, and the claim's comparison with linear."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from mdm.experiments.common import interval
from mdm.experiments.energy_schedules.padding import padding_reveals
from mdm.experiments.energy_schedules.presets import ORDERS, Preset, TrainSetup
from mdm.schedules import BetaEnergy, Cosine, Linear, Schedule
from mdm.tuning import TuneConfig, language_objective, tune_schedule, verifier_objective

__all__ = ["CONVEX", "FIXED_SCHEDULES", "HIGHLIGHT", "convex_vs_linear", "language_sweep",
           "schedules_under_test", "task_sweep", "train_language_model", "tune_on_language"]

FIXED_SCHEDULES: dict[str, Schedule] = {
    "linear": Linear(),
    "cosine": Cosine(),
    "sin2=Beta(1,1)": BetaEnergy(1.0, 1.0),
    "Beta(0.9,0.3)": BetaEnergy(0.9, 0.3),
    "Beta(1,0.2)": BetaEnergy(1.0, 0.2),
}
CONVEX = ("Beta(0.9,0.3)", "Beta(1,0.2)")  # the paper's slow-start schedules
HIGHLIGHT = (*CONVEX, "tuned")  # drawn solid in the plots


def train_language_model(setup: TrainSetup, length: int, out_dir: Path, seed: int):
    """Train the small model (CPU, fp32); returns ``(model, train summary)``."""
    from mdm.experiments.runner import TrainingInterrupted
    from mdm.train import checkpoint, load_config, train

    cfg = load_config("exact-language", setup.overrides(length, out_dir, seed))
    res = train(cfg, out_dir=out_dir, progress=False, resume=False)
    if res.interrupted:
        raise TrainingInterrupted(f"training in {out_dir} stopped at step {res.steps} of {setup.max_steps}")
    model, _ = checkpoint.load(res.checkpoint)
    summary = {"checkpoint": str(res.checkpoint), "steps": res.steps, "wall_s": res.wall_time,
               "final_val": res.final_val, "config": cfg.to_dict()}
    return model, summary


def schedules_under_test(tuned: BetaEnergy | None) -> dict[str, Schedule]:
    out = dict(FIXED_SCHEDULES)
    if tuned is not None:
        out[f"tuned=Beta({tuned.a:g},{tuned.b:g})"] = tuned
    return out


def _measure(language, x: torch.Tensor, entropy_per_token: float) -> dict:
    """TER (perplexity of the valid samples under the truth), its gap to the entropy rate, SER,
    with standard errors (the NLL's over valid samples; SER's binomial) and 95% bootstrap CIs over
    the sequences (the gap's with the entropy rate taken as known)."""
    from mdm.eval.sequence_metrics import sequence_error_rate, token_error

    length = x.shape[1]
    ter = token_error(language, x, entropy=entropy_per_token * length)
    ser = sequence_error_rate(language, x)
    lp = language.log_prob(x)
    nll = (-lp[torch.isfinite(lp)] / length).double()
    nll_se = float(nll.std() / math.sqrt(len(nll))) if len(nll) > 1 else math.nan
    return {"ter": ter.perplexity, "nll": ter.nll_per_token, "gap": ter.gap, "gap_se": nll_se,
            "gap_ci": interval(nll - entropy_per_token) if len(nll) > 1 else None,
            "ser": ser, "ser_se": math.sqrt(max(ser * (1 - ser), 1e-12) / x.shape[0]),
            "ser_ci": interval(~torch.isfinite(lp)), "n": int(x.shape[0])}


def language_sweep(language, denoiser, preset: Preset, tuned: dict[str, BetaEnergy | None], seed: int,
                   entropy_per_token: float) -> list[dict]:
    """Metric vs steps for every schedule and order.  Every schedule at a given (N, order) uses the
    same seed (common random numbers): their differences are less noisy than their values.  For a
    language with end-of-text tokens (``language.end_tokens``) the same samples also give, per
    sequence, how many ``eos``/``pad`` values the schedule reveals in the first half of its steps,
    and how many positions it reveals then -- the mechanism of the padding regime."""
    from mdm.sampling import Scheduled
    from mdm.tuning import sample_in_batches

    end_tokens = getattr(language, "end_tokens", ())
    rows = []
    for order in preset.orders:
        for label, schedule in schedules_under_test(tuned.get(order)).items():
            for n_steps in preset.steps:
                reveals = []

                def count(res, n_steps=n_steps, reveals=reveals):
                    reveals.append(padding_reveals(res.trace, end_tokens, n_steps))

                x = sample_in_batches(denoiser, preset.samples, preset.batch_size, seed * 1000 + n_steps,
                                      length=preset.length, temperature=1.0,
                                      unmasker=Scheduled(n_steps, schedule, order), trace=bool(end_tokens),
                                      on_batch=count if end_tokens else None)
                row = {"order": order, "schedule": label.split("=")[0], "label": label, "steps": n_steps,
                       **_measure(language, x, entropy_per_token)}
                if reveals:
                    row["end_of_text_first_half"] = float(torch.cat([r[0] for r in reveals]).double().mean())
                    row["revealed_first_half"] = float(torch.cat([r[1] for r in reveals]).double().mean())
                rows.append(row)
    return rows


def tune_on_language(language, denoiser, preset: Preset, metric: str, order: str, seed: int,
                     cache: Path, entropy=None):
    """:func:`mdm.tuning.tune_schedule` on ``metric`` at ``preset.tune.steps`` (cached in ``cache``)."""
    t = preset.tune
    objective = language_objective(language, t.steps, length=preset.length, denoiser=denoiser,
                                   metric=metric, proxy=order, temperature=1.0,
                                   batch_size=preset.batch_size, entropy=entropy)
    config = TuneConfig(steps=t.steps, grid_a=t.grid, grid_b=t.grid, samples=t.samples,
                        refine_top=t.refine_top, refine_samples=t.refine_samples, maximize=False,
                        seed=seed)
    return tune_schedule(objective, config, cache=cache, name=f"{order}/{metric}", progress=False)


def task_sweep(denoiser, dataset, steps: tuple[int, ...], schedules: dict[str, Schedule], *,
               orders=ORDERS, items: int = 256, seed: int = 0, batch_size: int = 64,
               block_size: int | None = None) -> list[dict]:
    """Accuracy (verifier) vs steps for a trained task model, e.g. the EB-sampler Sudoku checkpoint:
    ``dataset`` has ``prompts()``, ``answer_len`` and ``verify()`` (see :mod:`mdm.tasks`)."""
    rows = []
    n_items = min(items, len(dataset))
    for order in orders:
        for label, schedule in schedules.items():
            for n in steps:
                acc = verifier_objective(denoiser, dataset, n, proxy=order, batch_size=batch_size,
                                         block_size=block_size)(schedule, items, seed)
                se = math.sqrt(max(acc * (1 - acc), 1e-12) / n_items)
                rows.append({"order": order, "schedule": label.split("=")[0], "label": label, "steps": n,
                             "accuracy": acc, "accuracy_se": se})
    return rows


def convex_vs_linear(rows: list[dict], metric: str, max_steps: int = 16,
                     higher_is_better: bool = False) -> dict:
    """For each order and each convex Beta (and the tuned schedule): how it compares with linear at
    every N <= ``max_steps``.  ``improvement`` = how much better than linear (positive = better)."""
    by = {(r["order"], r["schedule"], r["steps"]): r[metric] for r in rows}
    sign = 1.0 if higher_is_better else -1.0
    out = {}
    for order in sorted({r["order"] for r in rows}):
        for name in (*CONVEX, "tuned"):
            cmp = []
            for n in sorted({r["steps"] for r in rows if r["steps"] <= max_steps}):
                lin, beta = by.get((order, "linear", n)), by.get((order, name, n))
                if lin is None or beta is None or not (math.isfinite(lin) and math.isfinite(beta)):
                    continue
                cmp.append({"steps": n, "linear": lin, "beta": beta, "improvement": sign * (beta - lin)})
            if cmp:
                out[f"{order}/{name}"] = {
                    "wins": sum(c["improvement"] > 0 for c in cmp),
                    "ties": sum(c["improvement"] == 0 for c in cmp),
                    "of": len(cmp),
                    "mean_improvement": float(np.mean([c["improvement"] for c in cmp])),
                    "by_steps": cmp,
                }
    return out
