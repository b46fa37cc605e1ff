"""Energy-optimal Beta schedules vs hand-made ones: ``mdm exp energy-schedules``.

Chen et al., "Masked Diffusion Models as Energy Minimization" (arXiv 2509.13866): the mask
schedule that minimises the kinetic / conditional-kinetic / geodesic energy is
``alpha = sin^2(pi/2 * gamma)``; with ``gamma`` a Beta(a, b) CDF the schedule is two numbers
(Beta(0.5, 0.5) = linear, Beta(1, 1) = sin^2) that can be tuned after training.  The claim
checked here: convex, slow-start Beta schedules (e.g. Beta(0.9, 0.3)) beat the linear schedule
at low step counts, with training unchanged.

Three parts, each measured, none sampled where it can be computed:

1. **exact toy** (:mod:`mdm.experiments.energy_toy`): the paper's 5-token targets, 3 steps, the
   sampler's output law enumerated for every (a, b); KL and TV heatmaps.
2. **exact languages**: an n-gram and an HMM with exact conditionals, so only the sampler errs;
   TER (perplexity under the truth, its gap to the entropy rate) and SER (fraction of impossible
   sequences) vs steps N for linear, cosine, sin^2, Beta(0.9, 0.3), Beta(1, 0.2) and the schedule
   tuned by :func:`mdm.tuning.tune_schedule`, with random and confidence order.
3. **trained model**: a small transformer trained here (``mdm.train``) on the n-gram language,
   measured the same way under the true language (model error included).  A task checkpoint
   with a verifier (Sudoku / arithmetic) can be swept by :func:`task_sweep` (accuracy vs N).
4. **padding regime** (:mod:`mdm.experiments.energy_padding`): the paper's own regime -- a trained
   arithmetic model whose answers are followed by end-of-text padding to a fixed length, decoded
   LLaDA-style (confidence order, semi-AR blocks, the stop rule); accuracy vs N per schedule and
   how many padding positions each schedule reveals first.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from mdm.errors import ConfigError
from mdm.experiments.common import one_thread, provenance, select_parts, write_json_atomic
from mdm.experiments.energy_padding import padding_reveals, run_padding
from mdm.experiments.energy_presets import (  # noqa: F401 (re-exported: the experiment's configuration)
    HMM,
    NGRAM,
    ORDERS,
    PADDED_HMM,
    PRESETS,
    LanguageSetup,
    Preset,
    TrainSetup,
    TuneSetup,
)
from mdm.experiments.energy_schedules_report import plot_sweep, write_report
from mdm.experiments.energy_toy import plot_toy, run_toy
from mdm.languages import LanguageView, parse_language_spec
from mdm.schedules import BetaEnergy, Cosine, Linear, Schedule
from mdm.tuning import (
    TuneConfig,
    language_objective,
    plot_heatmap,
    tune_schedule,
    verifier_objective,
)

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
    from mdm.train import TrainConfig, checkpoint, train
    from mdm.train.config import DataConfig, ModelConfig, OptimConfig

    cfg = TrainConfig(
        model=ModelConfig(d_model=setup.d_model, n_layers=setup.n_layers, n_heads=setup.n_heads),
        data=DataConfig(task="exact-language", seq_len=length,
                        options={"spec": setup.language, "n_train": setup.n_train}),
        optim=OptimConfig(lr=setup.lr, warmup_steps=min(50, setup.max_steps // 10)),
        seed=seed, batch_size=setup.batch_size, max_steps=setup.max_steps, precision="fp32",
        eval_every=0, log_every=max(1, setup.max_steps // 10), device="cpu", threads=1, out_dir=str(out_dir),
    )
    res = train(cfg, out_dir=out_dir, progress=False, resume=False)
    model, _ = checkpoint.load(res.checkpoint)
    summary = {"checkpoint": str(res.checkpoint), "steps": res.steps, "wall_s": res.wall_time,
               "final_val": res.final_val, "config": cfg.to_dict()}
    return model, summary


# ----------------------------------------------------------------------------- sweeps


def schedules_under_test(tuned: BetaEnergy | None) -> dict[str, Schedule]:
    out = dict(FIXED_SCHEDULES)
    if tuned is not None:
        out[f"tuned=Beta({tuned.a:g},{tuned.b:g})"] = tuned
    return out


def _measure(language, x: torch.Tensor, entropy_per_token: float) -> dict:
    """TER (perplexity of the valid samples under the truth), its gap to the entropy rate, SER,
    with standard errors (the NLL's over valid samples; SER's binomial)."""
    from mdm.eval.sequence_metrics import sequence_error_rate, token_error

    length = x.shape[1]
    ter = token_error(language, x, entropy=entropy_per_token * length)
    ser = sequence_error_rate(language, x)
    lp = language.log_prob(x)
    nll = (-lp[torch.isfinite(lp)] / length).double()
    nll_se = float(nll.std() / math.sqrt(len(nll))) if len(nll) > 1 else math.nan
    return {"ter": ter.perplexity, "nll": ter.nll_per_token, "gap": ter.gap, "gap_se": nll_se,
            "ser": ser, "ser_se": math.sqrt(max(ser * (1 - ser), 1e-12) / x.shape[0]),
            "n": int(x.shape[0])}


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


# ----------------------------------------------------------------------------- the claim


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


# ----------------------------------------------------------------------------- run


def _language_part(name: str, language, denoiser, preset: Preset, tune_metric: str, seed: int,
                   out_dir: Path, entropy_per_token: float) -> dict:
    tuned, summaries = {}, {}
    for order in preset.orders:
        res = tune_on_language(language, denoiser, preset, tune_metric, order, seed,
                               out_dir / "cache" / f"tune-{name}-{order}.json",
                               entropy=entropy_per_token * preset.length)
        tuned[order] = res.schedule()
        summaries[order] = {"a": res.a, "b": res.b, "score": res.score, "metric": tune_metric,
                            **{k: v for k, v in res.to_dict().items() if k in ("grid", "refined")}}
        plot_heatmap(res, out_dir / f"tune_{name}_{order}.png", metric=tune_metric,
                     title=f"{name}: {tune_metric}, {order} order, N={preset.tune.steps}")
    rows = language_sweep(language, denoiser, preset, tuned, seed, entropy_per_token)
    plot = plot_sweep(rows, out_dir / f"sweep_{name}.png", name, highlight=HIGHLIGHT)
    claim = {m: convex_vs_linear(rows, m) for m in ("gap", "ser")}
    return {"rows": rows, "tuned": summaries, "claim": claim, "plot": plot.name,
            "entropy_per_token": entropy_per_token}


def parts(preset: str) -> tuple[str, ...]:
    """The parts of ``preset`` that ``run(..., parts=)`` can select."""
    p = PRESETS[preset]
    return ("toy", "languages", *(("trained",) if p.train else ()), *(s.name for s in p.padding))


_preset_parts = parts  # run() takes an argument of the same name


def run(preset: str, out_dir: Path, seed: int = 0, task_checkpoint: str | None = None,
        padding_checkpoint: str | None = None, parts: tuple[str, ...] | None = None) -> dict:
    """Run the preset (only the named ``parts`` when given, see :func:`parts`); write
    ``result.json``, ``report.md`` and PNGs into ``out_dir``.

    ``task_checkpoint``: also sweep a task model with a verifier (Sudoku / arithmetic checkpoint):
    accuracy vs N for the fixed schedules.  ``padding_checkpoint``: a padded arithmetic checkpoint
    for part 4 instead of training one (its answer length must be a multiple of the block size).
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    chosen = select_parts(_preset_parts(preset), parts)
    with one_thread():
        return _run(PRESETS[preset], preset, Path(out_dir), seed, task_checkpoint, padding_checkpoint,
                    chosen, explicit=parts is not None)


