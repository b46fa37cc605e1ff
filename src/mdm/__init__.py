"""mdm: masked diffusion models of discrete sequences.

Public entry points (see docs/ and the shared DESIGN contract):

* ``mdm.sample``       -- the sampling engine (every unmasker in ``mdm.sampling``)
* ``mdm.elbo``         -- Monte-Carlo negative ELBO in nats per sequence
* ``mdm.load``         -- load a checkpoint or an exported folder -> (model, tokenizer) (mdm.loading)
* ``mdm.schedules``, ``mdm.languages``, ``mdm.models``, ``mdm.train``, ``mdm.eval``
* ``mdm.MDMError``     -- base class of every input error
"""

from __future__ import annotations

import importlib

from mdm.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    DependencyError,
    LanguageError,
    MDMError,
    ModelConfigError,
    SamplingError,
    ScheduleError,
    TokenError,
)

__version__ = "0.1.0"

# Attributes resolved on first use so `import mdm` stays light and cycle-free.
_LAZY = {
    "sample": ("mdm.sampling", "sample"),
    "elbo": ("mdm.losses", "elbo"),
    "load": ("mdm.loading", "load"),
}
_SUBMODULES = {
    "schedules", "process", "losses", "variance", "order", "models", "sampling", "languages",
    "tasks", "tokenizers", "train", "eval", "experiments", "cli", "protocol",
}

__all__ = [
    "MDMError", "ScheduleError", "TokenError", "SamplingError", "LanguageError", "ModelConfigError",
    "ConfigError", "CheckpointError", "DataError", "DependencyError",
    "sample", "elbo", "load", "__version__",
]


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"mdm.{name}")
    raise AttributeError(f"module 'mdm' has no attribute {name!r}")
