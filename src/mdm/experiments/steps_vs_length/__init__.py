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
languages (:mod:`mdm.languages`; closed form for bigrams in :class:`~mdm.languages.MarkovOracle`),
so every error is the sampler's; then repeats the sweep with a small trained model
(:mod:`~mdm.experiments.steps_vs_length.model`) to show the model-error floor beside it.

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

The numbers that decide the claim (:mod:`~mdm.experiments.steps_vs_length.analysis`): per L, the
smallest N whose perplexity is within 5% of its floor (gap <= floor + ln 1.05; floor 0 for the
exact oracle, a trained model's own gap with one token per step) and the smallest N with SER <= 10%,
both interpolated between grid points in log N, and the exponent of their growth in L.
"""

from __future__ import annotations

from dataclasses import dataclass

from mdm.experiments.runner import Experiment, Part
from mdm.experiments.steps_vs_length.model import ModelSetup
from mdm.experiments.steps_vs_length.scaling import ScalingSetup
from mdm.experiments.steps_vs_length.sweep import SAMPLERS, step_grid, sweep  # noqa: F401 (re-exported)

__all__ = ["EXPERIMENT", "PRESETS", "SAMPLERS", "LanguageSetup", "Preset", "step_grid", "sweep"]

PAPER = "Feng et al., Theoretical Benefit and Limitation of Diffusion Language Model, arXiv 2502.09622"


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
    scaling: tuple[ScalingSetup, ...] = ()  # N*(L) over random instances of each n-gram order
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
        scaling=tuple(ScalingSetup(k, 4, ter_lengths=(8, 32), ser_lengths=(8, 16), seeds=2, ter_tokens=1024,
                                   ser_samples=64) for k in (2, 3)),
    ),
    # N*(L) at scale, >= 5 random instances per n-gram order, and 3 trained models with 512 samples
    # per point: the published run (see docs/results/steps-vs-length.md for its wall time).
    "full": Preset(
        lengths=(16, 32, 64),
        languages=(LanguageSetup("ngram-sparse", SPARSE, "ser", samplers=("random",), samples=512),),
        models=(ModelSetup("ngram-sparse", lengths=(16, 32, 64), steps=600, d_model=48, samples=512,
                           samplers=("random",), training_seeds=3),),
        scaling=tuple(ScalingSetup(k, 4, ter_lengths=(16, 64, 256, 1024, 4096),
                                   ser_lengths=(16, 32, 64, 128, 256, 512) if k == 2 else (16, 32, 64, 128))
                      for k in (2, 3, 4)),
    ),
    # The single-seed sweep of 2026-12-01 (L <= 256, three samplers, one model per language).
    "single-seed": Preset(
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


def _parts(p: Preset) -> list[Part]:
    from mdm.experiments.steps_vs_length import parts
    from mdm.experiments.steps_vs_length.scaling import scaling_part

    return [Part("entropies", parts.entropies),
            *(Part(ls.name, parts.oracle_part(ls.name)) for ls in p.languages),
            *(Part(f"model-{m.language}", parts.model_part(i)) for i, m in enumerate(p.models)),
            *(Part(f"scaling-{s.name}", scaling_part(i)) for i, s in enumerate(p.scaling))]


def _assemble(p: Preset, results: dict, seed: int) -> dict:
    from mdm.experiments.steps_vs_length.analysis import analyse
    from mdm.experiments.steps_vs_length.scaling import summarize_scaling

    rows = [r for ls in p.languages for r in results.get(ls.name, [])]
    models = []
    for m in p.models:
        if f"model-{m.language}" in results:
            part = results[f"model-{m.language}"]
            models += [part["summary"], *part["more_seeds"]]
            rows += part["rows"]
    scaling = {s.name: {"order": s.order, "seeds": results[f"scaling-{s.name}"],
                        "summary": summarize_scaling(s, results[f"scaling-{s.name}"])}
               for s in p.scaling if f"scaling-{s.name}" in results}
    return {"experiment": "steps-vs-length", "paper": PAPER, "entropies": results["entropies"],
            "models": models, "rows": rows, "analysis": analyse(rows, p), "scaling": scaling}


def _report(result: dict, p: Preset) -> str:
    from mdm.experiments.steps_vs_length.report import report

    return report(result)


def _plots(result: dict, out_dir) -> list[str]:
    from mdm.experiments.steps_vs_length.plots import write_plots

    return write_plots(result, out_dir)


def _verdict(result: dict) -> list[str]:
    a = result["analysis"]
    return [f"TER: steps independent of L -- {a['ter_half']['overall']}",
            f"SER: steps grow with L -- {a['ser_half']['overall']}"]


def _evidence(result: dict, p: Preset) -> dict:
    samples = min(ls.samples_at(n) for ls in p.languages for n in p.lengths)
    return {"n_test": samples, "setting": "paper's setting",
            "method": "sequences per (sampler, L, N) point, one sampling seed; N* read off the curves "
                      "(no CI)"}


def _headline(result: dict) -> dict:
    curves = result["analysis"]["curves"]
    return {f"{metric.upper()} exponent, {key}": c[f"{metric}_exponent"]
            for key, c in curves.items() if key.startswith("oracle/") for metric in ("ter", "ser")}


EXPERIMENT = Experiment(name="steps-vs-length", presets=PRESETS, parts=_parts, assemble=_assemble,
                        report=_report, plots=_plots, verdict=_verdict, evidence=_evidence,
                        headline=_headline)
