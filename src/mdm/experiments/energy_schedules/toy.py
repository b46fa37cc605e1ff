"""The energy paper's exact toy: a sampler's output law, computed rather than sampled.

Chen et al., "Masked Diffusion Models as Energy Minimization" (arXiv 2509.13866) illustrate
schedule preferences on 5-token strings over {a, b} decoded in 3 steps with exact conditionals:

* target A: uniform on {aaaaa, bbbbb} (perfectly correlated tokens),
* target B: uniform on the strings with two or three a's.

Here the law of everything the sampler can output is *enumerated*.  Three samplers:

* ``scheduled/random``: exactly ``unmask_counts(schedule, L, N)`` positions per step, chosen
  uniformly among the masked ones (``Scheduled(N, schedule, proxy="random")``).  Its law is
  piecewise constant in (a, b): only the rounded counts matter.
* ``scheduled/confidence``: the same counts, the most confident positions first (ties to the
  lower position), as in LLaDA's low-confidence remasking.
* ``ancestral/random``: the exact reverse process (``Ancestral(N, schedule)``): each masked
  position is revealed with probability (alpha(s) - alpha(t)) / (1 - alpha(t)); smooth in (a, b).

Positions revealed in the same step draw their values independently, each from its own
conditional given the positions already clean: that independence is the sampler's only error
with an exact denoiser, and it is what the schedule controls.

Every law comes from the one enumerator, :mod:`mdm.sampling.exact` (``output_law`` for random
order, ``ranked_output_law`` for a proxy-ranked count list); it is exponential in the length:
keep ``vocab**length`` small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from mdm.errors import SamplingError
from mdm.sampling.exact import all_sequences, ranked_output_law, sequence_codes
from mdm.schedules import BetaEnergy, Schedule, unmask_counts

SAMPLERS = ("scheduled/random", "scheduled/confidence", "ancestral/random")

# ----------------------------------------------------------------------------- exact laws


def dense_law(sequences: torch.Tensor, probs: torch.Tensor, vocab: int) -> np.ndarray:
    """A law given as (sequences [K, L], probs [K]) as a float64 vector over :func:`all_sequences`."""
    law = np.zeros(vocab ** sequences.shape[1])
    np.add.at(law, sequence_codes(sequences, vocab).numpy(), probs.double().numpy())
    return law


def exact_law_ranked(
    denoiser, length: int, counts: Sequence[int], *, proxy="confidence", temperature: float = 1.0
) -> np.ndarray:
    """:func:`mdm.sampling.exact.ranked_output_law` as a dense float64 vector over
    :func:`all_sequences` (``Scheduled`` with a deterministic proxy, zero-count steps skipped)."""
    law = ranked_output_law(denoiser, length, counts, proxy=proxy, temperature=temperature)
    return dense_law(law.sequences, law.probs, denoiser.vocab_size - 1)


@dataclass
class ExactLaws:
    """Exact output laws of one denoiser under many schedules (``sampler`` in :data:`SAMPLERS`).

    Fixed-count laws depend on the schedule only through its counts, so they are cached by the
    count list (zero-count steps removed: they change nothing for a time-independent denoiser).
    """

    denoiser: object
    length: int
    temperature: float = 1.0
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def vocab(self) -> int:
        return self.denoiser.vocab_size - 1

    def _random_order(self, unmasker) -> np.ndarray:
        from mdm.sampling.exact import output_law

        law = output_law(self.denoiser, unmasker, self.length, temperature=self.temperature)
        return dense_law(law.sequences, law.probs, self.vocab)

    def law(self, schedule: Schedule, steps: int, sampler: str) -> np.ndarray:
        from mdm.sampling import Ancestral, Scheduled

        if sampler not in SAMPLERS:
            raise SamplingError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        if sampler == "ancestral/random":
            return self._random_order(Ancestral(steps, schedule))
        counts = tuple(k for k in unmask_counts(schedule, self.length, steps) if k)
        key = (sampler, counts)
        if key not in self._cache:
            if sampler == "scheduled/random":
                self._cache[key] = self._random_order(Scheduled(steps, schedule, "random"))
            else:
                self._cache[key] = exact_law_ranked(self.denoiser, self.length, counts,
                                                    proxy="confidence", temperature=self.temperature)
        return self._cache[key]


# ----------------------------------------------------------------------------- divergences


def kl_divergence(target: np.ndarray, law: np.ndarray) -> float:
    """KL(target || law) in nats: the sampler's error measured where the target has mass
    (finite here: with an exact denoiser every target string keeps positive probability)."""
    support = target > 0
    with np.errstate(divide="ignore"):
        return float(np.sum(target[support] * (np.log(target[support]) - np.log(law[support]))))


def total_variation(target: np.ndarray, law: np.ndarray) -> float:
    return float(0.5 * np.abs(target - law).sum())


# ----------------------------------------------------------------------------- the paper's toy

TOY_LENGTH = 5
TOY_STEPS = 3
TOY_ALPHABET = "ab"


def toy_targets() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The paper's two targets as (sequences [S, 5], probs [S]); token 0 is 'a', 1 is 'b'."""
    strings = all_sequences(2, TOY_LENGTH)
    n_a = (strings == 0).sum(-1)
    a_seqs = torch.tensor([[0] * TOY_LENGTH, [1] * TOY_LENGTH])
    b_seqs = strings[(n_a == 2) | (n_a == 3)]
    return {
        "A": (a_seqs, torch.full((2,), 0.5, dtype=torch.float64)),
        "B": (b_seqs, torch.full((len(b_seqs),), 1.0 / len(b_seqs), dtype=torch.float64)),
    }


