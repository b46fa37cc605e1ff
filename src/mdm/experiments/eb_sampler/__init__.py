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

from mdm.experiments.eb_sampler.frontier import analyse, sweep_model
from mdm.experiments.eb_sampler.parts import bound_part, task_part, train_config
from mdm.experiments.eb_sampler.plots import plots
from mdm.experiments.eb_sampler.presets import PRESETS, Preset, TaskSetup
from mdm.experiments.eb_sampler.report import COMPARISON, evidence, headline, report, verdict
from mdm.experiments.runner import Experiment, Part

__all__ = ["EXPERIMENT", "PRESETS", "TaskSetup"]


def _parts(p: Preset) -> list[Part]:
    """The bound, one part per task, one sweep part per model of the comparison, then its analysis.
    Each part reads only its slice of the preset (``Part.reads``); a trained model's part is also
    keyed by what its model depends on in the resolved training config (``train_config``)."""
    parts = [Part("bound", lambda bound, seed, ctx: bound_part(bound, seed), reads=lambda p: p.bound)]
    parts += [Part(t.name, lambda r, seed, ctx: task_part(*r, ctx.out_dir, seed, ctx.progress),
                   key=lambda p, t=t: train_config(t), reads=lambda p, t=t: (t, p.grid, p.precision))
              for t in p.tasks]
    if p.frontier is None:
        return parts
    # the sweep of the model trained with seed M (the run's seed only seeds the sampling, which is
    # greedy, and the bootstraps)
    sweeps = [f"{COMPARISON}-model-{m}" for m in p.frontier.models]
    parts += [Part(name, lambda r, seed, ctx, m=m: sweep_model(*r, m, ctx.out_dir, seed, ctx.progress),
                   key=lambda p: train_config(p.frontier.task),
                   reads=lambda p: (p.frontier.task, p.frontier.grid, p.precision))
              for name, m in zip(sweeps, p.frontier.models)]
    compare = Part(COMPARISON, lambda f, seed, ctx: analyse(f, [ctx.need(s) for s in sweeps], seed),
                   reads=lambda p: p.frontier, needs=tuple(sweeps))
    return [*parts, compare]


def _assemble(p: Preset, results: dict, seed: int) -> dict:
    return {"config": {"seed": seed, **asdict(p)}, "bound": results.get("bound"),
            "tasks": {t.name: results[t.name] for t in p.tasks if t.name in results},
            "eb_vs_threshold": results.get(COMPARISON)}


EXPERIMENT = Experiment(name="eb-sampler", presets=PRESETS, parts=_parts, assemble=_assemble, report=report,
                        plots=plots, verdict=verdict, evidence=evidence, threads=None, headline=headline)