def _run(p: Preset, preset: str, out_dir: Path, seed: int, task_checkpoint: str | None,
         padding_checkpoint: str | None, chosen: tuple[str, ...], explicit: bool) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    config = {"length": p.length, "steps": list(p.steps), "samples": p.samples, "orders": list(p.orders),
              "tune": asdict(p.tune), "train": asdict(p.train) if p.train else None,
              "languages": [asdict(s) for s in p.languages], "toy": asdict(p.toy),
              "padding": [asdict(s) for s in p.padding]}
    command = f"mdm exp energy-schedules --preset {preset} --seed {seed}"
    if explicit:
        command += f" --parts {','.join(chosen)}"
    result: dict = {"preset": preset, "config": config, "provenance": provenance(command, seed, config),
                    "parts": list(chosen), "toy": None}
    timings = {}
    if "toy" in chosen:
        result["toy"] = run_toy(p.toy)
        plot_toy(result["toy"], out_dir)
        timings["toy"] = time.perf_counter() - t0

    result["languages"] = {}
    for setup in (p.languages if "languages" in chosen else ()):
        t1 = time.perf_counter()
        language = parse_language_spec(setup.spec)
        name = setup.label
        h = language.entropy(p.length).value / p.length
        result["languages"][setup.spec] = _language_part(name, language, language.denoiser(), p,
                                                         setup.tune_metric, seed, out_dir, h)
        timings[name] = time.perf_counter() - t1

    result["trained"] = {}
    if "trained" in chosen:
        t1 = time.perf_counter()
        language = parse_language_spec(p.train.language)
        model, summary = train_language_model(p.train, p.length, out_dir / "model", seed)
        h = language.entropy(p.length).value / p.length
        name = f"{p.train.language.split(':')[0]}-trained"
        part = _language_part(name, language, LanguageView(model, language.vocab_size), p, "ser", seed,
                              out_dir, h)
        result["trained"][p.train.language] = {**part, "train": summary}
        timings["trained"] = time.perf_counter() - t1

    result["padding"] = {}
    for setup in (s for s in p.padding if s.name in chosen):
        ckpt = padding_checkpoint if setup is p.padding[0] else None  # the checkpoint replaces the first
        part = run_padding(setup, out_dir, seed, ckpt)
        part["claim"] = convex_vs_linear(part["rows"], "accuracy", max_steps=max(setup.steps),
                                         higher_is_better=True)
        result["padding"][setup.name] = part
        timings[setup.name] = part["wall_s"]

    if task_checkpoint is not None:
        from mdm.eval.splits import task_test_split
        from mdm.train import checkpoint

        model, _ = checkpoint.load(task_checkpoint)
        dataset, task = task_test_split(task_checkpoint, None)
        rows = task_sweep(model, dataset, p.steps, schedules_under_test(None), seed=seed)
        plot_sweep(rows, out_dir / "sweep_task.png", task, metrics=("accuracy",), highlight=HIGHLIGHT)
        result["task"] = {"checkpoint": str(task_checkpoint), "task": task, "rows": rows,
                          "claim": convex_vs_linear(rows, "accuracy", higher_is_better=True)}

    result["timings_s"] = timings
    result["wall_s"] = time.perf_counter() - t0
    write_json_atomic(out_dir / "result.json", result)
    write_report(result, out_dir)
    return result
