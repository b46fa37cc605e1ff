"""The task parts of ``mdm exp eb-sampler`` (train or load a model, sweep its samplers on the
validation and test prompts) and the bound check on an exact HMM."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from mdm.errors import ConfigError
from mdm.eval.eb_bound import check_bound
from mdm.eval.stats import standard_error
from mdm.eval.verified import decode_verified
from mdm.experiments.common import interval
from mdm.experiments.eb_sampler.selection import speedup
from mdm.experiments.training import task_kind, task_model
from mdm.languages import HMM
from mdm.sampling import EntropyBounded, Scheduled, Threshold, TopK, Unmasker
from mdm.tasks.sudoku import technique
from mdm.train import load_config
from mdm.train.compat import model_identity
from mdm.train.precision import autocast

__all__ = ["SamplerSpec", "bound_part", "evaluate", "sampler_specs", "task_part", "train_config"]


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


def sampler_specs(grid, task, answer_len: int) -> list[SamplerSpec]:
    """Every sampler of ``task.grid or grid``, for each block size of the task (it must divide the
    answer) and each of its stop-rule settings; ``Scheduled(s)`` where its steps fit the blocks."""
    grid, specs = task.grid or grid, []
    for stop in task.stop_rule:
        for block in task.blocks:
            if block is not None and answer_len % block:
                raise ConfigError(f"{task.name}: block size {block} does not divide the answer length "
                                  f"{answer_len}")
            n_blocks = 1 if block is None else answer_len // block
            specs += [SamplerSpec("top-k", f"k={k}", TopK(k), block, stop) for k in grid.topk]
            specs += [SamplerSpec(f"EB ({p})", f"gamma={g:g}", EntropyBounded(g, proxy=p), block, stop)
                      for p in grid.proxies for g in grid.gammas_of(p)]
            specs += [SamplerSpec("threshold", f"tau={t:g}", Threshold(t), block, stop) for t in grid.taus]
            specs += [SamplerSpec("scheduled", f"steps={s}", Scheduled(s), block, stop)
                      for s in grid.scheduled_steps or task.scheduled_steps
                      if s % n_blocks == 0 and s // n_blocks <= (block or answer_len)]
    return specs


def evaluate(model, dataset, spec: SamplerSpec, *, n_eval: int, batch_size: int, seed: int = 0,
             stop: int | None = None, pad_id: int | None = None, precision: str = "fp32",
             counted: torch.Tensor | None = None) -> dict:
    """One sampler on ``n_eval`` prompts (:func:`mdm.eval.verified.decode_verified`): a sweep's
    row plus ``correct`` (BoolTensor ``[n]``, for paired comparisons) and, given ``counted``,
    ``blanks_nfe`` (mean passes that revealed a counted position)."""
    device = next(model.parameters()).device if isinstance(model, torch.nn.Module) else torch.device("cpu")
    t0 = time.perf_counter()
    with autocast(precision, device):
        out = decode_verified(model, dataset, spec.unmasker, n=n_eval, batch_size=batch_size, seed=seed,
                              block_size=spec.block_size, stop=stop, pad_id=pad_id, counted=counted)
    n, acc = len(out.correct), float(out.correct.double().mean())
    row = {"family": spec.family, "label": spec.label, "block_size": spec.block_size, "stop": spec.stop,
           "curve": spec.curve, "n": n, "accuracy": acc,
           "accuracy_se": standard_error(out.correct), "nfe_mean": float(out.nfe.mean()),
           "nfe_se": standard_error(out.nfe),
           "nfe_max": float(out.nfe.max()), "wall_s": time.perf_counter() - t0, "correct": out.correct}
    return row if out.counted_nfe is None else {**row, "blanks_nfe": float(out.counted_nfe.mean())}


def prompt_groups(task: str, dataset, n: int) -> list[str] | None:
    """A difficulty label per test prompt: for Sudoku the simplest technique that solves it
    (:func:`mdm.tasks.sudoku.technique`), for arithmetic the digits of the longer operand."""
    if task == "sudoku":
        return [technique(p) for p in dataset.puzzles[:n]]
    if task == "arithmetic":
        return [f"{max(len(str(p.a)), len(str(p.b)))} digits" for p in dataset.problems[:n]]
    return None


def accuracy_by_group(correct: torch.Tensor, groups: list[str]) -> dict[str, float]:
    return {g: float(correct[[i for i, x in enumerate(groups) if x == g]].double().mean())
            for g in sorted(set(groups))}


def train_config(setup) -> dict:
    """What the setup's model depends on in its resolved training config (not just the config's name;
    :func:`mdm.train.compat.model_identity`): a part's cache key, so editing the packaged YAML
    invalidates a cached part and changing its ``threads`` does not."""
    return model_identity(load_config(setup.config, list(setup.overrides)).to_dict())


def task_part(setup, grid, precision: str, out_dir: Path, seed: int = 0, progress: bool = True) -> dict:
    """Train or load the task model, sweep every sampler of ``grid`` (the preset's, unless the task
    has its own) on the validation and the test prompts in ``precision``, choose each family's
    equal-accuracy setting on validation and report it on test."""
    model, valid, dataset, summary = task_model(setup, out_dir, progress, seed)
    kind = task_kind(setup)
    tok = dataset.tokenizer
    eos = tok.eos_id if kind == "arithmetic" else None  # answers of fixed length have no stop rule
    rows, valid_rows = [], []
    for spec in tqdm(sampler_specs(grid, setup, dataset.answer_len), desc=f"eb-sampler {setup.name}",
                     unit="sampler", disable=not progress):
        stop = eos if spec.stop else None
        for split, n, out in ((valid, setup.n_valid, valid_rows), (dataset, setup.n_eval, rows)):
            out.append(evaluate(model, split, spec, n_eval=min(n, len(split)), batch_size=setup.batch_size,
                                seed=seed, stop=stop, pad_id=tok.pad_id if stop is not None else None,
                                precision=precision))
    groups = prompt_groups(kind, dataset, rows[0]["n"]) if rows else None
    families = ["EB", *sorted({r["family"] for r in rows if r["family"].startswith("EB (")}),
                "top-k", "threshold", "scheduled"]
    speedups = [s for stop in setup.stop_rule for block in setup.blocks for f in families
                if (s := speedup(valid_rows, f, block_size=block, test_rows=rows, stop=stop)) is not None]
    for r in rows:  # the test rows' 95% bootstrap CI over prompts (validation rows only choose)
        r["accuracy_ci"] = interval(r["correct"])
        if groups is not None:
            r["accuracy_by_group"] = accuracy_by_group(r["correct"], groups)
    for r in (*rows, *valid_rows):
        del r["correct"]
    return {"train": summary, "task": kind, "answer_len": dataset.answer_len, "n_test": len(dataset),
            "rows": rows, "n_valid": len(valid), "valid_rows": valid_rows, "selection": "validation",
            "speedups": speedups, "groups": None if groups is None else dict(Counter(groups))}


def bound_part(setup, seed: int) -> dict:
    """:func:`mdm.eval.eb_bound.check_bound` on the setup's HMM, timed."""
    language = HMM.random(setup.n_hidden, setup.vocab_size, seed=seed, successors=setup.successors,
                          emitted=setup.emitted)
    t0 = time.perf_counter()
    result = check_bound(language, length=setup.length, n_trials=setup.n_trials, seed=seed)
    return {**result, "wall_s": time.perf_counter() - t0}
