"""Entropy-bounded unmasking on reasoning tasks: ``mdm exp eb-sampler``.

Ben-Hamu et al., "Accelerated Sampling from Masked Diffusion Models via Entropy Bounded Unmasking"
(arXiv 2505.24857): reveal, per forward pass, the largest proxy-ranked set of masked positions with
``sum H - max H <= gamma`` (:class:`mdm.sampling.EntropyBounded`).  Claim checked: at equal accuracy
it needs 2-3x fewer forward passes (NFE) than top-1.  Parts (``--parts NAME,...``):

* ``bound``: the bound itself on an exact HMM (:func:`mdm.eval.eb_bound.check_bound`);
* one per task (``sudoku``, ``arithmetic``, ``sudoku-hard``, ``arithmetic-padded``): train or load
  the model, sweep the samplers on validation and test (:mod:`.parts`); the equal-accuracy speed-up
  is chosen on validation, reported on test (:mod:`.selection`);
* ``eb-vs-threshold`` (issue 28; :mod:`.frontier`): the fine-grid sweeps of several trained models
  (one part ``eb-vs-threshold-model-M`` each, cached for ``--resume``) compared at matched NFE.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import partial

from mdm.experiments.eb_sampler.frontier import analyse, sweep_model
from mdm.experiments.eb_sampler.parts import bound_part, task_part, train_config
from mdm.experiments.eb_sampler.plots import plots
from mdm.experiments.eb_sampler.presets import PRESETS, Preset, TaskSetup
from mdm.experiments.eb_sampler.report import COMPARISON, evidence, headline, report, verdict
from mdm.experiments.runner import Experiment, Part

__all__ = ["EXPERIMENT", "PRESETS", "TaskSetup"]


def _task(task: TaskSetup, p: Preset, seed: int, ctx) -> dict:
    return task_part(task, p, ctx.out_dir, seed, ctx.progress)


def _sweep(model_seed: int, p: Preset, seed: int, ctx) -> dict:
    """The comparison's model trained with ``model_seed``, swept (the run's ``seed`` only seeds the
    sampling, which is greedy, and the bootstraps)."""
    return sweep_model(p.frontier, model_seed, ctx.out_dir, seed, ctx.progress, p.precision)


def _parts(p: Preset) -> list[Part]:
    """The bound, one part per task, one sweep part per model of the comparison, then its analysis;
    a trained model's part is keyed by its resolved training config."""
    parts = [Part("bound", lambda p, seed, ctx: bound_part(p.bound, seed))]
    parts += [Part(t.name, partial(_task, t), key=lambda p, t=t: train_config(t)) for t in p.tasks]
    if p.frontier is None:
        return parts
    sweeps = [f"{COMPARISON}-model-{m}" for m in p.frontier.models]
    parts += [Part(name, partial(_sweep, m), key=lambda p: train_config(p.frontier.task))
              for name, m in zip(sweeps, p.frontier.models)]
    compare = Part(COMPARISON, lambda p, seed, ctx: analyse(p.frontier, [ctx.need(s) for s in sweeps], seed))
    return [*parts, compare]


def _assemble(p: Preset, results: dict, seed: int) -> dict:
    return {"config": {"seed": seed, **asdict(p)}, "bound": results.get("bound"),
            "tasks": {t.name: results[t.name] for t in p.tasks if t.name in results},
            "eb_vs_threshold": results.get(COMPARISON)}


EXPERIMENT = Experiment(name="eb-sampler", presets=PRESETS, parts=_parts, assemble=_assemble, report=report,
                        plots=plots, verdict=verdict, evidence=evidence, threads=None, headline=headline)
