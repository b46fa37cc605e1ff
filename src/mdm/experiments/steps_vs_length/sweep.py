"""The sweep of ``mdm exp steps-vs-length``: sample with N steps at length L, score under the truth."""

from __future__ import annotations

import math
import time
import zlib

import numpy as np
import torch

from mdm.eval.sequence_metrics import token_error
from mdm.sampling import from_spec, sample

__all__ = ["SAMPLERS", "measure", "spread_seed", "step_grid", "sweep"]

# name -> unmasker spec (mdm.sampling.from_spec), given N steps; all at the linear schedule
SAMPLERS = {
    "ancestral": "ancestral",
    "random": "scheduled:proxy=random",
    "confidence": "scheduled:proxy=confidence",
}


def step_grid(length: int, factor: int = 1) -> list[int]:
    """N = 1, 2, 4, ... up to ``factor * length`` (and ``length`` itself if not a power of 2)."""
    top = factor * length
    grid = [2**k for k in range(int(math.log2(top)) + 1)]
    if length not in grid:
        grid = sorted({*grid, length})
    return grid


def spread_seed(seed: int, *parts) -> int:
    """A well-spread seed for one configuration (stable across runs and platforms)."""
    ss = np.random.SeedSequence([seed, zlib.crc32(repr(parts).encode())])
    return int(ss.generate_state(1, np.uint64)[0] >> 1)


def measure(language, tokens: torch.Tensor, entropy) -> dict:
    """TER and SER of generated ``tokens`` under the true ``language``, and the standard error of
    the gap (the spread of per-sequence NLL over the valid samples, plus the entropy's own)."""
    te = token_error(language, tokens, entropy=entropy)
    nll = -language.log_prob(tokens).double() / tokens.shape[1]
    valid = nll[torch.isfinite(nll)]
    spread = float(valid.std()) / math.sqrt(valid.numel()) if valid.numel() > 1 else math.nan
    return {
        "nll_per_token": te.nll_per_token,  # over valid samples (NaN if none)
        "gap": te.gap,
        "gap_stderr": math.hypot(spread, te.entropy_stderr),
        "perplexity": te.perplexity,
        "entropy_per_token": te.entropy_per_token,
        "entropy_stderr": te.entropy_stderr,
        "ser": te.invalid_fraction,  # = sequence_error_rate: the fraction with probability zero
        "n_valid": te.n_valid,
    }


def sweep(language, denoiser, *, lengths, samplers, samples, seed: int, max_steps_factor: int = 1,
          entropies: dict, tags: dict) -> list[dict]:
    """Sample ``samples(L)`` sequences (or an int) for every (sampler, L, N) and score them."""
    count = samples if callable(samples) else (lambda length: samples)
    rows = []
    for name in samplers:
        spec = SAMPLERS[name]
        for length in lengths:
            factor = max_steps_factor if name == "ancestral" else 1
            for steps in step_grid(length, factor):
                start = time.perf_counter()
                out = sample(denoiser, batch_size=count(length), length=length,
                             unmasker=from_spec(spec, steps=steps),
                             temperature=1.0, seed=spread_seed(seed, *tags.values(), name, length, steps))
                row = {**tags, "sampler": name, "length": length, "steps": steps, "samples": count(length),
                       "nfe": float(out.nfe.double().mean())}
                row.update(measure(language, out.tokens, entropies[length]))
                row["seconds"] = time.perf_counter() - start
                rows.append(row)
    return rows
