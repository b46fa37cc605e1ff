"""Steps vs sequence length, token error vs sequence error: ``mdm exp steps-vs-length``.

Feng et al., "Theoretical Benefit and Limitation of Diffusion Language Model" (arXiv 2502.09622):
measured by **token error** (the per-token NLL of generated sequences under the TRUE language,
i.e. log-perplexity, and its gap to the entropy rate) a masked diffusion model needs a number of
sampling steps N that does not grow with the sequence length L; measured by **sequence error
rate** (SER, the fraction of generated sequences of probability zero) it needs N growing with L.

Why, in one line each, for a random-order sampler with N steps: every position is revealed at a
uniformly random step, so two dependent neighbours are drawn independently (in the same step)
with probability about 1/N -- a per-token error rate independent of L; but a sequence holds
about L such pairs, so P(no harmful collision) ~ exp(-c L / N) and a fixed SER needs N ∝ L.

The experiment isolates the step budget by sampling with the EXACT conditionals of ground-truth
languages (:mod:`mdm.languages`; closed form for bigrams in :mod:`~mdm.experiments.steps_vs_length_oracle`),
so every error is the sampler's; then repeats the sweep with a small trained model
(:mod:`~mdm.experiments.steps_vs_length_model`) to show the model-error floor beside it.

* languages: a full-support bigram (every sequence valid, so the token error is finite for every
  sample: the clean test of the TER half), a sparse bigram (2 successors per token: the SER half)
  and a sparse HMM (invalid transitions and emissions: both halves, TER over valid samples);
* samplers: ``ancestral`` = :class:`~mdm.sampling.Ancestral` (the theory's reverse process,
  linear schedule), ``random`` = :class:`~mdm.sampling.Scheduled` with random order (exactly
  L/N positions per step), ``confidence`` = ``Scheduled`` with the confidence proxy (LLaDA's
  order), all at temperature 1 so that each sampler targets the language's distribution;
* metrics: :func:`mdm.eval.sequence_metrics.token_error` (gap over the valid samples; exact
  entropy for n-grams, a Monte-Carlo estimate with its standard error for the HMM) and
  :func:`~mdm.eval.sequence_metrics.sequence_error_rate`.

The numbers that decide the claim (:mod:`~mdm.experiments.steps_vs_length_report`): per L, the
smallest N whose perplexity is within 5% of its floor (gap <= floor + ln 1.05; floor 0 for the
exact oracle, a trained model's own gap with one token per step) and the smallest N with SER <= 10%,
both interpolated between grid points in log N, and the exponent of their growth in L.
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from mdm.errors import ConfigError
from mdm.eval.sequence_metrics import token_error
from mdm.experiments.common import provenance, write_json_atomic
from mdm.experiments.steps_vs_length_analysis import analyse
from mdm.experiments.steps_vs_length_model import ModelSetup, train_on_language
from mdm.experiments.steps_vs_length_oracle import fast_oracle
from mdm.experiments.steps_vs_length_report import write_plots, write_report
from mdm.languages import LanguageView, parse_language_spec
from mdm.sampling import from_spec, sample

__all__ = ["PRESETS", "SAMPLERS", "LanguageSetup", "Preset", "run", "step_grid", "sweep"]

PAPER = "Feng et al., Theoretical Benefit and Limitation of Diffusion Language Model, arXiv 2502.09622"

# name -> unmasker spec (mdm.sampling.from_spec), given N steps; all at the linear schedule
SAMPLERS = {
    "ancestral": "ancestral",
    "random": "scheduled:proxy=random",
    "confidence": "scheduled:proxy=confidence",
}


@dataclass(frozen=True)
class LanguageSetup:
    """A ground-truth language (``mdm.languages.parse_language_spec`` syntax) and how far to sweep.

    ``max_steps_factor``: the ancestral sampler runs N up to ``factor * L`` (it is not exact at
    N = L: positions are revealed at independent random steps, so collisions remain; the
    Scheduled samplers stop at N = L, where they reveal one position per step and are exact).
    """

    name: str
    spec: str
    role: str  # which half of the claim it decides: "ter", "ser" or "both"
    max_steps_factor: int = 1
    samplers: tuple[str, ...] = ("ancestral", "random", "confidence")
    samples: int = 512  # generated sequences per (sampler, L, N) ...
    tokens: int = 0  # ... or more at short lengths: at least this many tokens

    def samples_at(self, length: int) -> int:
        return max(self.samples, self.tokens // length)


@dataclass(frozen=True)
class Preset:
    lengths: tuple[int, ...]
    languages: tuple[LanguageSetup, ...]
    models: tuple[ModelSetup, ...] = ()
    entropy_samples: int = 8192  # Monte-Carlo entropy of languages without a closed form


DENSE = "ngram:vocab=8,order=2,branching=8,seed=0"
SPARSE = "ngram:vocab=8,order=2,branching=2,seed=0"
HMM_SPARSE = "hmm:states=8,vocab=8,seed=0,successors=2,emitted=4"

PRESETS: dict[str, Preset] = {
    # What the test runs (seconds): the two bigrams on the oracle at three lengths, and every
    # other part (HMM, confidence order, a trained model) at toy size.  The full preset takes
    # about 11 minutes on 2 busy CPU cores (see docs/results/steps-vs-length.md).
    "quick": Preset(
        lengths=(16, 32, 64),
        languages=(
            LanguageSetup("ngram-dense", DENSE, "ter", max_steps_factor=4, samplers=("ancestral",),
                          samples=1024),
            LanguageSetup("ngram-sparse", SPARSE, "ser", max_steps_factor=8, samplers=("ancestral", "random"),
                          samples=1024),
            LanguageSetup("hmm-sparse", HMM_SPARSE, "both", samplers=("confidence",), samples=128),
        ),
        models=(ModelSetup("ngram-sparse", lengths=(16,), steps=40, tokens_per_step=1024, d_model=32,
                           n_layers=1, n_heads=2, samples=32, samplers=("ancestral", "random"),
                           max_steps_factor=1),),
        entropy_samples=1024,
    ),
    "full": Preset(
        lengths=(16, 32, 64, 128, 256),
        languages=(
            LanguageSetup("ngram-dense", DENSE, "ter", max_steps_factor=2, samples=512, tokens=32768),
            LanguageSetup("ngram-sparse", SPARSE, "ser", max_steps_factor=4, samples=512, tokens=32768),
            LanguageSetup("hmm-sparse", HMM_SPARSE, "both", max_steps_factor=2, samples=512, tokens=32768),
        ),
        models=(
            ModelSetup("ngram-dense", lengths=(16, 32, 64), steps=600, d_model=48, samples=128),
            ModelSetup("ngram-sparse", lengths=(16, 32, 64), steps=600, d_model=48, samples=128),
        ),
    ),
}


def step_grid(length: int, factor: int = 1) -> list[int]:
    """N = 1, 2, 4, ... up to ``factor * length`` (and ``length`` itself if not a power of 2)."""
    top = factor * length
    grid = [2**k for k in range(int(math.log2(top)) + 1)]
    if length not in grid:
        grid = sorted({*grid, length})
    return grid


def _seed(seed: int, *parts) -> int:
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
          entropies: dict, tags: dict, progress=None) -> list[dict]:
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
                             temperature=1.0, seed=_seed(seed, *tags.values(), name, length, steps))
                row = {**tags, "sampler": name, "length": length, "steps": steps, "samples": count(length),
                       "nfe": float(out.nfe.double().mean())}
                row.update(measure(language, out.tokens, entropies[length]))
                row["seconds"] = time.perf_counter() - start
                rows.append(row)
            if progress is not None:
                progress.update(1)
    return rows


def _progress(total: int):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency of the package
        return None
    return tqdm(total=total, desc="steps-vs-length", unit="sweep", disable=None)


def run(preset: str, out_dir: Path, seed: int = 0) -> dict:
    """Run the preset; write ``result.json``, ``report.md`` and the PNG plots into ``out_dir``."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    # Every tensor here is small: intra-op threads only add synchronisation, which costs 10x and
    # more on a busy 2-core machine.  One thread for the run, restored afterwards.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(preset, Path(out_dir), seed)
    finally:
        torch.set_num_threads(threads)


