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
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from mdm.errors import ConfigError
from mdm.experiments.common import one_thread, provenance, select_parts, write_json_atomic
from mdm.experiments.energy_padding import PaddingSetup, run_padding
from mdm.experiments.energy_schedules_report import plot_sweep, write_report
from mdm.experiments.energy_toy import ToyConfig, plot_toy, run_toy
from mdm.languages import LanguageView, parse_language_spec
from mdm.schedules import BetaEnergy, Cosine, Linear, Schedule
from mdm.tuning import (
    TuneConfig,
    language_objective,
    plot_heatmap,
    tune_schedule,
    verifier_objective,
)

ORDERS = ("random", "confidence")
FIXED_SCHEDULES: dict[str, Schedule] = {
    "linear": Linear(),
    "cosine": Cosine(),
    "sin2=Beta(1,1)": BetaEnergy(1.0, 1.0),
    "Beta(0.9,0.3)": BetaEnergy(0.9, 0.3),
    "Beta(1,0.2)": BetaEnergy(1.0, 0.2),
}
CONVEX = ("Beta(0.9,0.3)", "Beta(1,0.2)")  # the paper's slow-start schedules
HIGHLIGHT = (*CONVEX, "tuned")  # drawn solid in the plots


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class LanguageSetup:
    """An exact language (``mdm tune-schedule --language`` syntax) and the metric to tune it on."""

    spec: str
    tune_metric: str = "ser"  # "ser" or "ter"
    name: str | None = None  # default: the spec's kind + "-exact"

    @property
    def label(self) -> str:
        return self.name or f"{self.spec.split(':')[0]}-exact"


@dataclass(frozen=True)
class TuneSetup:
    steps: int = 8
    grid: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 11))
    samples: int = 128
    refine_top: int = 3
    refine_samples: int = 512


@dataclass(frozen=True)
class TrainSetup:
    """The small model trained on ``language`` (through :func:`mdm.train.train`)."""

    language: str
    max_steps: int = 300
    batch_size: int = 64
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    lr: float = 3e-3
    n_train: int = 20_000


@dataclass(frozen=True)
class Preset:
    toy: ToyConfig
    languages: tuple[LanguageSetup, ...]
    length: int
    steps: tuple[int, ...]
    samples: int  # sequences per (schedule, N, order)
    tune: TuneSetup
    train: TrainSetup | None
    batch_size: int = 512
    orders: tuple[str, ...] = ORDERS
    padding: tuple[PaddingSetup, ...] = ()  # part 4: trained models in the padding regime (and controls)


NGRAM = "ngram:vocab=8,order=2,branching=4,seed=0"
HMM = "hmm:states=8,vocab=8,seed=0,successors=3"
# the same HMM with end-of-text: answers of mean length 8, then eos and pad (87% padding at length 64)
PADDED_HMM = LanguageSetup(HMM + ",end=8", "ser", name="hmm-padded-exact")

_QUICK_PADDING = ("model.d_model=32", "model.n_layers=1", "model.n_heads=2", "max_steps=60", "batch_size=32",
                  "eval_every=0", "save_every=0", "ema=0.0", "precision=fp32", "threads=1", "log_every=10",
                  "optim.warmup_steps=5", "data.options={max_digits: 5, ops: ['+'], reverse: true, "
                  "zero_pad: true, n_train: 1000, n_test: 200}")

CONTROL_TITLE = "4b. Control: the same task without the padding"
UNALIGNED_TITLE = "4c. A weaker model: operands left-padded (unaligned digits)"

