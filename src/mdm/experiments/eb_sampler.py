"""Entropy-bounded unmasking on reasoning tasks: ``mdm exp eb-sampler``.

Ben-Hamu et al., "Accelerated Sampling from Masked Diffusion Models via Entropy Bounded Unmasking"
(arXiv 2505.24857): rank the masked positions by an error proxy and reveal, in one forward pass,
the largest ranked prefix whose one-site entropies satisfy ``sum H - max H <= gamma``
(:class:`mdm.sampling.EntropyBounded`).  The claim checked here: at equal accuracy the EB-sampler
needs 2-3x fewer forward passes (NFE) than revealing one token per step (top-1).

Parts, all measured by this module:

1. **Sudoku** and **arithmetic** (:mod:`mdm.tasks`): a small time-independent transformer trained
   with the packaged configs ``sudoku-small`` / ``arithmetic-small`` (or, in the quick preset, a
   tiny one trained here), then accuracy (exact verifier) and mean per-sequence NFE on a validation
   and on the test split for ``TopK(k)``, ``EntropyBounded(gamma)`` with the confidence, entropy and margin
   proxies, ``Threshold(tau)`` and ``Scheduled(steps)``; arithmetic also with semi-AR blocks and
   the stop rule on ``eos`` (a row stops costing NFE once its answer has ended).  Greedy values
   (temperature 0), as in the paper.
2. **the bound itself** (:mod:`mdm.experiments.eb_bound`): on an exact HMM oracle the KL between
   revealing a set jointly and independently (its total correlation) against ``sum H - max H``.
3. **the papers' regimes** (issue 17): ``sudoku-hard`` (the generator's 30-35 clues, a larger
   model, packaged config ``sudoku-hard``) and ``arithmetic-padded`` (a strong 1-5 digit addition
   model whose answers are followed by padding to 32 positions, ``arithmetic-padded``), swept with
   and without blocks and the stop rule.

``run(..., parts=)`` (``mdm exp eb-sampler --parts NAME,...``) runs only the named parts.

The speed-up at equal accuracy is NFE(top-1) / NFE of the cheapest EB setting whose accuracy is
within 0.5 points of top-1 (:func:`~mdm.experiments.eb_selection.speedup`).  That setting is chosen
on the validation prompts (held out from training, disjoint from the test split) and its accuracy,
NFE and paired difference vs top-1 are reported on the test prompts, so the choice among ~30
settings does not flatter the number reported.  Parts are cached in ``out_dir/parts/`` keyed by
their configuration, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from mdm.errors import ConfigError
from mdm.experiments.common import provenance, write_json_atomic
from mdm.experiments.eb_bound import GAMMA_GRID
from mdm.experiments.eb_selection import TOLERANCE, speedup  # noqa: F401 (TOLERANCE: re-exported)
from mdm.experiments.task_models import task_kind, task_model
from mdm.sampling import EntropyBounded, Scheduled, Threshold, TopK, Unmasker, sample
from mdm.train.precision import autocast

PAPER_GAMMAS = GAMMA_GRID  # arXiv 2505.24857's grid, besides gamma = 0


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class SamplerGrid:
    """Which samplers each task is swept with."""

    topk: tuple[int, ...] = (1, 2, 4, 8)
    gammas: tuple[float, ...] = PAPER_GAMMAS
    proxies: tuple[str, ...] = ("confidence", "entropy", "margin")
    taus: tuple[float, ...] = (0.99, 0.9, 0.7, 0.5)


@dataclass(frozen=True)
class TaskSetup:
    """A task model and how it is evaluated.

    ``config`` is a packaged training config; ``overrides`` are ``key=value`` changes to it (the
    quick preset shrinks model and data).  ``shared_checkpoint``: use the config's own ``out_dir``
    (so ``mdm train CONFIG`` and this experiment share one model) instead of ``out_dir/models``.
    ``blocks``: semi-AR block sizes to sweep (None = one block).  ``stop_rule``: for tasks whose
    answers end with ``eos``, sweep with the stop rule (True) and/or without it (False: every
    position is decoded).  ``grid``: this task's samplers (None: the preset's).  ``n_valid``
    validation prompts,
    disjoint from the train and test splits, are where the equal-accuracy setting is chosen;
    ``n_eval`` test prompts are where it is reported.
    """

    name: str
    config: str
    overrides: tuple[str, ...] = ()
    shared_checkpoint: bool = False
    n_valid: int = 300
    n_eval: int = 1000
    batch_size: int = 250
    blocks: tuple[int | None, ...] = (None,)
    scheduled_steps: tuple[int, ...] = (8, 16, 32)
    stop_rule: tuple[bool, ...] = (True,)
    grid: SamplerGrid | None = None


@dataclass(frozen=True)
class BoundSetup:
    """The exact HMM of the bound check (see :func:`mdm.experiments.eb_bound.check_bound`)."""

    n_hidden: int = 8
    vocab_size: int = 6
    successors: int = 2
    # One token per state: emissions then pin the hidden path, so positions are strongly
    # correlated and EB picks sets of several positions (with V/2 tokens per state the one-site
    # entropies are so high that EB reveals one position for every gamma <= 0.25).
    emitted: int | None = 1
    length: int = 12
    n_trials: int = 200


@dataclass(frozen=True)
class Preset:
    tasks: tuple[TaskSetup, ...]
    grid: SamplerGrid = field(default_factory=SamplerGrid)
    bound: BoundSetup = field(default_factory=BoundSetup)
    precision: str = "fp32"  # of the sampling forward passes


_QUICK_MODEL = ("model.d_model=32", "model.n_layers=1", "model.n_heads=2", "max_steps=40", "batch_size=16",
                "eval_every=0", "save_every=0", "ema=0.0", "precision=fp32", "threads=1", "log_every=10",
                "optim.warmup_steps=5")
PRESETS: dict[str, Preset] = {
    "quick": Preset(
        tasks=(
            TaskSetup("sudoku", "sudoku-small", _QUICK_MODEL + (
                "data.options={n_train: 128, n_test: 8, min_clues: 34, max_clues: 40, workers: 1, "
                "progress: false}",), n_valid=8, n_eval=8, batch_size=8, scheduled_steps=(8,)),
            TaskSetup("arithmetic", "arithmetic-small", _QUICK_MODEL + (
                "data.options={max_digits: 5, ops: ['+'], n_train: 512, n_test: 8}",),
                n_valid=8, n_eval=8, batch_size=8, blocks=(None, 4), scheduled_steps=(4,)),
            TaskSetup("sudoku-hard", "sudoku-hard", _QUICK_MODEL + (
                "data.options={n_train: 128, n_test: 8, min_clues: 30, max_clues: 35, workers: 1, "
                "progress: false}",), n_valid=8, n_eval=8, batch_size=8, scheduled_steps=(8,)),
            TaskSetup("arithmetic-padded", "arithmetic-padded", _QUICK_MODEL + (
                "data.options={max_digits: 5, ops: ['+'], reverse: true, zero_pad: true, n_train: 512, "
                "n_test: 8}",), n_valid=8, n_eval=8, batch_size=8, blocks=(None, 8), scheduled_steps=(8,),
                stop_rule=(True, False)),
        ),
        grid=SamplerGrid(topk=(1, 4), gammas=(0.01, 1.0), proxies=("confidence", "entropy"), taus=(0.9,)),
        bound=BoundSetup(n_hidden=3, vocab_size=3, emitted=None, length=8, n_trials=20),
    ),
    "full": Preset(
        tasks=(
            TaskSetup("sudoku", "sudoku-small", shared_checkpoint=True, n_valid=300, n_eval=300,
                      batch_size=300, scheduled_steps=(8, 16, 32)),
            TaskSetup("arithmetic", "arithmetic-small", shared_checkpoint=True, n_valid=1000, n_eval=1000,
                      batch_size=500, blocks=(None, 4, 2), scheduled_steps=(2, 4, 8)),
            # issue 17: the papers' regimes -- Sudoku at the generator's 30-35 clues with a larger
            # model, and a strong addition model whose answers are followed by padding (32 positions)
            # sized for one CPU session: a 1.9M model's top-1 pass over 500 puzzles took 14 min
            TaskSetup("sudoku-hard", "sudoku-hard", shared_checkpoint=True, n_valid=100, n_eval=200,
                      batch_size=200, scheduled_steps=(32,),
                      grid=SamplerGrid(topk=(1, 4), gammas=(0.001, 0.01, 0.1, 0.5), proxies=("margin",),
                                       taus=(0.99, 0.9))),
            TaskSetup("arithmetic-padded", "arithmetic-padded", shared_checkpoint=True, n_valid=500,
                      n_eval=1000, batch_size=500, blocks=(None, 8), scheduled_steps=(4, 8, 16, 32),
                      stop_rule=(True, False),
                      grid=SamplerGrid(topk=(1, 2, 4, 8), gammas=(0.001, 0.01, 0.1, 0.5, 1.0),
                                       proxies=("confidence", "margin"), taus=(0.99, 0.9, 0.7))),
        ),
    ),
}


# ----------------------------------------------------------------------------- samplers


@dataclass(frozen=True)
class SamplerSpec:
    """One point of a sweep: ``family`` names its curve, ``label`` the setting on it."""

    family: str
    label: str
    unmasker: Unmasker
    block_size: int | None = None
    stop: bool = True  # the stop rule on eos, where the task has one

    @property
    def curve(self) -> str:
        name = self.family if self.block_size is None else f"{self.family}, blocks of {self.block_size}"
        return name if self.stop else f"{name}, no stop rule"


def sampler_specs(grid: SamplerGrid, task: TaskSetup, answer_len: int) -> list[SamplerSpec]:
    """Every sampler the task is swept with, for each block size that divides the answer and each
    stop-rule setting of ``task.stop_rule``."""
    grid = task.grid or grid
    return [spec for stop in task.stop_rule for spec in _block_specs(grid, task, answer_len, stop)]


def _block_specs(grid: SamplerGrid, task: TaskSetup, answer_len: int, stop: bool) -> list[SamplerSpec]:
    specs = []
    for block in task.blocks:
        if block is not None and answer_len % block:
            raise ConfigError(f"{task.name}: block size {block} does not divide the answer length "
                              f"{answer_len}")
        n_blocks = 1 if block is None else answer_len // block
        specs += [SamplerSpec("top-k", f"k={k}", TopK(k), block, stop) for k in grid.topk]
        specs += [SamplerSpec(f"EB ({proxy})", f"gamma={g:g}", EntropyBounded(g, proxy=proxy), block,
                              stop) for proxy in grid.proxies for g in grid.gammas]
        specs += [SamplerSpec("threshold", f"tau={t:g}", Threshold(t), block, stop) for t in grid.taus]
        specs += [SamplerSpec("scheduled", f"steps={s}", Scheduled(s), block, stop)
                  for s in task.scheduled_steps
                  if s % n_blocks == 0 and s // n_blocks <= (block or answer_len)]
    return specs


def evaluate(model, dataset, spec: SamplerSpec, *, n_eval: int, batch_size: int, seed: int = 0,
             stop: int | None = None, pad_id: int | None = None, precision: str = "fp32") -> dict:
    """Accuracy (the dataset's verifier) and per-sequence NFE of one sampler on ``n_eval`` prompts.

    Returns the row dict plus ``correct`` (BoolTensor ``[n]``) for paired comparisons.
    """
    device = next(model.parameters()).device if isinstance(model, torch.nn.Module) else torch.device("cpu")
    prompts = dataset.prompts()[:n_eval]
    correct, nfe = [], []
    t0 = time.perf_counter()
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size].to(device)
        with autocast(precision, device):
            out = sample(model, prompt=chunk, length=dataset.answer_len, unmasker=spec.unmasker,
                         block_size=spec.block_size, temperature=0.0, stop=stop, pad_id=pad_id,
                         seed=seed + start)
        correct.append(dataset.verify(out.tokens.cpu()))
        nfe.append(out.nfe.cpu().double())
    correct_t, nfe_t = torch.cat(correct), torch.cat(nfe)
    n = len(correct_t)
    acc = float(correct_t.double().mean())
    return {
        "family": spec.family, "label": spec.label, "block_size": spec.block_size, "stop": spec.stop,
        "curve": spec.curve,
        "n": n, "accuracy": acc, "accuracy_se": math.sqrt(max(acc * (1 - acc), 0.0) / n),
        "nfe_mean": float(nfe_t.mean()), "nfe_se": float(nfe_t.std() / math.sqrt(n)) if n > 1 else 0.0,
        "nfe_max": float(nfe_t.max()), "wall_s": time.perf_counter() - t0, "correct": correct_t,
    }


def prompt_groups(task: str, dataset, n: int) -> list[str] | None:
    """A difficulty label per test prompt of a ``task`` (a registered task name): for Sudoku the
    simplest technique that solves it (:func:`mdm.tasks.sudoku.technique`), for arithmetic the
    digits of the longer operand."""
    if task == "sudoku":
        from mdm.tasks.sudoku import technique

        return [technique(p) for p in dataset.puzzles[:n]]
    if task == "arithmetic":
        return [f"{max(len(str(p.a)), len(str(p.b)))} digits" for p in dataset.problems[:n]]
    return None


def accuracy_by_group(correct: torch.Tensor, groups: list[str]) -> dict[str, float]:
    return {g: float(correct[[i for i, x in enumerate(groups) if x == g]].double().mean())
            for g in sorted(set(groups))}


# ----------------------------------------------------------------------------- parts


def _key(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _cached(out_dir: Path, name: str, config: dict, compute) -> dict:
    """``compute()`` unless ``out_dir/parts/name.json`` holds the result of the same config."""
    path = out_dir / "parts" / f"{name}.json"
    key = _key(config)
    if path.is_file():
        try:
            saved = json.loads(path.read_text())
            if saved.get("key") == key:
                return saved["result"]
        except (OSError, ValueError):
            pass  # unreadable part: recompute it
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"key": key, "config": config, "result": result})
    return result


def part_config(setup: TaskSetup, preset: Preset, seed: int) -> dict:
    """What a task part's result depends on.  It holds the training config itself (not just its
    name), so editing the packaged YAML invalidates a cached part."""
    from mdm.train import load_config

    train_cfg = load_config(setup.config, list(setup.overrides)).to_dict()
    return {"task": asdict(setup), "train": train_cfg, "grid": asdict(preset.grid),
            "precision": preset.precision, "seed": seed}


def task_part(setup: TaskSetup, preset: Preset, out_dir: Path, seed: int = 0, progress: bool = True) -> dict:
    """Train or load the task model, sweep every sampler on the validation and the test prompts,
    choose each family's equal-accuracy setting on validation and report it on test."""
    model, valid, dataset, summary = task_model(setup, out_dir, progress)
    kind = task_kind(setup)
    tok = dataset.tokenizer
    eos = tok.eos_id if kind == "arithmetic" else None  # answers of fixed length have no stop rule
    specs = sampler_specs(preset.grid, setup, dataset.answer_len)
    rows, valid_rows = [], []
    bar = tqdm(specs, desc=f"eb-sampler {setup.name}", unit="sampler", disable=not progress)
    for spec in bar:
        bar.set_postfix_str(f"{spec.curve} {spec.label}")
        stop = eos if spec.stop else None
        pad = tok.pad_id if stop is not None else None
        for split, n, out in ((valid, setup.n_valid, valid_rows), (dataset, setup.n_eval, rows)):
            out.append(evaluate(model, split, spec, n_eval=min(n, len(split)), batch_size=setup.batch_size,
                                seed=seed, stop=stop, pad_id=pad, precision=preset.precision))
    groups = prompt_groups(kind, dataset, rows[0]["n"]) if rows else None
    if groups is not None:
        for r in rows:
            r["accuracy_by_group"] = accuracy_by_group(r["correct"], groups)
    prefixes = ["EB", *sorted({r["family"] for r in rows if r["family"].startswith("EB (")}),
                "top-k", "threshold", "scheduled"]
    speedups = [s for stop in setup.stop_rule for block in setup.blocks for p in prefixes
                if (s := speedup(valid_rows, p, block_size=block, test_rows=rows, stop=stop)) is not None]
    for r in (*rows, *valid_rows):
        del r["correct"]
    return {"train": summary, "task": kind, "answer_len": dataset.answer_len, "n_test": len(dataset),
            "rows": rows,
            "n_valid": len(valid), "valid_rows": valid_rows, "selection": "validation",
            "speedups": speedups, "groups": None if groups is None else dict(Counter(groups))}


