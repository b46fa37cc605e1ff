"""Part ``toy``: the energy paper's exact toy, the sampler's output law computed rather than sampled.

Chen et al. (arXiv 2509.13866) decode the 5-token targets of :func:`mdm.languages.energy_toy_target`
in 3 steps with exact conditionals.  For every Beta(a, b) on a grid the law of everything the
sampler can output is enumerated (:mod:`mdm.sampling.exact`) for three samplers: ``scheduled/random``
(exactly ``unmask_counts`` positions per step, uniformly chosen), ``scheduled/confidence`` (the same
counts, most confident first) and ``ancestral/random`` (the exact reverse process).  Values revealed
in one step are drawn independently: that is the only error, and the schedule controls it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mdm.languages import energy_toy_target
from mdm.sampling import Ancestral, Scheduled
from mdm.sampling.exact import output_law, ranked_output_law, sequence_codes
from mdm.schedules import BetaEnergy, Schedule, unmask_counts

SAMPLERS = ("scheduled/random", "scheduled/confidence", "ancestral/random")
REFERENCES = {"linear=Beta(0.5,0.5)": (0.5, 0.5), "sin2=Beta(1,1)": (1.0, 1.0)}


@dataclass(frozen=True)
class ToyConfig:
    grid: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 21))
    steps: int = 3
    length: int = 5
    samplers: tuple[str, ...] = SAMPLERS


def dense_law(law, vocab: int) -> np.ndarray:
    """An :class:`~mdm.sampling.exact.OutputLaw` as a float64 vector over all ``vocab**L`` strings."""
    out = np.zeros(vocab ** law.sequences.shape[1])
    np.add.at(out, sequence_codes(law.sequences, vocab).numpy(), law.probs.double().numpy())
    return out


def toy_law(denoiser, schedule: Schedule, steps: int, sampler: str, length: int, cache: dict) -> np.ndarray:
    """The exact output law of ``sampler`` (one of :data:`SAMPLERS`); fixed-count laws depend on the
    schedule only through its nonzero counts, so they are cached by them in ``cache``."""
    if sampler == "ancestral/random":
        return dense_law(output_law(denoiser, Ancestral(steps, schedule), length), 2)
    counts = tuple(k for k in unmask_counts(schedule, length, steps) if k)
    if (sampler, counts) not in cache:
        if sampler == "scheduled/random":
            law = output_law(denoiser, Scheduled(steps, schedule, "random"), length)
        else:
            law = ranked_output_law(denoiser, length, counts, proxy="confidence")
        cache[sampler, counts] = dense_law(law, 2)
    return cache[sampler, counts]


def kl_divergence(target: np.ndarray, law: np.ndarray) -> float:
    """KL(target || law) in nats over the target's support."""
    support = target > 0
    with np.errstate(divide="ignore"):
        return float(np.sum(target[support] * (np.log(target[support]) - np.log(law[support]))))


def total_variation(target: np.ndarray, law: np.ndarray) -> float:
    return float(0.5 * np.abs(target - law).sum())


def describe(schedule: Schedule, length: int, steps: int, sampler: str) -> dict:
    """What the sampler does with ``schedule``: its counts, or its per-step reveal probabilities."""
    if sampler.startswith("scheduled"):
        return {"counts": unmask_counts(schedule, length, steps)}
    anc = Ancestral(steps, schedule)
    return {"reveal_probs": [round(float(anc.size_law(i, length, 1, 1)[1]), 4) for i in range(steps)]}


def run_toy(config: ToyConfig = ToyConfig()) -> dict:
    """KL(target || sampler) and TV for every (a, b) on the grid, sampler and target: heatmaps
    ``[i_a][i_b]``, the first optimal cell and all cells tied with it, and linear / sin^2 with the
    share of grid cells strictly better than each."""
    grid, n, steps = config.grid, config.length, config.steps
    counts = [str(unmask_counts(BetaEnergy(a, b), n, steps)) for a in grid for b in grid]
    out: dict = {"grid": list(grid), "steps": steps, "length": n, "targets": {},
                 "distinct_counts": {c: counts.count(c) for c in dict.fromkeys(counts)}}
    for name in ("A", "B"):
        language = energy_toy_target(name)
        den, cache = language.denoiser(), {}
        target = dense_law(language, 2)
        res: dict = {"support": ["".join("ab"[int(v)] for v in s) for s in language.sequences],
                     "heatmaps": {}, "best": {}, "reference": {}}
        for sampler in config.samplers:
            kl, tv = np.zeros((len(grid), len(grid))), np.zeros((len(grid), len(grid)))
            for ia, a in enumerate(grid):
                for ib, b in enumerate(grid):
                    law = toy_law(den, BetaEnergy(a, b), steps, sampler, n, cache)
                    kl[ia, ib], tv[ia, ib] = kl_divergence(target, law), total_variation(target, law)
            res["heatmaps"][sampler] = {"kl": kl.tolist(), "tv": tv.tolist()}
            ties = [(grid[i], grid[j]) for i, j in zip(*np.nonzero(kl <= kl.min() + 1e-12))]
            ia, ib = np.unravel_index(int(np.argmin(kl)), kl.shape)
            res["best"][sampler] = {"a": grid[ia], "b": grid[ib], "kl": float(kl.min()),
                                    "tv": float(tv[ia, ib]),
                                    **describe(BetaEnergy(grid[ia], grid[ib]), n, steps, sampler),
                                    "n_tied_cells": len(ties), "tied_cells": ties}
            res["reference"][sampler] = {}
            for ref, ab in REFERENCES.items():
                law = toy_law(den, BetaEnergy(*ab), steps, sampler, n, cache)
                kl_ref = kl_divergence(target, law)
                res["reference"][sampler][ref] = {"kl": kl_ref, "tv": total_variation(target, law),
                                                  **describe(BetaEnergy(*ab), n, steps, sampler),
                                                  "frac_cells_better": float((kl < kl_ref - 1e-12).mean())}
        out["targets"][name] = res
    return out
