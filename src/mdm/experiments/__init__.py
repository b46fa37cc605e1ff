"""Reproductions of the seed papers: ``mdm exp NAME --preset quick|full``.

Each experiment is a module ``mdm.experiments.<module>`` exposing
``run(preset: str, out_dir: pathlib.Path, seed: int = 0) -> dict`` that writes
``result.json``, ``report.md`` and PNG plots into ``out_dir`` and returns the result dict.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from mdm.errors import ConfigError
from mdm.registry import Registry

# experiment name -> module path (imported lazily: experiments pull in plotting and training).
# Add your own with ``EXPERIMENTS.register("my-exp", "my_package.my_exp")``.
EXPERIMENTS: Registry[str] = Registry("experiment", ConfigError, entries={
    "steps-vs-length": "mdm.experiments.steps_vs_length",
    "eb-sampler": "mdm.experiments.eb_sampler",
    "energy-schedules": "mdm.experiments.energy_schedules",
    "variance": "mdm.experiments.variance",
    "hf-samplers": "mdm.experiments.hf_samplers",
    "remdm": "mdm.experiments.remdm",
    "any-process": "mdm.experiments.any_process",
    "decoding": "mdm.experiments.decoding",
    "learned-order": "mdm.experiments.learned_order",
})

PRESETS = ("quick", "full")


def available() -> list[str]:
    """Names whose module is importable in this installation."""
    return [name for name, module in EXPERIMENTS.items() if importlib.util.find_spec(module) is not None]


def get(name: str) -> ModuleType:
    """The experiment module for ``name`` (raises ConfigError for an unknown name)."""
    module = EXPERIMENTS.get(name)
    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"experiment {name!r} needs module {module}, which is not installed")
    return importlib.import_module(module)


def parts(name: str, preset: str) -> tuple[str, ...] | None:
    """The parts ``run(name, preset, parts=...)`` can select, or None if the experiment has none."""
    module = get(name)
    return module.parts(preset) if hasattr(module, "parts") else None


def run(name: str, preset: str = "quick", out_dir=None, seed: int = 0, parts=None) -> dict:
    """Run experiment ``name``; ``parts`` (names, see :func:`parts`) runs only those parts."""
    from pathlib import Path

    from mdm.experiments.common import select_parts

    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    module = get(name)  # validates the name before anything is written
    if parts is not None:
        if not hasattr(module, "parts"):
            raise ConfigError(f"experiment {name!r} has no parts to select; run it without --parts")
        parts = select_parts(module.parts(preset), parts)  # before any folder is made
    out = Path(out_dir) if out_dir is not None else Path("runs") / "exp" / name / preset
    out.mkdir(parents=True, exist_ok=True)
    if parts is None:
        return module.run(preset, out, seed=seed)
    return module.run(preset, out, seed=seed, parts=parts)
