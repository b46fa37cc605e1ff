"""Steps vs length at scale: N*(L) over random n-gram instances of order 2, 3 and 4, with CIs.

Feng et al. (arXiv 2502.09622) bound the steps an MDM needs by a constant that depends on the
n-gram order but not on L for token error (TER), and show sequence error (SER) needs steps growing
with L.  Per order k and seed s this part draws two random order-k languages (``NGram.random``
with instance seed derived from s): a full-support one for TER (every sample valid) and a sparse
one (2 successors per context) for SER, samples them with the theory's sampler
(:class:`~mdm.sampling.Ancestral`, temperature 1) on their exact conditionals, and finds per L

* ``N*_TER``: the fewest steps whose samples' perplexity is within 5% of the optimum
  (gap to the entropy rate <= ln 1.05 nats/token),
* ``N*_SER``: the fewest steps with SER <= 10%,

by :func:`fewest_steps` (a doubling search, interpolated in log N).  The exponent of N* in L and
its bootstrap CI over seeds come from :func:`mdm.eval.power_law.power_law_exponent`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from mdm.eval.power_law import power_law_exponent
from mdm.experiments.steps_vs_length.analysis import SER_TARGET, TER_TOLERANCE, steps_needed
from mdm.experiments.steps_vs_length.sweep import measure, spread_seed
from mdm.languages import NGram, fast_oracle
from mdm.sampling import Ancestral, sample

__all__ = ["ScalingSetup", "fewest_steps", "sampled_error", "scaling_part", "summarize_scaling"]


@dataclass(frozen=True)
class ScalingSetup:
    """One n-gram order: ``seeds`` random instances, swept at ``ter_lengths`` (full support) and
    ``ser_lengths`` (sparse).  TER points draw ``ter_tokens`` tokens (at least 16 sequences), SER
    points ``ser_samples`` sequences."""

    order: int
    vocab: int
    ter_lengths: tuple[int, ...]
    ser_lengths: tuple[int, ...]
    seeds: int = 5
    ter_tokens: int = 16384
    ser_samples: int = 256
    branching: int = 2  # successors per context of the sparse language

    @property
    def name(self) -> str:
        return f"order-{self.order}"


def fewest_steps(error_at, target: float, start: int, max_steps: int
                 ) -> tuple[float | None, dict[int, float]]:
    """The fewest steps N with ``error_at(N) <= target`` on the grid 1, 2, 4, ..., ``max_steps``.

    Starts at ``start`` (a power of 2), halves while the target is met and doubles while it is not,
    until two neighbouring grid points bracket the crossing; N* is then interpolated in log N
    between them (:func:`~mdm.experiments.steps_vs_length.analysis.steps_needed`).  Returns
    ``(N* or None if not met by max_steps, {N: error})``.  Assumes the error falls with N.
    """
    errors: dict[int, float] = {}
    n = start
    while True:
        if n not in errors:
            errors[n] = error_at(n)
        met = errors[n] <= target
        if met and n > 1 and n // 2 not in errors:
            n //= 2
        elif not met and n < max_steps and 2 * n not in errors:
            n *= 2
        else:
            break
    grid = sorted(errors)
    return steps_needed(grid, [errors[k] for k in grid], target), errors


def _power_of_2(x: float) -> int:
    return 2 ** max(0, round(math.log2(max(x, 1.0))))


def sampled_error(language, metric: str, length: int, count: int, steps: int, seed: int,
                  entropy=None) -> float:
    """``count`` sequences of ``length`` drawn by ``Ancestral(steps)`` from the language's exact
    conditionals (temperature 1), scored under the language: the TER gap (nats/token over the
    valid samples; ``entropy`` = its exact :meth:`entropy`) or the SER."""
    out = sample(fast_oracle(language), batch_size=count, length=length, unmasker=Ancestral(steps),
                 temperature=1.0, seed=seed)
    if metric == "ser":
        return float(1.0 - language.is_valid(out.tokens).double().mean())
    return measure(language, out.tokens, entropy or language.entropy(length))["gap"]


def _search(setup: ScalingSetup, language, metric: str, lengths, seed: int, start_steps) -> list[dict]:
    """N* at every length for one language instance; each search starts where the last L's N*
    (through ``start_steps(L, (N*, L) of the last length or None)``) puts the crossing."""
    rows, guess = [], None
    target = TER_TOLERANCE if metric == "ter" else SER_TARGET
    for length in lengths:
        count = max(16, setup.ter_tokens // length) if metric == "ter" else setup.ser_samples
        entropy = language.entropy(length) if metric == "ter" else None

        def error_at(steps: int, length=length, count=count, entropy=entropy) -> float:
            return sampled_error(language, metric, length, count, steps,
                                 spread_seed(seed, metric, length, steps), entropy)

        start, t0 = _power_of_2(start_steps(length, guess)), time.perf_counter()
        n_star, errors = fewest_steps(error_at, target, start, max_steps=16 * length)
        guess = (n_star, length) if n_star is not None else guess
        errors = {str(k): v for k, v in sorted(errors.items())}
        rows.append({"length": length, "samples": count, "n_star": n_star,
                     "seconds": time.perf_counter() - t0, "errors": errors})
    return rows


def scaling_part(index: int):
    """The part for the preset's ``index``-th :class:`ScalingSetup`: per seed, N*_TER and N*_SER at
    every length."""

    def run(p, seed: int, ctx) -> list[dict]:
        setup = p.scaling[index]
        out = []
        for s in range(setup.seeds):
            instance = spread_seed(seed, "instance", setup.order, s)
            dense = NGram.random(setup.vocab, order=setup.order, branching=setup.vocab, seed=instance)
            sparse = NGram.random(setup.vocab, order=setup.order, branching=setup.branching, seed=instance)
            sampling = spread_seed(seed, "sampling", setup.order, s)
            ter = _search(setup, dense, "ter", setup.ter_lengths, sampling,
                          lambda n, g: 16 if g is None else g[0])  # TER: N* the same at every L
            ser = _search(setup, sparse, "ser", setup.ser_lengths, sampling,
                          lambda n, g: n if g is None else g[0] * n / g[1])  # SER: N* ∝ L
            out.append({"seed": s, "instance_seed": instance, "ter": ter, "ser": ser})
        return out

    return run


def summarize_scaling(setup: ScalingSetup, seeds: list[dict]) -> dict:
    """Per metric: N* per seed and length, the mean N* per length and the exponent with its CI."""
    out = {}
    for metric, lengths in (("ter", setup.ter_lengths), ("ser", setup.ser_lengths)):
        n_star = [[r["n_star"] for r in s[metric]] for s in seeds]
        est, censored = power_law_exponent(lengths, n_star)
        known = [[v for v in col if v is not None] for col in zip(*n_star, strict=True)]
        out[metric] = {
            "lengths": list(lengths),
            "n_star_by_seed": n_star,
            "n_star_geomean": [math.exp(sum(map(math.log, k)) / len(k)) if k else None for k in known],
            "exponent": est.to_dict(),
            "censored_seeds": censored,
        }
    return out