PRESETS: dict[str, Preset] = {
    # A smoke test of every part (about a minute on 2 idle cores); its trained model is too small
    # to mean anything.
    "quick": Preset(
        toy=ToyConfig(grid=(0.25, 0.5, 0.75, 1.0)),
        languages=(LanguageSetup(NGRAM, "ser"), PADDED_HMM),
        length=32,
        steps=(4, 8, 16),
        samples=128,
        tune=TuneSetup(steps=8, grid=(0.3, 0.6, 0.9), samples=64, refine_top=2, refine_samples=128),
        train=TrainSetup(NGRAM, max_steps=100, batch_size=32, d_model=32, n_layers=1, n_heads=2,
                         n_train=2000),
        padding=(PaddingSetup(
            overrides=_QUICK_PADDING, shared_checkpoint=False, n_valid=64, test_items=64, decode_batch=64,
            tune_grid=(0.5, 0.9), tune_samples=32, tune_refine_top=1, tune_refine_samples=32),
            PaddingSetup(
            name="padding-control", overrides=(*_QUICK_PADDING, "data.seq_len=20"), shared_checkpoint=False,
            block_size=8, steps=(2, 4, 8), tune_steps=2, n_valid=64, test_items=64, decode_batch=64,
            tune_grid=(0.5, 0.9), tune_samples=32, tune_refine_top=1, tune_refine_samples=32,
            title=CONTROL_TITLE),
            PaddingSetup(
            name="padding-unaligned", overrides=(*_QUICK_PADDING, "data.options.zero_pad=false"),
            shared_checkpoint=False, n_valid=64, test_items=64, decode_batch=64, tune_grid=(0.5, 0.9),
            tune_samples=32, tune_refine_top=1, tune_refine_samples=32, title=UNALIGNED_TITLE)),
    ),
    "full": Preset(
        toy=ToyConfig(),
        languages=(LanguageSetup(NGRAM, "ser"), LanguageSetup(HMM, "ter"), PADDED_HMM),
        length=64,
        steps=(4, 8, 16, 32, 64),
        samples=512,
        tune=TuneSetup(),
        train=TrainSetup(NGRAM, max_steps=1500, batch_size=64, d_model=64, n_layers=2, n_heads=4,
                         lr=2e-3, n_train=50_000),
        padding=(
            PaddingSetup(),  # the packaged `arithmetic-padded` model (`mdm train arithmetic-padded`)
            # control: the same config with an 8-token answer region (the longest sum + eos: ~38%
            # padding instead of 85%), one block, the same steps per answer position
            PaddingSetup(name="padding-control", overrides=("data.seq_len=20", "max_steps=1200"),
                         shared_checkpoint=False, block_size=8, steps=(2, 4, 8, 16), tune_steps=2,
                         title=CONTROL_TITLE),
            # a weaker model: the operands left-padded as in `arithmetic-small` (digit places at
            # varying positions), 800 steps -- parallel reveals can then cost accuracy
            PaddingSetup(name="padding-unaligned", overrides=("data.options.zero_pad=false", "max_steps=800"),
                         shared_checkpoint=False, title=UNALIGNED_TITLE),
        ),
    ),
}


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
    same seed (common random numbers): their differences are less noisy than their values."""
    from mdm.sampling import Scheduled
    from mdm.tuning import sample_in_batches

    rows = []
    for order in preset.orders:
        for label, schedule in schedules_under_test(tuned.get(order)).items():
            for n_steps in preset.steps:
                x = sample_in_batches(denoiser, preset.samples, preset.batch_size, seed * 1000 + n_steps,
                                      length=preset.length, temperature=1.0,
                                      unmasker=Scheduled(n_steps, schedule, order))
                rows.append({"order": order, "schedule": label.split("=")[0], "label": label,
                             "steps": n_steps, **_measure(language, x, entropy_per_token),
                             **_end_of_text_reveals(language, denoiser, preset, schedule, order, n_steps,
                                                    seed * 1000 + n_steps)})
    return rows


def _end_of_text_reveals(language, denoiser, preset: Preset, schedule, order: str, n_steps: int,
                         seed: int) -> dict:
    """For a language with end-of-text tokens (``language.end_tokens``): per sequence, how many
    ``eos``/``pad`` values the schedule reveals in the first half of its steps, and how many
    positions it reveals then -- the mechanism of the padding regime.  Drawn with the seed of the
    sweep's first batch (so the same samples when one batch holds them all); ``{}`` otherwise."""
    from mdm.experiments.energy_padding import padding_reveals
    from mdm.sampling import Scheduled, sample

    if not getattr(language, "end_tokens", ()):
        return {}
    n = min(preset.samples, preset.batch_size)
    gen = torch.Generator().manual_seed(seed)
    res = sample(denoiser, batch_size=n, length=preset.length, temperature=1.0, generator=gen, trace=True,
                 unmasker=Scheduled(n_steps, schedule, order))
    pad, early = padding_reveals(res.trace, language.end_tokens, n_steps)
    return {"end_of_text_first_half": float(pad.double().mean()),
            "revealed_first_half": float(early.double().mean())}


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
    chosen = select_parts(globals()["parts"](preset), parts)
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
        from mdm.train import checkpoint
        from mdm.train.splits import task_test_split

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
