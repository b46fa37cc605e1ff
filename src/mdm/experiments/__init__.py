"""Reproductions of the seed papers on one runner: ``mdm exp NAME --preset quick|full --seeds 0-9``.

Each experiment is an :class:`~mdm.experiments.runner.Experiment` (presets, parts, assemble, report,
plots), declared as ``EXPERIMENT`` in its sub-package; :mod:`mdm.experiments.runner` validates,
runs, caches, resumes and writes ``result.json``, ``report.md`` and PNGs.  Register your own::

    from mdm.experiments import EXPERIMENTS
    EXPERIMENTS.register("my-exp", my_experiment)          # an Experiment
    EXPERIMENTS.register("my-exp", "my_package.my_exp")    # or a module defining EXPERIMENT
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from mdm.errors import ConfigError
from mdm.experiments import runner
from mdm.experiments.report import BOX, evidence
from mdm.experiments.runner import Experiment, plan
from mdm.registry import Registry

__all__ = ["EXPERIMENTS", "PRESETS", "Experiment", "available", "evidence_box", "get", "parts", "run",
           "verdict_lines"]

# experiment name -> Experiment, or the module that defines it as EXPERIMENT (imported lazily:
# experiments pull in plotting and training).
EXPERIMENTS: Registry[str | Experiment] = Registry("experiment", ConfigError, entries={
    "steps-vs-length": "mdm.experiments.steps_vs_length",
    "eb-sampler": "mdm.experiments.eb_sampler",
    "energy-schedules": "mdm.experiments.energy_schedules",
    "variance": "mdm.experiments.variance",
    "hf-samplers": "mdm.experiments.hf_samplers",
    "remdm": "mdm.experiments.remdm",
    "any-process": "mdm.experiments.any_process",
    "decoding": "mdm.experiments.decoding",
    "learned-order": "mdm.experiments.learned_order",
    "rl": "mdm.experiments.rl",
})

PRESETS = ("quick", "full")


def _installed(entry) -> bool:
    return not isinstance(entry, str) or importlib.util.find_spec(entry) is not None


def available() -> list[str]:
    """Names whose experiment is importable in this installation."""
    return [name for name, entry in EXPERIMENTS.items() if _installed(entry)]


def get(name: str) -> Experiment:
    """The :class:`Experiment` for ``name``; ConfigError if unknown or not installed."""
    entry = EXPERIMENTS.get(name)
    if isinstance(entry, Experiment):
        return entry
    if not _installed(entry):
        raise ConfigError(f"experiment {name!r} needs module {entry}, which is not installed")
    experiment = getattr(importlib.import_module(entry), "EXPERIMENT", None)
    if not isinstance(experiment, Experiment):
        raise ConfigError(f"module {entry} defines no EXPERIMENT (an mdm.experiments.Experiment)")
    return experiment


def parts(name: str, preset: str) -> tuple[str, ...]:
    """The parts ``run(name, preset, parts=...)`` can select."""
    return tuple(p.name for p in plan(get(name), preset).parts)


def evidence_box(name: str, preset: str, seeds: int = 1) -> str | None:
    """The evidence box of ``mdm exp NAME --preset PRESET`` run with ``seeds`` seeds, for a results
    page, from the preset's setup alone (an experiment's ``evidence`` hook reads only its setup)."""
    ev = evidence(plan(get(name), preset, tuple(range(seeds))), {})
    return None if ev is None else BOX.format(ev["line"])


def run(name: str, preset: str = "quick", out_dir=None, seed: int | None = None, parts=None, *,
        seeds=None, resume: bool = False, progress: bool = False, overrides=()) -> dict:
    """Run experiment ``name`` for ``seeds`` (default: ``(seed,)``, seed 0); ``parts`` (names, see
    :func:`parts`) runs only those parts; ``resume`` reuses the saved parts of an earlier run in
    ``out_dir``; ``overrides`` (``"KEY=VALUE"``, ``mdm exp --set``) replace fields of the preset's
    setup (:mod:`mdm.experiments.overrides`).  Returns what ``result.json`` holds."""
    if seeds is not None and seed is not None:
        raise ConfigError("give seed or seeds, not both")
    seeds = tuple(seeds) if seeds is not None else (0 if seed is None else seed,)
    exp = get(name)  # validates the name before anything is written
    out = Path(out_dir) if out_dir is not None else Path("runs") / "exp" / name / preset
    return runner.run(exp, preset, out, seeds=seeds, parts=parts, resume=resume, progress=progress,
                      overrides=overrides)


def verdict_lines(name: str, result: dict) -> list[str]:
    """The verdict line(s) of a finished run of ``name`` (``mdm exp`` prints them): the experiment's
    ``verdict``, else its headline numbers (a pair of arms as their difference); per seed."""
    exp = get(name)
    if "by_seed" not in result:
        return _verdict(exp, result)
    return [f"seed {s}: {line}" for s, r in result["by_seed"].items() for line in _verdict(exp, r)]


def _verdict(exp: Experiment, result: dict) -> list[str]:
    if exp.verdict is not None:
        return list(exp.verdict(result))
    lines = []
    for name, value in (exp.headline(result) if exp.headline is not None else {}).items():
        if isinstance(value, (tuple, list)):
            name, value = f"{name} (difference)", None if None in value else value[0] - value[1]
        lines.append(f"{name}: {'-' if value is None else f'{value:.4g}'}")
    return lines