def _run(preset: str, out_dir: Path, seed: int) -> dict:
    p = PRESETS[preset]
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    languages = {ls.name: parse_language_spec(ls.spec) for ls in p.languages}
    model_lengths = [n for m in p.models for n in m.lengths]
    entropies, entropy_rows = {}, []
    for ls in p.languages:
        entropies[ls.name] = {}
        for length in sorted({*p.lengths, *model_lengths}):
            # Exact for n-grams; a seeded Monte-Carlo estimate with its stderr for the HMM.
            h = languages[ls.name].entropy(length, samples=p.entropy_samples,
                                           seed=_seed(seed, "entropy", ls.name, length))
            entropies[ls.name][length] = h
            entropy_rows.append({"language": ls.name, "length": length, "entropy": h.value,
                                 "entropy_per_token": h.value / length, "stderr": h.stderr, "exact": h.exact})

    total = sum(len(ls.samplers) * len(p.lengths) for ls in p.languages)
    total += sum(len(m.samplers) * len(m.lengths) for m in p.models)
    bar = _progress(total)
    rows: list[dict] = []
    for ls in p.languages:
        rows += sweep(languages[ls.name], fast_oracle(languages[ls.name]), lengths=p.lengths,
                      samplers=ls.samplers, samples=ls.samples_at, seed=seed,
                      max_steps_factor=ls.max_steps_factor, entropies=entropies[ls.name],
                      tags={"denoiser": "oracle", "language": ls.name}, progress=bar)
    models = []
    for setup in p.models:
        name, language = setup.language, languages[setup.language]
        spec = next(ls.spec for ls in p.languages if ls.name == name)
        model, summary = train_on_language(spec, setup, out_dir / "models" / name,
                                           seed=_seed(seed, "model", name))
        rate = {n: entropies[name][n].value / n for n in setup.lengths}
        nelbo = summary["heldout_nelbo_per_token"]
        summary.update(language=name, entropy_per_token=rate,
                       nelbo_gap_per_token={n: nelbo[n] - rate[n] for n in setup.lengths})
        models.append(summary)
        rows += sweep(language, LanguageView(model, language.vocab_size), lengths=setup.lengths,
                      samplers=setup.samplers, samples=setup.samples, seed=seed,
                      max_steps_factor=setup.max_steps_factor, entropies=entropies[name],
                      tags={"denoiser": "model", "language": name}, progress=bar)
    if bar is not None:
        bar.close()

    config = {"preset": preset, **asdict(p)}
    result = {
        "experiment": "steps-vs-length",
        "paper": PAPER,
        "provenance": provenance(f"mdm exp steps-vs-length --preset {preset}", seed, config),
        "entropies": entropy_rows,
        "models": models,
        "rows": rows,
        "analysis": analyse(rows, p),
        "wall_seconds": time.perf_counter() - started,
    }
    result["plots"] = write_plots(result, out_dir)
    write_json_atomic(out_dir / "result.json", result)
    write_report(result, out_dir / "report.md")
    return result
