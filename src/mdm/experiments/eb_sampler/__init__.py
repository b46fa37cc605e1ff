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
from mdm.experiments.eb_sampler.parts import bound_part, part_config, task_part
from mdm.experiments.eb_sampler.presets import PRESETS, Preset, TaskSetup
from mdm.experiments.eb_sampler.selection import TOLERANCE
from mdm.experiments.runner import Experiment, Part

__all__ = ["EXPERIMENT", "PRESETS", "TaskSetup"]

COMPARISON = "eb-vs-threshold"


def _parts(p: Preset) -> list[Part]:
    parts = [Part("bound", lambda p, seed, ctx: bound_part(p.bound, seed))]
    parts += [Part(t.name, _task_runner(t.name), key=_train_key(lambda p, name=t.name: _task(p, name)))
              for t in p.tasks]
    if p.frontier is None:
        return parts
    sweeps = [f"{COMPARISON}-model-{m}" for m in p.frontier.models]
    parts += [Part(name, _model_runner(m), key=_train_key(lambda p: p.frontier.task))
              for name, m in zip(sweeps, p.frontier.models)]
    compare = Part(COMPARISON, lambda p, seed, ctx: analyse(p.frontier, [ctx.need(s) for s in sweeps], seed))
    return [*parts, compare]


def _task(p: Preset, name: str) -> TaskSetup:
    return next(t for t in p.tasks if t.name == name)


def _task_runner(name: str):
    return lambda p, seed, ctx: task_part(_task(p, name), p, ctx.out_dir, seed, ctx.progress)


def _model_runner(model_seed: int):
    """The sweep of the comparison's model trained with ``model_seed`` (the run's seed only seeds
    the sampling, which is greedy, and the bootstraps)."""
    return lambda p, seed, ctx: sweep_model(p.frontier, model_seed, ctx.out_dir, seed, ctx.progress,
                                            p.precision)


def _train_key(task_of):
    return lambda p: part_config(task_of(p), p, 0)["train"]  # the resolved training config


def _assemble(p: Preset, results: dict, seed: int) -> dict:
    return {"config": {"seed": seed, **asdict(p)}, "bound": results.get("bound"),
            "tasks": {t.name: results[t.name] for t in p.tasks if t.name in results},
            "eb_vs_threshold": results.get(COMPARISON)}


def _report(result: dict, p: Preset) -> str:
    from mdm.experiments.eb_sampler.report import report

    return report(result)


def _plots(result: dict, out_dir) -> list[str]:
    from mdm.experiments.eb_sampler.plots import plot_bound, plot_frontier, plot_task

    names = [plot_bound(result["bound"], out_dir / "bound.png").name] if result.get("bound") else []
    if result.get("eb_vs_threshold"):
        names.append(plot_frontier(result["eb_vs_threshold"], out_dir / f"{COMPARISON}.png").name)
    return names + [plot_task(part, out_dir / f"{name}.png", name).name
                    for name, part in result["tasks"].items()]


def _eb_speedup(part: dict) -> dict | None:
    """EB's speed-up without blocks, with the stop rule (where the task has one)."""
    return next((s for s in part["speedups"] if s["family"] == "EB" and s["block_size"] is None
                 and s["stop"]), None)


def _verdict(result: dict) -> list[str]:
    lines = []
    for name, s in ((name, _eb_speedup(part)) for name, part in result["tasks"].items()):
        if s is not None and s["best"]:
            lines.append(f"{name}: EB at equal accuracy (chosen on validation): {s['speedup']:.2f}x "
                         "fewer NFE than top-1 on test")
        elif s is not None:
            lines.append(f"{name}: no EB setting within {100 * TOLERANCE:g} pt of top-1 on validation")
    r = result.get("eb_vs_threshold") or {"matched": {}}
    return lines + [f"{COMPARISON}: {fam} - threshold at {c:g} NFE: {100 * d['mean']:+.1f} pt "
                    f"[{100 * d['lo']:.1f}, {100 * d['hi']:.1f}]" for fam, ds in r["matched"].items()
                    for c, d in zip(r["nfe_grid"], ds) if d is not None]


def _evidence(result: dict, p: Preset) -> dict:
    if result.get("eb_vs_threshold") and not result.get("tasks"):  # the comparison alone
        return {"n_test": p.frontier.task.n_eval, "level": 0.95, "setting": "our proxy",
                "seeds_per_run": len(p.frontier.models),
                "method": "two-stage percentile bootstrap (models, then test puzzles), paired for "
                          "EB - Threshold"}
    return {"n_test": min(t.n_eval for t in p.tasks), "level": 0.95, "setting": "our proxy",
            "method": "percentile bootstrap CI (10,000 resamples) over test prompts (smallest task "
                      "shown), paired for the speed-up's accuracy difference"}


def _headline(result: dict) -> dict:
    out = {}
    for name, s in ((name, _eb_speedup(part)) for name, part in result["tasks"].items()):
        if s is not None:
            out[f"{name}: top-1 test accuracy"] = s["reference"]["accuracy"]
            out[f"{name}: EB NFE speed-up at equal accuracy"] = s["speedup"]
            if s["best"] is not None:  # the chosen EB setting vs top-1 on test, paired by seed
                out[f"{name}: EB (chosen) minus top-1 test accuracy"] = (s["best"]["accuracy"],
                                                                         s["reference"]["accuracy"])
    return out


EXPERIMENT = Experiment(name="eb-sampler", presets=PRESETS, parts=_parts, assemble=_assemble, report=_report,
                        plots=_plots, verdict=_verdict, evidence=_evidence, threads=None, headline=_headline)