def bound_part(setup: BoundSetup, seed: int) -> dict:
    from mdm.experiments import eb_bound
    from mdm.languages import HMM

    language = HMM.random(setup.n_hidden, setup.vocab_size, seed=seed, successors=setup.successors,
                          emitted=setup.emitted)
    t0 = time.perf_counter()
    result = eb_bound.check_bound(language, length=setup.length, n_trials=setup.n_trials, seed=seed)
    result["wall_s"] = time.perf_counter() - t0
    return result


# ----------------------------------------------------------------------------- entry point


def parts(preset: str) -> tuple[str, ...]:
    """The parts of ``preset`` that ``run(..., parts=)`` can select: ``bound`` and each task."""
    return ("bound", *(t.name for t in PRESETS[preset].tasks))


_preset_parts = parts  # run() takes an argument of the same name


def run(preset: str, out_dir: Path, seed: int = 0, progress: bool = True,
        parts: tuple[str, ...] | None = None) -> dict:
    """Run the preset (only the named ``parts`` when given, see :func:`parts`); write
    ``result.json``, ``report.md`` and PNGs into ``out_dir``."""
    from mdm.experiments.common import select_parts
    from mdm.experiments.eb_sampler_report import plot_bound, plot_task, write_report

    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    chosen = select_parts(_preset_parts(preset), parts)
    p, out_dir = PRESETS[preset], Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    config = {"preset": preset, "seed": seed, **asdict(p)}
    command = f"mdm exp eb-sampler --preset {preset} --seed {seed}"
    if parts is not None:
        command += f" --parts {','.join(chosen)}"
    result: dict = {"preset": preset, "config": config, "provenance": provenance(command, seed, config),
                    "parts": list(chosen), "bound": None}

    if "bound" in chosen:
        bound_cfg = {"bound": asdict(p.bound), "seed": seed}
        result["bound"] = _cached(out_dir, "bound", bound_cfg, lambda: bound_part(p.bound, seed))
        plot_bound(result["bound"], out_dir / "bound.png")

    result["tasks"] = {}
    for setup in (t for t in p.tasks if t.name in chosen):
        part = _cached(out_dir, setup.name, part_config(setup, p, seed),
                       lambda setup=setup: task_part(setup, p, out_dir, seed, progress))
        plot_task(part, out_dir / f"{setup.name}.png", setup.name)
        result["tasks"][setup.name] = part

    result["wall_s"] = time.perf_counter() - t0
    write_json_atomic(out_dir / "result.json", result)
    write_report(result, out_dir)
    return result
