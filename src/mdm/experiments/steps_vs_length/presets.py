"""The presets of ``mdm exp steps-vs-length``: languages, lengths, trained models, scaling sweeps."""

from __future__ import annotations

from dataclasses import dataclass

from mdm.experiments.steps_vs_length.model import ModelSetup
from mdm.experiments.steps_vs_length.scaling import ScalingSetup

__all__ = ["DENSE", "HMM_SPARSE", "PRESETS", "SPARSE", "LanguageSetup", "Preset"]


@dataclass(frozen=True)
class LanguageSetup:
    """A ground-truth language (``mdm.languages.parse_language_spec``) swept on its exact oracle:
    ``role`` = the half of the claim it decides ("ter", "ser" or "both"); the ancestral sampler runs
    N up to ``max_steps_factor * L`` (it is not exact at N = L), the others to N = L; each point
    draws ``samples`` sequences, or ``tokens // L`` if more."""

    name: str
    spec: str
    role: str
    max_steps_factor: int = 1
    samplers: tuple[str, ...] = ("ancestral", "random", "confidence")
    samples: int = 512
    tokens: int = 0

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
    # What the tests run (seconds): every part at toy size.
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
    # The published run: N*(L) over 5 random instances per n-gram order, 3 trained models with 512
    # samples per point beside the oracle (wall time in docs/results/steps-vs-length.md).
    "full": Preset(
        lengths=(16, 32, 64),
        languages=(LanguageSetup("ngram-sparse", SPARSE, "ser", samplers=("random",), samples=512),),
        models=(ModelSetup("ngram-sparse", lengths=(16, 32, 64), steps=600, d_model=48, samples=512,
                           samplers=("random",), training_seeds=3),),
        scaling=tuple(ScalingSetup(k, 4, ter_lengths=(16, 64, 256, 1024, 4096),
                                   ser_lengths=(16, 32, 64, 128, 256, 512) if k == 2 else (16, 32, 64, 128))
                      for k in (2, 3, 4)),
    ),
}
