"""Steps vs sequence length, token error vs sequence error: ``mdm exp steps-vs-length``.

Feng et al., "Theoretical Benefit and Limitation of Diffusion Language Model" (arXiv 2502.09622):
measured by token error (TER: per-token NLL of generated sequences under the TRUE language, its gap
to the entropy rate) a masked diffusion model needs a number of steps N that does not grow with the
length L; measured by sequence error (SER: the fraction of sequences of probability zero) it needs
N growing with L.  Why, for a random-order sampler: two dependent neighbours are drawn in the same
step with probability about 1/N, whatever L; a sequence holds about L such pairs, so
P(no harmful collision) ~ exp(-c L / N) and a fixed SER needs N ∝ L.

Sampling with the EXACT conditionals of ground-truth languages (:mod:`mdm.languages`) isolates the
step budget; a small trained model shows the model-error floor beside it.  Parts: the entropies,
an oracle sweep per language (:mod:`.sweep`), trained models (:mod:`.model`), N*(L) over random
n-gram instances of orders 2-4 (:mod:`.scaling`); thresholds and verdicts in :mod:`.analysis`.
"""

from __future__ import annotations

from mdm.experiments.runner import Experiment, Part, fields
from mdm.experiments.steps_vs_length.analysis import analyse
from mdm.experiments.steps_vs_length.presets import DENSE, HMM_SPARSE, PRESETS, SPARSE, LanguageSetup, Preset
from mdm.experiments.steps_vs_length.report import report, verdict_lines, write_plots
from mdm.experiments.steps_vs_length.scaling import scaling_part, summarize_scaling
from mdm.experiments.steps_vs_length.sweep import (
    SAMPLERS,
    entropies,
    model_part,
    oracle_part,
    step_grid,
    sweep,
)

__all__ = ["DENSE", "EXPERIMENT", "HMM_SPARSE", "PRESETS", "SAMPLERS", "SPARSE", "LanguageSetup", "Preset",
           "step_grid", "sweep"]

PAPER = "Feng et al., Theoretical Benefit and Limitation of Diffusion Language Model, arXiv 2502.09622"


def _parts(p: Preset) -> list[Part]:
    """The entropies, one sweep per language, one per model setup, one per n-gram scaling setup; no
    part but its own reads a scaling setup, and the language sweeps do not read the model setups
    (the lengths they add to the entropies reach them through the entropies' key)."""
    no_scaling, sweeps_only = fields(exclude=("scaling",)), fields(exclude=("scaling", "models"))
    return [Part("entropies", entropies, reads=no_scaling),
            *(Part(ls.name, oracle_part(ls.name), needs=("entropies",), reads=sweeps_only)
              for ls in p.languages),
            *(Part(f"model-{m.language}", model_part(i), needs=("entropies",), reads=no_scaling)
              for i, m in enumerate(p.models)),
            *(Part(f"scaling-{s.name}", scaling_part, reads=lambda p, i=i: p.scaling[i])  # its own setup
              for i, s in enumerate(p.scaling))]


def _assemble(p: Preset, results: dict, seed: int) -> dict:
    rows = [r for ls in p.languages for r in results.get(ls.name, [])]
    models = []
    for m in (m for m in p.models if f"model-{m.language}" in results):
        part = results[f"model-{m.language}"]
        models += [part["summary"], *part["more_seeds"]]
        rows += part["rows"]
    scaling = {s.name: {"order": s.order, "seeds": results[f"scaling-{s.name}"],
                        "summary": summarize_scaling(s, results[f"scaling-{s.name}"])}
               for s in p.scaling if f"scaling-{s.name}" in results}
    return {"experiment": "steps-vs-length", "paper": PAPER, "entropies": results["entropies"],
            "models": models, "rows": rows, "analysis": analyse(rows, p), "scaling": scaling}


def _evidence(result: dict, p: Preset) -> dict:
    if p.scaling:
        models = max((m.training_seeds for m in p.models), default=0)
        instances = min(s.seeds for s in p.scaling)
        return {"n_test": min(s.ser_samples for s in p.scaling), "setting": "paper's setting", "level": 0.95,
                "trained": models > 0, "seeds_per_run": max(models, 1),
                "method": f"percentile bootstrap CI over {instances} random instances per n-gram order "
                          "(exponent of N*; sequences per SER point) and over the trained models"}
    samples = min(ls.samples_at(n) for ls in p.languages for n in p.lengths)
    return {"n_test": samples, "setting": "paper's setting",
            "method": "sequences per (sampler, L, N) point, one sampling seed; N* read off the curves "
                      "(no CI)"}


def _headline(result: dict) -> dict:
    curves = result["analysis"]["curves"]
    numbers = {f"{metric.upper()} exponent, {key}": c[f"{metric}_exponent"]
               for key, c in curves.items() if key.startswith("oracle/") for metric in ("ter", "ser")}
    for key, s in result.get("scaling", {}).items():
        for metric in ("ter", "ser"):
            name = f"{metric.upper()} exponent, {key} (mean over instances)"
            numbers[name] = s["summary"][metric]["exponent"]["mean"]
    return numbers


EXPERIMENT = Experiment(name="steps-vs-length", presets=PRESETS, parts=_parts, assemble=_assemble,
                        report=report, plots=write_plots, verdict=verdict_lines, evidence=_evidence,
                        headline=_headline)
