"""Parts ``languages`` and ``trained``: metric vs steps per schedule and order on exact languages
(only the sampler errs) and on a small model trained here, scored under the true language.

TER (perplexity of the valid samples under the truth, and its gap to the entropy rate) and SER
(fraction of impossible sequences) for linear, cosine, sin^2, the paper's convex Beta(0.9, 0.3)
and Beta(1, 0.2), and a Beta tuned by :func:`mdm.tuning.tune_schedule` per order.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from mdm.eval.stats import standard_error
from mdm.experiments.common import interval
from mdm.experiments.energy_schedules.presets import Preset, TrainSetup
from mdm.experiments.training import seeded
from mdm.languages import LanguageView, parse_language_spec
from mdm.schedules import BetaEnergy, Cosine, Linear, Schedule
from mdm.tuning import TuneConfig, language_objective, plot_heatmap, sample_in_batches, tune_schedule

FIXED_SCHEDULES: dict[str, Schedule] = {"linear": Linear(), "cosine": Cosine(),
                                        "sin2=Beta(1,1)": BetaEnergy(1.0, 1.0),
                                        "Beta(0.9,0.3)": BetaEnergy(0.9, 0.3),
                                        "Beta(1,0.2)": BetaEnergy(1.0, 0.2)}
CONVEX = ("Beta(0.9,0.3)", "Beta(1,0.2)")  # the paper's slow-start schedules
HIGHLIGHT = (*CONVEX, "tuned")  # drawn solid in the plots


def train_language_model(setup: TrainSetup, length: int, out_dir: Path, seed: int):
    """Train the small model (CPU, fp32); returns ``(model, train summary)``."""
    from mdm.experiments.training import train_to_end
    from mdm.train import checkpoint, load_config

    cfg = load_config("exact-language", setup.overrides(length, out_dir, seed))
    res = train_to_end(cfg, out_dir)
    model, _ = checkpoint.load(res.checkpoint)
    return model, {"checkpoint": str(res.checkpoint), "steps": res.steps, "wall_s": res.wall_time,
                   "final_val": res.final_val, "config": cfg.to_dict()}


def _measure(language, x: torch.Tensor, entropy_per_token: float) -> dict:
    """TER, its gap to the entropy rate (over valid samples) and SER, with standard errors and
    95% bootstrap CIs over the sequences (the gap's with the entropy rate taken as known)."""
    from mdm.eval.sequence_metrics import sequence_error_rate, token_error

    ter = token_error(language, x, entropy=entropy_per_token * x.shape[1])
    ser = sequence_error_rate(language, x)
    lp = language.log_prob(x)
    nll = (-lp[torch.isfinite(lp)] / x.shape[1]).double()
    return {"ter": ter.perplexity, "nll": ter.nll_per_token, "gap": ter.gap,
            "gap_se": standard_error(nll),
            "gap_ci": interval(nll - entropy_per_token) if len(nll) > 1 else None,
            "ser": ser, "ser_se": standard_error(~torch.isfinite(lp)),
            "ser_ci": interval(~torch.isfinite(lp)), "n": int(x.shape[0])}


def language_sweep(language, denoiser, preset: Preset, tuned: dict, seed: int,
                   entropy_per_token: float) -> list[dict]:
    """Metric vs steps for every schedule and order, every schedule at a given N on the same seed.
    A language with end-of-text tokens also gets, per sequence, the ``eos``/``pad`` values and all
    positions revealed in the first half of the steps (the padding regime's mechanism)."""
    from mdm.sampling import Scheduled

    end_tokens = getattr(language, "end_tokens", ())
    rows = []
    for order in preset.orders:
        schedules = dict(FIXED_SCHEDULES)
        if tuned.get(order) is not None:
            schedules[f"tuned=Beta({tuned[order].a:g},{tuned[order].b:g})"] = tuned[order]
        for label, schedule in schedules.items():
            for n_steps in preset.steps:
                reveals = []
                x = sample_in_batches(denoiser, preset.samples, preset.batch_size, seed * 1000 + n_steps,
                                      length=preset.length, temperature=1.0,
                                      unmasker=Scheduled(n_steps, schedule, order), trace=bool(end_tokens),
                                      on_batch=(lambda res, n=n_steps, out=reveals:
                                                out.append(res.trace.first_half_reveals(end_tokens, n)))
                                      if end_tokens else None)
                row = {"order": order, "schedule": label.split("=")[0], "label": label, "steps": n_steps,
                       **_measure(language, x, entropy_per_token)}
                if reveals:
                    row["end_of_text_first_half"] = float(torch.cat([r[0] for r in reveals]).double().mean())
                    row["revealed_first_half"] = float(torch.cat([r[1] for r in reveals]).double().mean())
                rows.append(row)
    return rows


def convex_vs_linear(rows: list[dict], metric: str, max_steps: int = 16,
                     higher_is_better: bool = False) -> dict:
    """Per order, each convex Beta (and the tuned one) against linear at every N <= ``max_steps``:
    wins, ties and the mean ``improvement`` (positive = better than linear)."""
    by = {(r["order"], r["schedule"], r["steps"]): r[metric] for r in rows}
    sign = 1.0 if higher_is_better else -1.0
    out = {}
    for order in sorted({r["order"] for r in rows}):
        for name in (*CONVEX, "tuned"):
            cmp = [{"steps": n, "linear": lin, "beta": beta, "improvement": sign * (beta - lin)}
                   for n in sorted({r["steps"] for r in rows if r["steps"] <= max_steps})
                   if (lin := by.get((order, "linear", n))) is not None and (beta := by.get((order, name, n)))
                   is not None and math.isfinite(lin) and math.isfinite(beta)]
            if cmp:
                imp = [c["improvement"] for c in cmp]
                out[f"{order}/{name}"] = {"wins": sum(i > 0 for i in imp), "ties": sum(i == 0 for i in imp),
                                          "of": len(cmp), "mean_improvement": float(np.mean(imp)),
                                          "by_steps": cmp}
    return out


def _language_part(name: str, language, denoiser, p: Preset, tune_metric: str, seed: int, ctx,
                   h: float) -> dict:
    """Tune a Beta per order on ``tune_metric`` at ``p.tune.steps`` (heatmap drawn here), then sweep."""
    tuned, summaries, t = {}, {}, p.tune
    for order in p.orders:
        objective = language_objective(language, t.steps, length=p.length, denoiser=denoiser,
                                       metric=tune_metric, proxy=order, temperature=1.0,
                                       batch_size=p.batch_size, entropy=h * p.length)
        config = TuneConfig(steps=t.steps, grid_a=t.grid, grid_b=t.grid, samples=t.samples,
                            refine_top=t.refine_top, refine_samples=t.refine_samples, maximize=False,
                            seed=seed)
        res = tune_schedule(objective, config, cache=ctx.out_dir / "cache" / f"tune-{name}-{order}.json",
                            name=f"{order}/{tune_metric}", progress=False)
        tuned[order] = res.schedule()
        summaries[order] = {"a": res.a, "b": res.b, "score": res.score, "metric": tune_metric,
                            **{k: v for k, v in res.to_dict().items() if k in ("grid", "refined")}}
        plot_heatmap(res, ctx.plot_dir / f"tune_{name}_{order}.png", metric=tune_metric,
                     title=f"{name}: {tune_metric}, {order} order, N={t.steps}")
    rows = language_sweep(language, denoiser, p, tuned, seed, h)
    return {"rows": rows, "tuned": summaries, "claim": {m: convex_vs_linear(rows, m) for m in ("gap", "ser")},
            "plot": f"sweep_{name}.png", "tune_plots": {o: f"tune_{name}_{o}.png" for o in p.orders},
            "entropy_per_token": h}


def languages_part(p: Preset, seed: int, ctx) -> dict:
    """Each exact language, sampled with its own exact conditionals (sampler error only)."""
    out = {}
    for setup in p.languages:
        language = parse_language_spec(setup.spec)
        h = language.entropy(p.length).value / p.length
        out[setup.spec] = _language_part(setup.label, language, language.denoiser(), p, setup.tune_metric,
                                         seed, ctx, h)
    return out


def trained_part(p: Preset, seed: int, ctx) -> dict:
    """A small model trained here on ``p.train.language``, scored under the true language."""
    language = parse_language_spec(p.train.language)
    model, summary = train_language_model(p.train, p.length, ctx.out_dir / seeded("model", seed), seed)
    h = language.entropy(p.length).value / p.length
    name = f"{p.train.language.split(':')[0]}-trained"
    view = LanguageView(model, language.vocab_size)
    return {**_language_part(name, language, view, p, "ser", seed, ctx, h), "train": summary}
