"""The sweeps of ``mdm exp steps-vs-length``: sample with N steps at length L, score under the truth.

Parts: the languages' entropies, one oracle sweep per language (its exact conditionals), and per
model setup ``training_seeds`` trained models, each swept like the oracle.
"""

from __future__ import annotations

import math
import time
import zlib

import numpy as np

from mdm.eval.sequence_metrics import token_error
from mdm.experiments.steps_vs_length.model import train_on_language
from mdm.experiments.training import seeded
from mdm.languages import EntropyEstimate, LanguageView, fast_oracle, parse_language_spec
from mdm.sampling import from_spec, sample

__all__ = ["SAMPLERS", "entropies", "model_part", "oracle_part", "spread_seed", "step_grid", "sweep"]

# name -> unmasker spec (mdm.sampling.from_spec) at N steps, linear schedule
SAMPLERS = {"ancestral": "ancestral", "random": "scheduled:proxy=random",
            "confidence": "scheduled:proxy=confidence"}


def step_grid(length: int, factor: int = 1) -> list[int]:
    """N = 1, 2, 4, ... up to ``factor * length`` (and ``length`` itself if not a power of 2)."""
    grid = [2**k for k in range(int(math.log2(factor * length)) + 1)]
    return grid if length in grid else sorted({*grid, length})


def spread_seed(seed: int, *parts) -> int:
    """A well-spread seed for one configuration (stable across runs and platforms)."""
    ss = np.random.SeedSequence([seed, zlib.crc32(repr(parts).encode())])
    return int(ss.generate_state(1, np.uint64)[0] >> 1)


def sweep(language, denoiser, *, lengths, samplers, samples, seed: int, max_steps_factor: int = 1,
          entropies: dict, tags: dict) -> list[dict]:
    """Draw ``samples(L)`` sequences (or an int) at temperature 1 for every (sampler, L, N) and
    score them under the language: TER (gap over the valid samples) and SER."""
    count = samples if callable(samples) else (lambda length: samples)
    rows = []
    for name in samplers:
        for length in lengths:
            for steps in step_grid(length, max_steps_factor if name == "ancestral" else 1):
                start = time.perf_counter()
                out = sample(denoiser, batch_size=count(length), length=length,
                             unmasker=from_spec(SAMPLERS[name], steps=steps), temperature=1.0,
                             seed=spread_seed(seed, *tags.values(), name, length, steps))
                te = token_error(language, out.tokens, entropy=entropies[length])
                rows.append({**tags, "sampler": name, "length": length, "steps": steps,
                             "samples": count(length), "nfe": float(out.nfe.double().mean()),
                             "nll_per_token": te.nll_per_token,
                             "gap": te.gap, "gap_stderr": te.gap_stderr, "perplexity": te.perplexity,
                             "entropy_per_token": te.entropy_per_token, "entropy_stderr": te.entropy_stderr,
                             "ser": te.invalid_fraction, "n_valid": te.n_valid,
                             "seconds": time.perf_counter() - start})
    return rows


def entropies(p, seed: int, ctx) -> list[dict]:
    """H(X_1..X_L) of every language at every length swept (exact for n-grams, Monte-Carlo with its
    standard error for the HMM)."""
    lengths = sorted({*p.lengths, *(n for m in p.models for n in m.lengths)})
    rows = []
    for ls in p.languages:
        language = parse_language_spec(ls.spec)
        for length in lengths:
            h = language.entropy(length, samples=p.entropy_samples,
                                 seed=spread_seed(seed, "entropy", ls.name, length))
            rows.append({"language": ls.name, "length": length, "entropy": h.value,
                         "entropy_per_token": h.value / length, "stderr": h.stderr, "exact": h.exact})
    return rows


def _entropies_of(ctx, name: str) -> dict[int, EntropyEstimate]:
    return {r["length"]: EntropyEstimate(r["entropy"], r["stderr"], r["exact"])
            for r in ctx.need("entropies") if r["language"] == name}


def oracle_part(name: str):
    """The sweep of language ``name`` sampled with its exact conditionals."""

    def run(p, seed: int, ctx) -> list[dict]:
        ls = next(ls for ls in p.languages if ls.name == name)
        language = parse_language_spec(ls.spec)
        return sweep(language, fast_oracle(language), lengths=p.lengths, samplers=ls.samplers,
                     samples=ls.samples_at, seed=seed, max_steps_factor=ls.max_steps_factor,
                     entropies=_entropies_of(ctx, name), tags={"denoiser": "oracle", "language": name})

    return run


def model_part(index: int):
    """Train the ``index``-th model setup's ``training_seeds`` models, sweep each; model ``i``'s rows
    are tagged ``denoiser = "model"`` (i = 0) or ``"model-i"``."""

    def run(p, seed: int, ctx) -> dict:
        setup = p.models[index]
        name = setup.language
        spec = next(ls.spec for ls in p.languages if ls.name == name)
        language, entropy = parse_language_spec(spec), _entropies_of(ctx, name)
        rate = {n: entropy[n].value / n for n in setup.lengths}
        summaries, rows = [], []
        for i in range(setup.training_seeds):
            folder = ctx.out_dir / "models" / (seeded(name, seed) + (f"-training{i}" if i else ""))
            model, summary = train_on_language(spec, setup, folder,
                                               seed=spread_seed(seed, "model", name, *([i] if i else [])))
            nelbo = summary["heldout_nelbo_per_token"]
            summaries.append({**summary, "language": name, "entropy_per_token": rate,
                              "nelbo_gap_per_token": {n: nelbo[n] - rate[n] for n in setup.lengths},
                              **({"training_seed": i} if i else {})})
            rows += sweep(language, LanguageView(model, language.vocab_size), lengths=setup.lengths,
                          samplers=setup.samplers, samples=setup.samples, seed=seed,
                          max_steps_factor=setup.max_steps_factor, entropies=entropy,
                          tags={"denoiser": f"model-{i}" if i else "model", "language": name})
        return {"summary": summaries[0], "more_seeds": summaries[1:], "rows": rows}

    return run
