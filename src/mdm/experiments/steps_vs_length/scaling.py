"""Steps vs length at scale: N*(L) over random n-gram instances of order 2, 3 and 4.

Feng et al. (arXiv 2502.09622) bound the steps needed for token error (TER) by a constant that
depends on the n-gram order, not on L, and show sequence error (SER) needs steps growing with L.
Per order and seed this part draws two random languages (``NGram.random``, instance seed derived
from the seed): a full-support one for TER and a sparse one (2 successors per context) for SER,
samples them with the theory's sampler (``Ancestral(N)``, temperature 1) on their exact
conditionals and finds N*_TER (gap to the entropy rate <= ln 1.05: perplexity within 5%) and
N*_SER (SER <= 10%) per L by a doubling search (:func:`mdm.eval.scaling.fewest_steps`); the
exponent of N* in L and its CI over seeds come from :func:`mdm.eval.scaling.power_law_exponent`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from mdm.eval.scaling import fewest_steps, loglog_slope, power_law_exponent
from mdm.eval.sequence_metrics import token_error
from mdm.experiments.steps_vs_length.analysis import SER_TARGET, TER_TOLERANCE
from mdm.experiments.steps_vs_length.sweep import spread_seed
from mdm.languages import NGram, fast_oracle
from mdm.sampling import Ancestral, sample

__all__ = ["ScalingSetup", "sampled_error", "scaling_part", "summarize_scaling"]


@dataclass(frozen=True)
class ScalingSetup:
    """One n-gram order over ``vocab`` tokens, ``seeds`` random instances; TER points draw
    ``ter_tokens`` tokens (at least 16 sequences), SER points ``ser_samples`` sequences."""

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


def sampled_error(language, metric: str, length: int, count: int, steps: int, seed: int) -> float:
    """TER gap (nats/token, valid samples) or SER of ``count`` sequences drawn by ``Ancestral(steps)``
    from the language's exact conditionals at temperature 1."""
    out = sample(fast_oracle(language), batch_size=count, length=length, unmasker=Ancestral(steps),
                 temperature=1.0, seed=seed)
    if metric == "ser":
        return float(1.0 - language.is_valid(out.tokens).double().mean())
    return token_error(language, out.tokens).gap


def invalid_window_mass(language: NGram, length: int = 256) -> float:
    """The chance that ``order`` adjacent tokens drawn independently from the language's marginals
    (averaged over the second half of a length-``length`` sequence) form an impossible window: the
    per-collision error rate ``c`` of SER ≈ 1 - exp(-c L / N).  0 when the chain lives on a class
    of tokens that may all follow each other: then parallel draws never break a sequence there."""
    mu = language.chain.state_marginals(length)[length // 2:].mean(0)  # window states, [V^(k-1)]
    width = max(language.order - 1, 1)
    first = torch.arange(mu.numel()) // language.vocab_size ** (width - 1)  # a window's first token
    pi = torch.zeros(language.vocab_size, dtype=torch.float64).index_add_(0, first, mu)
    joint = pi
    for _ in range(language.order - 1):
        joint = joint.unsqueeze(-1) * pi
    return float((joint * (language.next_probs == 0)).sum())


def _search(setup: ScalingSetup, language, metric: str, seed: int) -> list[dict]:
    """N* at every length; each search starts where the last length's N* puts the crossing (TER:
    the same N*, SER: N* ∝ L; the first at N = 16, resp. N = L)."""
    rows, last = [], None
    for length in setup.ter_lengths if metric == "ter" else setup.ser_lengths:
        count = max(16, setup.ter_tokens // length) if metric == "ter" else setup.ser_samples
        guess = (16 if metric == "ter" else length) if last is None else (
            last[0] if metric == "ter" else last[0] * length / last[1])
        def error_at(n: int, length=length, count=count) -> float:
            return sampled_error(language, metric, length, count, n, spread_seed(seed, metric, length, n))

        t0, target = time.perf_counter(), TER_TOLERANCE if metric == "ter" else SER_TARGET
        n_star, errors = fewest_steps(error_at, target, 2 ** max(0, round(math.log2(guess))), 16 * length)
        last = (n_star, length) if n_star is not None else last
        errors = {str(k): errors[k] for k in sorted(errors)}
        rows.append({"length": length, "samples": count, "n_star": n_star,
                     "seconds": time.perf_counter() - t0, "errors": errors})
    return rows


def scaling_part(setup: ScalingSetup, seed: int, ctx) -> list[dict]:
    """The part of one :class:`ScalingSetup` (the preset's ``scaling[i]``): N*_TER and N*_SER per seed
    and L."""
    out = []
    for s in range(setup.seeds):
        instance = spread_seed(seed, "instance", setup.order, s)
        dense = NGram.random(setup.vocab, order=setup.order, branching=setup.vocab, seed=instance)
        sparse = NGram.random(setup.vocab, order=setup.order, branching=setup.branching, seed=instance)
        sampling = spread_seed(seed, "sampling", setup.order, s)
        out.append({"seed": s, "instance_seed": instance, "ter": _search(setup, dense, "ter", sampling),
                    "ser": _search(setup, sparse, "ser", sampling)})
    return out


def summarize_scaling(setup: ScalingSetup, seeds: list[dict]) -> dict:
    """Per metric: N* per seed and L, its geometric mean over seeds per L, the exponent with its CI."""
    out = {}
    for metric, lengths in (("ter", setup.ter_lengths), ("ser", setup.ser_lengths)):
        n_star = [[r["n_star"] for r in s[metric]] for s in seeds]
        est, censored = power_law_exponent(lengths, n_star)
        slopes = [loglog_slope(lengths, n) for n in n_star]
        known = [[v for v in col if v is not None] for col in zip(*n_star, strict=True)]
        geomean = [math.exp(sum(map(math.log, k)) / len(k)) if k else None for k in known]
        out[metric] = {"lengths": list(lengths), "n_star_by_seed": n_star, "n_star_geomean": geomean,
                       "exponent_by_seed": slopes, "exponent": est.to_dict(), "censored_seeds": censored}
    # The SER half's premise: parallel draws can break a sequence (c > 0).  Where c = 0 they cannot,
    # and SER needs no more steps at any length: those instances are controls, not tests.
    ser = out["ser"]
    ser["invalid_window_mass"] = [invalid_window_mass(NGram.random(
        setup.vocab, order=setup.order, branching=setup.branching, seed=s["instance_seed"])) for s in seeds]
    breakable = [n for n, c in zip(ser["n_star_by_seed"], ser["invalid_window_mass"], strict=True)
                 if c > 1e-12]
    ser["breakable_seeds"] = len(breakable)
    ser["exponent_where_breakable"] = (power_law_exponent(setup.ser_lengths, breakable)[0].to_dict()
                                       if breakable else None)
    return out