def toy_language(name: str):
    """The target as an exact language from :mod:`mdm.languages` (its denoiser is exact)."""
    from mdm.languages import Enumerated

    seqs, probs = toy_targets()[name]
    return Enumerated(seqs, probs)


def decode(x: torch.Tensor | Sequence[int]) -> str:
    return "".join(TOY_ALPHABET[int(v)] for v in x)


@dataclass(frozen=True)
class ToyConfig:
    grid: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 21))
    steps: int = TOY_STEPS
    length: int = TOY_LENGTH
    samplers: tuple[str, ...] = SAMPLERS


REFERENCES = {"linear=Beta(0.5,0.5)": (0.5, 0.5), "sin2=Beta(1,1)": (1.0, 1.0)}


def describe(schedule: Schedule, length: int, steps: int, sampler: str) -> dict:
    """What the sampler does with ``schedule``: its counts, or its per-step reveal probabilities."""
    from mdm.sampling import Ancestral

    if sampler.startswith("scheduled"):
        return {"counts": unmask_counts(schedule, length, steps)}
    anc = Ancestral(steps, schedule)
    return {"reveal_probs": [round(float(anc.size_law(i, length, 1, 1)[1]), 4) for i in range(steps)]}


def run_toy(config: ToyConfig = ToyConfig()) -> dict:
    """KL(target || sampler) and TV for every (a, b) on the grid, every sampler, both targets.

    Returns plain lists (JSON-ready): ``targets[T]['heatmaps'][sampler]['kl'|'tv']`` indexed
    ``[i_a][i_b]``; ``best`` gives the first optimal cell in grid order and every cell tied with
    it (the fixed-count sampler has plateaus); ``reference`` gives linear (Beta(0.5, 0.5)) and
    sin^2 (Beta(1, 1)) with the share of grid cells strictly better than each.
    """
    out: dict = {"grid": list(config.grid), "steps": config.steps, "length": config.length, "targets": {}}
    # The fixed-count sampler sees (a, b) only through round(L * alpha): few distinct count lists.
    counts = [str(unmask_counts(BetaEnergy(a, b), config.length, config.steps)) for a in config.grid
              for b in config.grid]
    out["distinct_counts"] = {c: counts.count(c) for c in dict.fromkeys(counts)}
    for name in ("A", "B"):
        seqs, probs = toy_targets()[name]
        laws = ExactLaws(toy_language(name).denoiser(), config.length)
        target = dense_law(seqs, probs, 2)
        res: dict = {"support": [decode(s) for s in seqs], "heatmaps": {}, "best": {}, "reference": {}}
        for sampler in config.samplers:
            kl = np.zeros((len(config.grid), len(config.grid)))
            tv = np.zeros_like(kl)
            for ia, a in enumerate(config.grid):
                for ib, b in enumerate(config.grid):
                    law = laws.law(BetaEnergy(a, b), config.steps, sampler)
                    kl[ia, ib], tv[ia, ib] = kl_divergence(target, law), total_variation(target, law)
            res["heatmaps"][sampler] = {"kl": kl.tolist(), "tv": tv.tolist()}
            best = float(kl.min())
            ties = [(config.grid[i], config.grid[j]) for i, j in zip(*np.nonzero(kl <= best + 1e-12))]
            ia, ib = np.unravel_index(int(np.argmin(kl)), kl.shape)
            a, b = config.grid[ia], config.grid[ib]
            res["best"][sampler] = {
                "a": a, "b": b, "kl": best, "tv": float(tv[ia, ib]),
                **describe(BetaEnergy(a, b), config.length, config.steps, sampler),
                "n_tied_cells": len(ties), "tied_cells": ties,
            }
            res["reference"][sampler] = {}
            for ref_name, (a, b) in REFERENCES.items():
                law = laws.law(BetaEnergy(a, b), config.steps, sampler)
                kl_ref = kl_divergence(target, law)
                res["reference"][sampler][ref_name] = {
                    "kl": kl_ref,
                    "tv": total_variation(target, law),
                    **describe(BetaEnergy(a, b), config.length, config.steps, sampler),
                    # share of grid cells strictly better: 0 means it is (tied) optimal
                    "frac_cells_better": float((kl < kl_ref - 1e-12).mean()),
                }
        out["targets"][name] = res
    return out
