"""The samplers ``mdm exp eb-sampler`` sweeps, and one sampler's accuracy and NFE on a task split."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from mdm.errors import ConfigError
from mdm.sampling import EntropyBounded, Scheduled, Threshold, TopK, Unmasker, sample
from mdm.train.precision import autocast

__all__ = ["SamplerSpec", "accuracy_by_group", "evaluate", "prompt_groups", "sampler_specs"]


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
    """Every sampler the task is swept with, for each block size that divides the answer and each
    stop-rule setting of ``task.stop_rule``."""
    grid = task.grid or grid
    return [spec for stop in task.stop_rule for spec in _block_specs(grid, task, answer_len, stop)]


def _block_specs(grid, task, answer_len: int, stop: bool) -> list[SamplerSpec]:
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
